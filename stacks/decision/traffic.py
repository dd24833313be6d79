"""Rules shared by every target: the traffic's shape, stated once with its numbers.

They explain the comparison rather than rule a target out: pay-per-use fits spiky traffic and
loses to held capacity when the load is sustained.
"""

from __future__ import annotations

from collections.abc import Callable

from stacks.decision.reason import Reason
from stacks.pricebook import Settings
from stacks.profile import Profile

SharedRule = Callable[[Profile, Settings, float], list[Reason]]


def traffic_utilization(p: Profile, settings: Settings, utilization: float) -> list[Reason]:
    u, ceiling = p.utilization, settings.platform.serverless_utilization_ceiling
    return [
        Reason(
            rule="traffic.utilization",
            fired=False,
            detail=f"sustained utilization {utilization:.1%} (avg {u.avg_rps:g} rps x {u.active_hours_per_day:g} h / "
            f"peak {u.peak_rps:g} rps x 24 h); serverless usually fits below {ceiling:.0%}",
        )
    ]


def traffic_hours(p: Profile, settings: Settings, utilization: float) -> list[Reason]:
    u = p.utilization
    return [
        Reason(
            rule="traffic.hours",
            fired=False,
            detail=f"active {u.active_hours_per_day:g} h/day; per-second billing loses to reserved capacity beyond "
            f"~{settings.platform.serverless_break_even_hours_per_day:g} h/day",
        )
    ]


SHARED_RULES: list[SharedRule] = [traffic_utilization, traffic_hours]
