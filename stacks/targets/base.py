"""A target as the commands see it: the decision's TargetModel plus how it is built and shown.

`TargetSpec` extends stacks/decision/target.py's `TargetModel` with what sits above the decision:
the builder that synthesizes it, the one-line sizing and placement `plan` prints, the figures the
plan lock records, and limits of a whole fleet (the plan's batch) rather than of one profile.
`BaseTarget` gives the hooks most targets leave alone a default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from stacks.decision.cost import Cost
from stacks.decision.option import Option
from stacks.decision.target import TargetModel
from stacks.decision.workload import Workload
from stacks.errors import SwitchyardError
from stacks.pricebook import Platform, Settings
from stacks.profile import Profile

LockValue = str | int | float | bool | None


@dataclass(frozen=True)
class Builder:
    """What builds a target's workloads (imported only when a command builds: aws-cdk-lib, pulumi)."""

    tool: str  # "cdk" | "pulumi"
    module: str  # the builder's entry point
    outputs: str  # what `switchyard synth` writes for one workload (<name> stands for its name)
    deploy: str  # how a user applies it


@dataclass(frozen=True)
class QueueEnd:
    kind: str  # "sqs" | "redis-stream": what moving messages between two queues takes
    send: str  # where producers send
    depth: str  # a command showing what waits and what is in flight
    dead: str  # where dead letters are kept
    redrive: str  # a command putting dead letters back on this queue (its own workers retry them)
    results: str  # where callers read the result of a message sent here
    results_kept: str  # how long results stay there
    arn: str | None = None  # SQS: the queue's ARN output (a move task's destination)
    dead_arn: str | None = None  # SQS: the dead-letter queue's ARN (a move task's source)


@dataclass(frozen=True)
class MoveEnd:
    """One target's end of a move. Its AWS part (a CDK stack) and its cluster part (the Pulumi program)
    are deployed and removed apart: two targets on the same cluster namespace swap their cluster parts
    in one `pulumi up`, while the AWS parts come and go around it."""

    label: str
    health: str
    sync: str | None  # where synchronous callers send (None: this target takes no synchronous call)
    activity: str  # what falls to zero once callers have left
    queue: QueueEnd | None
    aws_deploy: str | None = None
    cluster_deploy: str | None = None
    aws_remove: str | None = None
    cluster_remove: str | None = None
    left_behind: str = ""  # what removal keeps (retained queues, buckets), to delete once unneeded
    left_behind_sync: str = ""  # what it keeps of a workload without a queue (mode sync)
    namespace: str | None = None  # the cluster namespace it owns (the Pulumi program builds one target per workload)


def generic_end(label: str, deploy: str, name: str) -> MoveEnd:
    """A target that describes no end of its own: its builder's deploy, and `switchyard outputs`."""
    return MoveEnd(
        label=label,
        aws_deploy=deploy.replace("<name>", name),
        health=f"switchyard outputs {name}   (every endpoint the deployment reports)",
        sync=f"the endpoint `switchyard outputs {name}` lists",
        activity=f"{name}'s request rate on {label}",
        queue=QueueEnd(
            kind=label,
            send=f"the queue `switchyard outputs {name}` lists",
            depth=f"the queue depth of {label} (see its section in the README)",
            dead=f"its dead letters (see the README's {label} section)",
            redrive=f"redrive as the README's {label} section says",
            results=f"the results location `switchyard outputs {name}` lists",
            results_kept="its results retention",
        ),
        aws_remove=f"remove {name} from {label} (its builder no longer contains it; README, {label})",
    )


class TargetSpec(TargetModel, Protocol):
    builder: Builder

    def describe(self, w: Workload) -> str:
        """One line of sizing for `plan`."""
        ...

    def placement(self, w: Workload) -> dict[str, object]:
        """What the workload owns there and where callers reach it (`plan --json`'s <target> key)."""
        ...

    def owns(self, w: Workload) -> str:
        """The placement as one line of `plan` text."""
        ...

    def key_figures(self, w: Workload) -> dict[str, LockValue]:
        """The sizing figures the plan lock records: a change to one shows up in review."""
        ...

    def fleet_problems(self, workloads: Iterable[Workload]) -> list[tuple[str, SwitchyardError]]:
        """(where, error) for limits of the whole batch on this target, e.g. a shared account quota."""
        ...

    def move_end(self, name: str, platform: Platform) -> MoveEnd:
        """Its end of a move to or from another target (stacks/commands/lock.py `runbook`)."""
        ...

    def unbuildable(self, w: Workload) -> SwitchyardError | None:
        """Why `synth` cannot build this workload on this target although the decision models it (None: it can)."""
        ...


class BaseTarget:
    """Defaults for the hooks a target without variants, late warnings or fleet limits leaves alone."""

    def variant(self, sizing: Any) -> str | None:
        return None

    def alternatives(self, p: Profile, sizing: Any, settings: Settings) -> dict[str, Cost]:
        return {}

    def when_chosen(self, option: Option) -> list[str]:
        return []

    def fleet_problems(self, workloads: Iterable[Workload]) -> list[tuple[str, SwitchyardError]]:
        return []

    def unbuildable(self, w: Workload) -> SwitchyardError | None:
        return None

    def move_end(self, name: str, platform: Platform) -> MoveEnd:
        """From the builder alone: `switchyard outputs` stands in for the addresses only the target knows."""
        return generic_end(self.target.value, self.builder.deploy, name)  # type: ignore[attr-defined]
