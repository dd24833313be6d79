"""`switchyard doctor`: is this machine ready to deploy what the profiles decide?

It checks the tools each target's deploy runs (the pinned CDK CLI and Node.js, docker buildx or
podman, the aws CLI and whose credentials it has, the Pulumi CLI and its plugins, kubectl and the
cluster's version) and the account's Lambda quota against the plan's reservations, prints each
with ok/missing/warn and how to get what is missing, and exits 1 when something a target in use
needs is missing. A target no profile uses is checked and shown, never required.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from stacks.commands.doctor_checks import (
    Check,
    Reservations,
    Status,
    Tools,
    aws_identity,
    builder,
    kubernetes_cluster,
    lambda_quota,
    mirror_tools,
    pinned_node_tools,
    pulumi_cli,
    stale_compile_cache,
)
from stacks.k8s.settings import ClusterSettings, from_stack_file
from stacks.targets.serverless import serverless_sizing
from stacks.weights import local_weights_dir
from stacks.workloads import DEFAULT_PROFILES, Batch, load_all

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
TARGETS = ("serverless", "kubernetes")
# The Pulumi resource plugins the program's SDKs load, by SDK distribution.
PLUGIN_SDKS = {"kubernetes": "pulumi-kubernetes", "random": "pulumi-random"}


def project_root() -> Path:
    """The checkout whose package.json pins the Node tools: the working directory's, else this package's."""
    cwd = Path.cwd()
    return cwd if (cwd / "package.json").is_file() else PACKAGE_ROOT


def node_pins(root: Path) -> dict[str, str]:
    try:
        doc = json.loads((root / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in (doc.get("devDependencies") or {}).items()}


def plugin_versions() -> dict[str, str]:
    out = {}
    for plugin, dist in PLUGIN_SDKS.items():
        try:
            out[plugin] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def reservations(batch: Batch) -> list[Reservations]:
    by_region: dict[str, list] = defaultdict(list)
    for w in batch.by_target("serverless"):
        by_region[w.settings.platform.region].append(w)
    return [
        Reservations(
            region=region,
            by_workload={w.name: serverless_sizing(w).reserved_concurrency for w in group},
            assumed_quota=min(w.settings.platform.lambda_account_concurrency for w in group),
            unreserved_floor=max(w.settings.platform.lambda_unreserved_concurrency for w in group),
        )
        for region, group in sorted(by_region.items())
    ]


def diagnose(
    batch: Batch,
    *,
    settings: ClusterSettings,
    env: dict[str, str],
    root: Path,
) -> list[Check]:
    tools = Tools(env)
    used = {t for t in TARGETS if batch.by_target(t)}
    checks = pinned_node_tools(root, tools, node_pins(root))
    checks.append(builder(tools, TARGETS))
    # publish uploads local weights of kubernetes workloads with `aws s3 sync`.
    uploads = any(local_weights_dir(w) is not None for w in batch.by_target("kubernetes"))
    aws_targets = ("serverless", "kubernetes") if uploads else ("serverless",)
    cli, credentials = aws_identity(tools, aws_targets)
    checks += [cli, credentials]
    if credentials.status is Status.ok:
        checks += [lambda_quota(tools, plan) for plan in reservations(batch)]
    checks += pulumi_cli(tools, plugin_versions())
    checks += kubernetes_cluster(tools, settings.kube_context, settings.min_kubernetes_version)
    oci = any(r and r.startswith("oci://") for r in (settings.gpu_operator_chart_repo, settings.keda_chart_repo))
    checks += mirror_tools(tools, images=settings.image_mirror is not None, charts=oci)
    checks += stale_compile_cache(env)
    for check in checks:
        check.facts.setdefault("required", bool(used & set(check.targets)))
    return checks


def required(check: Check) -> bool:
    return bool(check.facts.get("required"))


def render(batch: Batch, checks: list[Check]) -> str:
    uses = [f"{t} ({', '.join(w.name for w in batch.by_target(t))})" for t in TARGETS if batch.by_target(t)]
    out = [f"deploy targets in use: {'; '.join(uses) or 'none'}", ""]
    width = max(len(c.name) for c in checks)
    for c in checks:
        needless = c.targets and not required(c) and c.status is not Status.ok  # a check of no target: none
        note = f"  (not needed: no {'/'.join(c.targets)} workload)" if needless else ""
        out.append(f"{c.status.value:<8} {c.name:<{width}}  {c.detail}{note}")
        if c.fix and c.status in (Status.missing, Status.warn):
            out.append(f"{'':<8} {'':<{width}}  fix: {c.fix}")
    blocking = [c.name for c in checks if required(c) and c.status is Status.missing]
    out.append("")
    if blocking:
        out.append(f"not ready: {len(blocking)} missing that the targets in use need: {', '.join(blocking)}")
    else:
        warned = sum(c.status is Status.warn for c in checks if required(c))
        out.append("ready to deploy" + (f" ({warned} warning(s) above)" if warned else ""))
    return "\n".join(out)


def to_json(batch: Batch, checks: list[Check]) -> dict[str, object]:
    return {
        "targets": {t: [w.name for w in batch.by_target(t)] for t in TARGETS},
        "ready": not any(required(c) and c.status is Status.missing for c in checks),
        "checks": [
            {
                "name": c.name,
                "status": c.status.value,
                "required": required(c),
                "detail": c.detail,
                "fix": c.fix or None,
                "targets": list(c.targets),
                "facts": {k: v for k, v in c.facts.items() if k != "required"},
            }
            for c in checks
        ],
        "profile_errors": [{"file": str(f.file), "message": str(f.error)} for f in batch.failures],
    }


def run(
    paths: list[Path],
    *,
    pulumi_stack: str | None = None,
    as_json: bool = False,
    env: dict[str, str] | None = None,
    root: Path | None = None,
) -> int:
    batch = load_all(paths or [DEFAULT_PROFILES])
    settings = from_stack_file(f"Pulumi.{pulumi_stack}.yaml") if pulumi_stack else ClusterSettings()
    checks = diagnose(
        batch, settings=settings, env=dict(os.environ if env is None else env), root=root or project_root()
    )
    if as_json:
        print(json.dumps(to_json(batch, checks), indent=2))
    else:
        print(render(batch, checks))
        for f in batch.failures:
            print(f"warning: {f.file}: not counted (invalid): {str(f.error).splitlines()[0]}", file=sys.stderr)
    return 1 if any(required(c) and c.status is Status.missing for c in checks) else 0
