"""The decision: where a workload belongs, and why, with the numbers.

Only this module (with decision_rules.py, cost.py, sizing.py and capacity.py under it) knows
limits and thresholds. It sizes both targets, costs both, runs the rule table, and turns a
validated profile into a frozen Workload that the target builders consume without re-deciding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from stacks.cost import Cost, kubernetes_cost, serverless_cost
from stacks.decision_rules import (
    LAMBDA_MAX_IMAGE_GB,
    LAMBDA_MAX_MEMORY_MB,
    LAMBDA_MAX_TIMEOUT_S,
    RULES,
    Facts,
    Reason,
    usd,
)
from stacks.errors import DecisionError
from stacks.loader import LoadedProfile
from stacks.pricebook import Settings
from stacks.profile import Profile, Target
from stacks.rules_serverless import serverless_warnings
from stacks.sizing import KubernetesSizing, ServerlessSizing, kubernetes, serverless

__all__ = [
    "LAMBDA_MAX_IMAGE_GB",
    "LAMBDA_MAX_MEMORY_MB",
    "LAMBDA_MAX_TIMEOUT_S",
    "Decision",
    "Reason",
    "Workload",
    "decide",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Decision(_Frozen):
    requested: Target
    target: Target  # serverless | kubernetes, never auto
    serverless_feasible: bool
    reasons: list[Reason]
    warnings: list[str]
    utilization: float  # sustained: average load over the day as a share of the peak
    serverless: ServerlessSizing
    kubernetes: KubernetesSizing
    serverless_cost: Cost
    serverless_cost_other_arch: Cost
    kubernetes_cost: Cost

    @property
    def chosen_cost(self) -> Cost:
        return self.serverless_cost if self.target is Target.serverless else self.kubernetes_cost

    def fired(self) -> list[Reason]:
        return [r for r in self.reasons if r.fired]


@dataclass(frozen=True)
class Workload:
    """A profile with its decision: the one thing target builders and templates take."""

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


def facts(loaded: LoadedProfile) -> Facts:
    """Size and cost both targets: what every rule reads."""
    p, settings = loaded.profile, loaded.settings
    prices, platform = settings.prices, settings.platform
    u = p.utilization
    s = serverless(p, platform, prices)
    k = kubernetes(p, platform)
    other_arch = "arm64" if s.architecture == "x86_64" else "x86_64"
    return Facts(
        p=p,
        settings=settings,
        s=s,
        k=k,
        s_cost=serverless_cost(p, s, prices, platform),
        s_cost_other=serverless_cost(p, s, prices, platform, architecture=other_arch),
        k_cost=kubernetes_cost(p, k, prices, platform),
        utilization=(u.avg_rps * u.active_hours_per_day) / (u.peak_rps * 24) if u.peak_rps else 0.0,
    )


def decide(loaded: LoadedProfile) -> Workload:
    p = loaded.profile
    f = facts(loaded)
    reasons: list[Reason] = []
    for rule in RULES:
        reasons += rule(f)
    limits_hit = [r for r in reasons if r.rule.startswith("limit.") and r.fired]
    sla_misses = [r.rule.removeprefix("sla.") for r in reasons if r.rule == "sla.latency" and r.fired]
    warnings = f.warnings

    feasible = not limits_hit and not sla_misses
    s_total, k_total = f.s_cost.total, f.k_cost.total
    # Ties go to kubernetes: serverless must be strictly cheaper.
    cheaper = Target.serverless if s_total < k_total else Target.kubernetes
    reasons.append(
        Reason(
            rule="cost.compare",
            fired=feasible,
            detail=f"serverless {usd(s_total)}/month ({f.s.architecture}; {f.other_arch} {usd(f.s_cost_other.total)}) "
            f"vs kubernetes {usd(k_total)}/month: {cheaper.value} is cheaper",
        )
    )

    if p.target is Target.auto:
        target = cheaper if feasible else Target.kubernetes
    else:
        target = p.target
        if target is Target.serverless and limits_hit:
            line = loaded.line_of("target")
            raise DecisionError(
                f"{loaded.file}:{line}" if line else loaded.file,
                "target: serverless is impossible: "
                + "; ".join(r.detail for r in limits_hit)
                + ". Allowed: target: kubernetes or auto, or change the profile.",
            )
        if target is Target.serverless and sla_misses:
            warnings.append(
                "target serverless misses the SLA: "
                + "; ".join(r.detail for r in reasons if r.rule.startswith("sla.") and r.fired)
            )
        if target is not cheaper and feasible:
            chosen, other = (s_total, k_total) if target is Target.serverless else (k_total, s_total)
            warnings.append(
                f"target {target.value} costs {usd(chosen)}/month; {cheaper.value} would cost {usd(other)}/month"
            )
    if target is Target.kubernetes and f.refusals:
        loc, message, allowed = f.refusals[0]
        line = loaded.line_of(*loc)
        raise DecisionError(
            f"{loaded.file}:{line}" if line else loaded.file,
            f"{'.'.join(loc)}: {message}\n    allowed: {allowed}",
        )
    warnings += serverless_warnings(reasons, target)
    reasons.append(
        Reason(rule="target", fired=True, detail=_target_sentence(p.target, target, limits_hit, sla_misses, cheaper))
    )

    decision = Decision(
        requested=p.target,
        target=target,
        serverless_feasible=feasible,
        reasons=reasons,
        warnings=warnings,
        utilization=f.utilization,
        serverless=f.s,
        kubernetes=f.k,
        serverless_cost=f.s_cost,
        serverless_cost_other_arch=f.s_cost_other,
        kubernetes_cost=f.k_cost,
    )
    return Workload(profile=p, decision=decision, file=loaded.file, settings=loaded.settings)


def _target_sentence(requested: Target, target: Target, limits: list[Reason], sla: list[str], cheaper: Target) -> str:
    if requested is not Target.auto:
        return f"{target.value}: set explicitly in the profile"
    if limits:
        return f"{target.value}: Lambda ruled out by " + ", ".join(r.rule.removeprefix("limit.") for r in limits)
    if sla:
        return f"{target.value}: serverless misses the SLA ({', '.join(sla)})"
    return f"{target.value}: cheapest option meeting every hard limit and the SLA"
