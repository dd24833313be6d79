"""The interface every target implements for the decision; the decision loops over them.

The decision calls, for each registered target and in the registry's order:

    sizing = model.size(profile, settings)
    bill = model.bill(profile, sizing, settings)
    alternatives = model.alternatives(profile, sizing, settings)   # e.g. the other CPU architecture
    model.limits(facts)   # hard limits and the SLA: a fired `limit.*` rules the target out,
                          # a fired `sla.*` misses the SLA (infeasible; a warning when set explicitly)
    model.rules(facts)    # explain the sizing; may append warnings to facts.warnings
    model.when_chosen(option)   # warnings that matter only once it is the workload's target

Every target's `limits` run first, then the rules shared by all targets (stacks/decision/
traffic.py), then every target's `rules`: a plan reads limits, then traffic, then sizing.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from stacks.decision.cost import Cost
from stacks.decision.option import Facts, Option
from stacks.decision.reason import Reason
from stacks.pricebook import Settings
from stacks.profile import Profile, Target


class TargetModel(Protocol):
    target: Target  # the profile's `target:` value, and the key of its Option
    label: str  # the platform its hard limits belong to, in sentences: "Lambda ruled out by gpu"
    tie_rank: int  # on equal bills the lower rank wins

    def size(self, p: Profile, settings: Settings) -> BaseModel: ...

    def bill(self, p: Profile, sizing: Any, settings: Settings) -> Cost: ...

    def variant(self, sizing: Any) -> str | None: ...

    def alternatives(self, p: Profile, sizing: Any, settings: Settings) -> dict[str, Cost]: ...

    def limits(self, f: Facts[Any]) -> list[Reason]: ...

    def rules(self, f: Facts[Any]) -> list[Reason]: ...

    def when_chosen(self, option: Option) -> list[str]: ...
