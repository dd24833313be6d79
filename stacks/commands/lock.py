"""The plan lock: what the last reviewed plan decided, so a change shows up as a diff in review.

profiles/plan.lock.json holds, per workload, the target, the key sizing figures and the monthly
cost of both options. `switchyard plan` compares against it and, for a target move, prints the
runbook to move the workload without downtime.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.decide import Workload
from stacks.errors import SwitchyardError

LOCK_FILE = "plan.lock.json"
LOCK_VERSION = 1


def lock_path(paths: list[Path]) -> Path:
    first = paths[0] if paths else Path("profiles")
    return (first if first.is_dir() else first.parent) / LOCK_FILE


def entry(w: Workload) -> dict[str, Any]:
    d = w.decision
    s, k = d.serverless, d.kubernetes
    return {
        "target": d.target.value,
        "monthly_cost_usd": {
            "serverless": round(d.serverless_cost.total, 2),
            "kubernetes": round(d.kubernetes_cost.total, 2),
        },
        "sizing": {
            "serverless": {
                "memory_mb": s.memory_mb,
                "architecture": s.architecture,
                "timeout_s": s.timeout_s,
                "reserved_concurrency": s.reserved_concurrency,
                "provisioned_min": s.pc_min,
                "provisioned_max": s.pc_max,
                "queue_max_concurrency": s.queue_max_concurrency,
            },
            "kubernetes": {
                "min_replicas": k.min_replicas,
                "max_replicas": k.max_replicas,
                "gpu_type": k.gpu_type,
                "gpus_per_replica": k.gpus_per_replica,
                "cpu_millicores": k.cpu_millicores,
                "memory_mb": k.memory_mb,
            },
        },
    }


def render(workloads: list[Workload]) -> str:
    doc = {"version": LOCK_VERSION, "workloads": {w.name: entry(w) for w in sorted(workloads, key=lambda w: w.name)}}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def write(path: Path, workloads: list[Workload]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render(workloads), encoding="utf-8")
    tmp.replace(path)


def read(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SwitchyardError(
            f"{path}: not valid JSON ({exc}); regenerate it with `switchyard plan --write-lock`"
        ) from None
    if not isinstance(doc, dict) or doc.get("version") != LOCK_VERSION or not isinstance(doc.get("workloads"), dict):
        raise SwitchyardError(
            f"{path}: not a version {LOCK_VERSION} plan lock; regenerate it with `switchyard plan --write-lock`"
        )
    return doc["workloads"]


@dataclass
class Change:
    name: str
    kind: str  # added | removed | target | sizing | cost
    detail: str
    old_target: str | None = None
    new_target: str | None = None
    lines: list[str] = field(default_factory=list)


def diff(locked: dict[str, Any], workloads: list[Workload], *, complete: bool = True) -> list[Change]:
    """Changes from the lock; `complete` is False when only some profiles were planned (no removals then)."""
    changes: list[Change] = []
    current = {w.name: entry(w) for w in workloads}
    for name in sorted(set(locked) - set(current)) if complete else []:
        changes.append(
            Change(
                name, "removed", f"no longer planned (was {locked[name]['target']})", old_target=locked[name]["target"]
            )
        )
    for name in sorted(current):
        new = current[name]
        old = locked.get(name)
        if old is None:
            changes.append(Change(name, "added", f"new workload -> {new['target']}", new_target=new["target"]))
            continue
        if old["target"] != new["target"]:
            changes.append(
                Change(
                    name,
                    "target",
                    f"target {old['target']} -> {new['target']}",
                    old_target=old["target"],
                    new_target=new["target"],
                )
            )
        target = new["target"]
        old_size, new_size = old["sizing"].get(target, {}), new["sizing"][target]
        moved = [f"{k} {old_size.get(k)} -> {v}" for k, v in new_size.items() if old_size.get(k) != v]
        if moved:
            changes.append(Change(name, "sizing", f"{target} sizing: " + ", ".join(moved)))
        before, after = old["monthly_cost_usd"].get(target), new["monthly_cost_usd"][target]
        if before is None or abs(after - before) >= 0.01:
            was = "n/a" if before is None else f"${before:,.2f}"
            changes.append(Change(name, "cost", f"{target} cost {was} -> ${after:,.2f}/month"))
    return changes


def runbook(name: str, old: str, new: str, namespace: str | None = None) -> list[str]:
    """Exact commands to move a workload without downtime: new target up, verified, traffic moved, old removed."""
    from stacks.k8s.naming import namespace_for
    from stacks.pricebook import Platform

    stack = f"Switchyard-{name}"
    ns = namespace or namespace_for(name, Platform().k8s_namespace_prefix)
    if new == "kubernetes":
        return [
            f"1. deploy the new target: pulumi up   (the program now includes {name})",
            f"2. check health: kubectl -n {ns} rollout status deployment/{name} --timeout=15m"
            f" && kubectl -n {ns} get scaledobject {name}",
            f"3. shift traffic: point callers from the {stack} FunctionUrl / QueueUrl output to"
            f" http://{name}.{ns}.svc (or your ingress), then watch {stack}'s invocations fall to zero",
            f"4. remove the old target: aws cloudformation delete-stack --stack-name {stack}"
            f" && aws cloudformation wait stack-delete-complete --stack-name {stack}"
            f"   (the CDK app no longer contains it, so `npx cdk destroy` cannot select it; retained buckets and"
            f" log groups stay)",
        ]
    return [
        f"1. deploy the new target: npx cdk deploy Switchyard-Platform {stack}",
        f"2. check health: aws cloudformation describe-stacks --stack-name {stack} --query 'Stacks[0].Outputs'"
        f" && aws cloudwatch describe-alarms --alarm-name-prefix {stack} --state-value ALARM",
        f"3. shift traffic: point callers from http://{name}.{ns}.svc to the {stack} FunctionUrl (IAM-signed)"
        f" or QueueUrl output, then watch the switchyard_requests_total rate of namespace {ns} fall to zero",
        f"4. remove the old target: pulumi up   (the program no longer includes {name}: Pulumi deletes its objects)",
    ]
