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
from stacks.pricebook import Settings
from stacks.profile import Profile

LockValue = str | int | float | bool | None


@dataclass(frozen=True)
class Builder:
    """What builds a target's workloads (imported only when a command builds: aws-cdk-lib, pulumi)."""

    tool: str  # "cdk" | "pulumi"
    module: str  # the builder's entry point
    outputs: str  # what `switchyard synth` writes for one workload (<name> stands for its name)
    deploy: str  # how a user applies it


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
