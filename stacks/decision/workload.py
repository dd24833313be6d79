"""A profile with its decision: the one thing target builders and templates take."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stacks.decision.option import Decision
from stacks.pricebook import Settings
from stacks.profile import Profile, Target


@dataclass(frozen=True)
class Workload:
    profile: Profile
    decision: Decision
    file: Path
    settings: Settings

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def target(self) -> Target:
        return self.decision.target
