"""The plan lock: what the last reviewed plan decided, so a change shows up as a diff in review.

profiles/plan.lock.json holds, per workload, the target, the key sizing figures and the monthly
cost of both options. `switchyard plan` compares against it and, for a target move, prints the
runbook to move the workload without downtime.
"""

from __future__ import annotations

import contextlib
import json
import math
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from stacks.decision.workload import Workload
from stacks.errors import ProfileError, SwitchyardError, clip
from stacks.pricebook import Platform
from stacks.profile import Mode, Preset, Target
from stacks.profile.safe_yaml import dotted, read_text
from stacks.targets import TARGETS
from stacks.targets.base import MoveEnd, generic_end
from stacks.workloads import DEFAULT_PROFILES

LOCK_FILE = "plan.lock.json"
LOCK_VERSION = 1
LOCK_MAX_BYTES = 8 * 1024 * 1024
_REGENERATE = "regenerate it with `switchyard plan --write-lock` (then review the diff)"

LOCKABLE = tuple(t.value for t in Target if t is not Target.auto)


def _target_name(value: str) -> str:
    if value not in LOCKABLE:
        raise ValueError(f"unknown target {value!r} (one of: {', '.join(LOCKABLE)})")
    return value


TargetName = Annotated[str, AfterValidator(_target_name)]


class _Entry(BaseModel):
    """One workload in the lock: what `diff` reads. Extra keys are tolerated (older or newer writers)."""

    model_config = ConfigDict(extra="allow")

    target: TargetName
    monthly_cost_usd: dict[TargetName, float]
    sizing: dict[TargetName, dict[str, str | int | float | bool | None]]


class _Lock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    workloads: dict[str, _Entry]


def lock_path(paths: list[Path]) -> Path:
    first = paths[0] if paths else Path("profiles")
    return (first if first.is_dir() else first.parent) / LOCK_FILE


def entry(w: Workload) -> dict[str, Any]:
    d = w.decision
    return {
        "target": d.target.value,
        "monthly_cost_usd": {t.value: round(o.bill.total, 2) for t, o in d.options.items()},
        "sizing": {t.target.value: t.key_figures(w) for t in TARGETS},
    }


def render(workloads: list[Workload]) -> str:
    doc = {"version": LOCK_VERSION, "workloads": {w.name: entry(w) for w in sorted(workloads, key=lambda w: w.name)}}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def write(path: Path, workloads: list[Workload]) -> None:
    """Write the lock whole (a temporary file renamed over it), or raise a one-line error and leave nothing."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
        tmp.write_text(render(workloads), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise SwitchyardError(f"{path}: cannot write the plan lock ({exc.strerror or exc})") from exc


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def read(path: Path) -> dict[str, Any] | None:
    """The locked workloads, or None when there is no lock. A damaged lock is a clear error."""
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        text = read_text(path, limit=LOCK_MAX_BYTES, what="plan lock")
    except ProfileError as exc:
        raise SwitchyardError(f"{exc}; {_REGENERATE}") from None
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise SwitchyardError(f"{path}: not a plan lock (nested too deep); {_REGENERATE}") from None
    except ValueError as exc:
        raise SwitchyardError(f"{path}: not valid JSON ({clip(str(exc), 200)}); {_REGENERATE}") from None
    if isinstance(doc, dict) and doc.get("version") != LOCK_VERSION:
        raise SwitchyardError(
            f"{path}: not a version {LOCK_VERSION} plan lock (version {clip(repr(doc.get('version')), 40)}); {_REGENERATE}"
        )
    try:
        lock = _Lock.model_validate(doc)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = dotted(tuple(first["loc"])) or "the document"
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise SwitchyardError(
            f"{path}: not a valid plan lock: {clip(where, 120)}: {clip(first['msg'], 200)}{more}; {_REGENERATE}"
        ) from None
    workloads = {name: entry.model_dump() for name, entry in lock.workloads.items()}
    for name, entry in workloads.items():
        for value in entry["monthly_cost_usd"].values():
            if not math.isfinite(value):
                raise SwitchyardError(
                    f"{path}: not a valid plan lock: {clip(name, 80)}: a cost is not finite; {_REGENERATE}"
                )
    return workloads


@dataclass
class Change:
    name: str
    kind: str  # added | removed | target | sizing | cost
    detail: str
    old_target: str | None = None
    new_target: str | None = None
    lines: list[str] = field(default_factory=list)
    platform: Platform | None = None  # the workload's: its installation and namespace prefix name the runbook's objects
    queued: bool = True  # async or both: messages and results move too
    synchronous: bool = True  # sync or both: callers waiting on an endpoint move too
    smoke: str | None = None  # the runbook's last command (smoke_command)


def diff(locked: dict[str, Any], workloads: list[Workload], *, complete: bool = True) -> list[Change]:
    """Changes from the lock; `complete` is False when only some profiles were planned (no removals then)."""
    changes: list[Change] = []
    current = {w.name: entry(w) for w in workloads}
    by_name = {w.name: w for w in workloads}
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
            # What the move costs: the reviewed target's locked cost against the new target's cost now.
            before = old["monthly_cost_usd"].get(old["target"])
            after = new["monthly_cost_usd"][new["target"]]
            cost = (
                f"${after:,.2f}/month"
                if before is None
                else f"${before:,.2f} -> ${after:,.2f}/month, {_delta(after - before)}"
            )
            changes.append(
                Change(
                    name,
                    "target",
                    f"target {old['target']} -> {new['target']} ({cost})",
                    old_target=old["target"],
                    new_target=new["target"],
                    platform=by_name[name].settings.platform,
                    queued=by_name[name].profile.sla.mode is not Mode.sync,
                    synchronous=by_name[name].profile.sla.mode is not Mode.async_,
                    smoke=smoke_command(by_name[name]),
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


def smoke_command(w: Workload) -> str:
    """`switchyard smoke` as it finds this workload: its profiles folder unless it is the default one,
    and an input for a custom model (only the operator knows one its model accepts)."""
    words = ["switchyard", "smoke", w.name]
    folder = w.file.parent
    if folder != DEFAULT_PROFILES:
        words.append(shlex.quote(str(folder)))
    if w.profile.model.preset is not Preset.vllm:
        words.append("--input '<one input your model accepts, as JSON>'")
    return " ".join(words)


def _delta(x: float) -> str:
    return f"+${x:,.2f}" if x >= 0 else f"-${-x:,.2f}"


def _end(target: str, name: str, platform: Platform) -> MoveEnd:
    spec = next((t for t in TARGETS if t.target.value == target), None)
    if spec is None:  # a lock written by a version with a target this one lacks
        return generic_end(target, f"deploy {target}", name)
    return spec.move_end(name, platform)


def runbook(
    name: str,
    old: str,
    new: str,
    platform: Platform | None = None,
    queued: bool = True,
    synchronous: bool = True,
    smoke: str | None = None,
) -> list[str]:
    """Exact steps to move a workload between any two targets without losing a caller or a message:
    the new target up and verified, callers moved, the old queue drained (kept until empty), dead
    letters moved, results read where they were filed, the old target removed, a smoke test last.
    `queued` False (mode sync): no message to move; `synchronous` False (mode async): no caller waits
    on an endpoint, whatever endpoints the two targets offer. `smoke`: the last step's command
    (`smoke_command`; default `switchyard smoke <name>`)."""
    platform = platform or Platform()
    o, n = _end(old, name, platform), _end(new, name, platform)
    if not queued:  # mode sync: no queue on either side, no message to move, none left behind
        o, n = replace(o, queue=None, left_behind=o.left_behind_sync), replace(n, queue=None)
    if not synchronous:  # mode async: only producers and result readers move
        o, n = replace(o, sync=None), replace(n, sync=None)
    # One Pulumi program builds one target per workload: two targets on the same namespace swap their
    # cluster parts in one `pulumi up`, after the old one's queue is drained.
    same_cluster = o.namespace is not None and o.namespace == n.namespace
    steps: list[str] = []
    move_step = "{move producers step}"  # a later step's number, filled in once every step is known

    def step(text: str) -> None:
        steps.append(f"{len(steps) + 1}. {text}")

    if n.aws_deploy:
        step(f"deploy the new target's AWS part: {n.aws_deploy}")
    if n.cluster_deploy and not same_cluster:
        step(f"deploy the new target's cluster part: {n.cluster_deploy}")
    if not same_cluster:
        step(f"check health: {n.health}")
    if o.sync:
        if n.sync:
            step(f"move synchronous callers: from {o.sync} to {n.sync}, then watch {o.activity} fall to zero")
        else:
            step(
                f"{new} takes no synchronous call: callers that waited on {o.sync} switch to the queue contract "
                f"(send {{id, inputs}} to {n.queue.send if n.queue else 'its queue'}, read "
                f"{n.queue.results if n.queue else 'its results'})"
            )
    relay_after_switch = same_cluster and not n.aws_deploy  # the new queue only exists once the cluster part runs
    if o.queue and n.queue:
        if relay_after_switch:
            step(
                f"producers keep sending to {o.queue.send} until step {move_step}; let {old}'s workers work it meanwhile"
            )
        else:
            step(
                f"move producers: from {o.queue.send} to {n.queue.send}; new messages wait there "
                f"until {new}'s workers take them"
            )
            step(f"keep {old} and its queue until the queue is empty: {o.queue.depth}")
        if o.queue.kind == n.queue.kind == "sqs" and o.queue.dead_arn and n.queue.arn:
            dead = f"aws sqs start-message-move-task --source-arn {o.queue.dead_arn} --destination-arn {n.queue.arn}"
        else:
            dead = f"{o.queue.redrive}; or export them ({o.queue.dead}) and send each to {n.queue.send}"
        step(f"dead letters: inspect {o.queue.dead}, then {dead}")
        step(
            f"results: messages sent before the move have theirs at {o.queue.results} (kept {o.queue.results_kept}); "
            f"after it at {n.queue.results} (kept {n.queue.results_kept}). Callers read each result where its "
            "message was sent"
        )
    elif o.queue:
        step(f"keep {old} and its queue until the queue is empty: {o.queue.depth}")
    # The old target's leftovers on the cluster go with the swap: export them before it.
    cluster_leftovers = same_cluster and bool(o.left_behind) and not o.aws_remove
    if same_cluster:
        before = f"{o.left_behind}; " if cluster_leftovers else ""
        step(
            f"swap the cluster part (one namespace, {o.namespace}): {before}kubectl delete namespace {o.namespace} "
            f"--wait && pulumi up --refresh   ({new}'s objects replace {old}'s)"
        )
        step(f"check health: {n.health}")
        if relay_after_switch and o.queue and n.queue:
            step(f"move producers: from {o.queue.send} to {n.queue.send}")
            step(
                f"relay what is left on {old}'s queue until {o.queue.depth} shows 0: receive each message, send its "
                f"body to {n.queue.send}, then delete it (its result is filed under the relay's caller: tell the "
                "callers concerned)"
            )
    else:
        if o.cluster_remove:
            step(f"remove the old target's cluster part: {o.cluster_remove}")
    if o.aws_remove:
        step(f"remove the old target's AWS part: {o.aws_remove}")
    if o.left_behind and not cluster_leftovers:
        step(f"left behind: {o.left_behind}")
    step(f"smoke test the new target as a caller would: {smoke or f'switchyard smoke {name}'}")
    moved = next((s.split(".", 1)[0] for s in steps if ". move producers:" in s), None)
    return [s.replace(move_step, moved) if moved else s for s in steps]
