"""What the decision produces: each target's Option (sizing, bill, feasibility, reasons) and the
Decision that holds them, keyed by target, with the target chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, SerializeAsAny

from stacks.decision.cost import Cost
from stacks.decision.reason import Reason
from stacks.decision.simulated import Simulated
from stacks.pricebook import Platform, Settings
from stacks.profile import Profile, Target

S = TypeVar("S", bound=BaseModel)


@dataclass
class Facts(Generic[S]):
    """What one target's rules read: the profile, the settings in force, that target's sizing and bill.

    `warnings` is shared by every target's rules, in the order they run; a rule appends to it.
    `refusals` are this target's own: (field path, what is wrong, what is allowed) that make the plan
    refuse the workload once this target is chosen (the first, located at its profile line).
    """

    p: Profile
    settings: Settings
    sizing: S
    bill: Cost
    utilization: float  # sustained: average load over the day as a share of the peak
    warnings: list[str]
    refusals: list[tuple[tuple[str, ...], str, str]] = field(default_factory=list)

    @property
    def platform(self) -> Platform:
        return self.settings.platform


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Option(_Frozen):
    """One target's verdict on one workload."""

    target: Target
    sizing: SerializeAsAny[BaseModel]  # the target's own sizing model (e.g. ServerlessSizing)
    bill: Cost
    variant: str | None = None  # what the bill assumes where a target has a choice, e.g. the CPU architecture
    alternatives: dict[str, Cost] = {}  # the bill under each other variant, e.g. {"arm64": ...}
    feasible: bool  # no hard limit hit and the SLA met
    # the fired limits: `limit.*` rule it out, `sla.*` miss the SLA, `platform.*` the platform does not offer it
    blockers: list[Reason] = []
    reasons: list[Reason]  # this target's reasons, in the order its rules ran
    simulated: Simulated | None = None  # what callers live through, once the simulation step ran

    @property
    def hard_limits(self) -> list[Reason]:
        return [r for r in self.blockers if r.rule.startswith("limit.")]

    @property
    def sla_misses(self) -> list[Reason]:
        return [r for r in self.blockers if r.rule.startswith("sla.")]

    @property
    def not_offered(self) -> list[Reason]:
        return [r for r in self.blockers if r.rule.startswith("platform.")]


class Decision(_Frozen):
    requested: Target
    target: Target  # one of the options, never auto
    options: dict[Target, Option]  # every registered target, in the registry's order
    reasons: list[Reason]  # every reason in the order the rules ran (the targets' and the shared ones)
    warnings: list[str]
    utilization: float  # sustained: average load over the day as a share of the peak

    def option(self, target: Target) -> Option:
        return self.options[target]

    def sizing(self, target: Target, kind: type[S]) -> S:
        """A target's sizing as its own type (each target offers a shorthand, e.g. serverless_sizing(w))."""
        sizing = self.options[target].sizing
        if not isinstance(sizing, kind):
            raise TypeError(f"{target.value} sizing is {type(sizing).__name__}, not {kind.__name__}")
        return sizing

    @property
    def chosen(self) -> Option:
        return self.options[self.target]

    def fired(self) -> list[Reason]:
        return [r for r in self.reasons if r.fired]
