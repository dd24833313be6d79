"""The decision: where a workload belongs, and why, with the numbers.

Only this module (with cost.py and sizing.py under it) knows limits and thresholds. It turns a
validated profile into a frozen Workload that the target builders consume without re-deciding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from stacks.cost import Cost, kubernetes_cost, serverless_cost
from stacks.errors import DecisionError
from stacks.loader import LoadedProfile
from stacks.pricebook import Settings
from stacks.profile import Gpu, Mode, Profile, Target
from stacks.rules_serverless import serverless_limits, serverless_rules, serverless_warnings
from stacks.sizing import (
    LAMBDA_MAX_IMAGE_GB,
    KubernetesSizing,
    ServerlessSizing,
    gpu_memory_gb,
    kubernetes,
    serverless,
    serves_http,
)

# Lambda's hard limits (AWS Lambda quotas page): these are not adjustable.
LAMBDA_MAX_MEMORY_MB = 10240
LAMBDA_MAX_TIMEOUT_S = 900


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reason(_Frozen):
    rule: str  # stable id, e.g. "limit.memory", "cost.cheaper"
    fired: bool  # True when the rule pushed the decision or the sizing
    detail: str  # one sentence with the numbers that drove it


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


def _usd(x: float) -> str:
    return f"${x:,.2f}"


def _hard_limits(p: Profile, s: ServerlessSizing) -> list[Reason]:
    return [
        Reason(
            rule="limit.gpu",
            fired=p.model.gpu is Gpu.required,
            detail=f"gpu is {p.model.gpu.value}: Lambda has no GPU"
            if p.model.gpu is Gpu.required
            else f"gpu is {p.model.gpu.value}: runs on Lambda's CPUs",
        ),
        Reason(
            rule="limit.memory",
            fired=s.memory_mb > LAMBDA_MAX_MEMORY_MB,
            detail=f"memory {s.memory_mb:,} MB {'>' if s.memory_mb > LAMBDA_MAX_MEMORY_MB else '<='} "
            f"Lambda's {LAMBDA_MAX_MEMORY_MB:,} MB",
        ),
        Reason(
            rule="limit.image",
            fired=s.image_gb > LAMBDA_MAX_IMAGE_GB,
            detail=f"image {s.image_gb:g} GB{'' if p.model.image_gb is not None else ' (estimated)'} "
            f"{'>' if s.image_gb > LAMBDA_MAX_IMAGE_GB else '<='} Lambda's {LAMBDA_MAX_IMAGE_GB:g} GB",
        ),
        Reason(
            rule="limit.timeout",
            fired=p.sla.timeout_s > LAMBDA_MAX_TIMEOUT_S,
            detail=f"longest request {p.sla.timeout_s:,} s {'>' if p.sla.timeout_s > LAMBDA_MAX_TIMEOUT_S else '<='} "
            f"Lambda's {LAMBDA_MAX_TIMEOUT_S} s",
        ),
    ]


def decide(loaded: LoadedProfile) -> Workload:
    p, settings = loaded.profile, loaded.settings
    prices, platform = settings.prices, settings.platform
    u = p.utilization
    s = serverless(p, platform, prices)
    k = kubernetes(p, platform)
    s_cost = serverless_cost(p, s, prices, platform)
    other_arch = "arm64" if s.architecture == "x86_64" else "x86_64"
    s_cost_other = serverless_cost(p, s, prices, platform, architecture=other_arch)
    k_cost = kubernetes_cost(k, prices, platform)

    reasons = _hard_limits(p, s) + serverless_limits(p, settings)
    limits_hit = [r for r in reasons if r.fired]
    warnings: list[str] = []

    sla_misses: list[str] = []
    if p.sla.mode is not Mode.async_:
        warm = u.inference_ms + platform.lambda_invoke_overhead_ms
        miss = warm > p.sla.p99_latency_ms
        reasons.append(
            Reason(
                rule="sla.latency",
                fired=miss,
                detail=f"warm Lambda latency {u.inference_ms:g} + {platform.lambda_invoke_overhead_ms} ms invoke = {warm:g} ms "
                f"{'>' if miss else '<='} p99 target {p.sla.p99_latency_ms:g} ms",
            )
        )
        if miss:
            sla_misses.append("latency")
    if s.peak_concurrency > platform.lambda_account_concurrency:
        warnings.append(
            f"peak concurrency {s.peak_concurrency:,.0f} exceeds the account's Lambda quota "
            f"{platform.lambda_account_concurrency:,}: request an increase before deploying to serverless"
        )

    utilization = (u.avg_rps * u.active_hours_per_day) / (u.peak_rps * 24) if u.peak_rps else 0.0
    ceiling = platform.serverless_utilization_ceiling
    reasons.append(
        Reason(
            rule="traffic.utilization",
            fired=False,
            detail=f"sustained utilization {utilization:.1%} (avg {u.avg_rps:g} rps x {u.active_hours_per_day:g} h / "
            f"peak {u.peak_rps:g} rps x 24 h); serverless usually fits below {ceiling:.0%}",
        )
    )
    reasons.append(
        Reason(
            rule="traffic.hours",
            fired=False,
            detail=f"active {u.active_hours_per_day:g} h/day; per-second billing loses to reserved capacity beyond "
            f"~{platform.serverless_break_even_hours_per_day:g} h/day",
        )
    )

    cs = s.cold_start
    cold_text = (
        f"Lambda cold start ~{cs.total_ms:,.0f} ms (init {cs.base_ms:,.0f} + image {s.image_gb:g} GB "
        f"{cs.image_ms:,.0f} + weights {p.model.weights_gb:g} GB "
        f"{'in the image' if s.weights_in_image else f'from EFS at {platform.efs_read_mb_per_s:g} MB/s'} "
        f"{cs.weights_ms:,.0f})"
    )
    if s.provisioned:
        when = f"in {u.active_window}" if s.pc_scheduled else "around the clock (no active_window)"
        pc_use = s.avg_concurrency / s.pc_min
        reasons.append(
            Reason(
                rule="coldstart.provisioned",
                fired=True,
                detail=f"{cold_text} > budget {p.sla.cold_start_budget_ms:,.0f} ms: provisioned concurrency "
                f"{s.pc_min}-{s.pc_max} {when}",
            )
        )
        pays = pc_use >= platform.pc_break_even_utilization
        reasons.append(
            Reason(
                rule="coldstart.pc_economics",
                fired=False,
                detail=f"provisioned environments {pc_use:.0%} used (avg concurrency {s.avg_concurrency:.2f} / {s.pc_min}); "
                f"they {'pay for themselves' if pays else 'cost more than on-demand'} "
                f"(break-even {platform.pc_break_even_utilization:.0%})",
            )
        )
        if not s.pc_scheduled and u.active_hours_per_day < 24:
            warnings.append(
                f"provisioned concurrency is billed 24 h/day because utilization.active_window is not set; "
                f"setting it would bill {u.active_hours_per_day:g} h/day"
            )
    else:
        reasons.append(
            Reason(
                rule="coldstart.provisioned",
                fired=False,
                detail=f"{cold_text} <= budget {p.sla.cold_start_budget_ms:,.0f} ms: no provisioned concurrency",
            )
        )

    reasons += serverless_rules(p, s, settings)
    warm_for_start = k.pod_start_ms > p.sla.cold_start_budget_ms
    if warm_for_start:
        outcome = "kubernetes keeps at least 1 replica warm"
    elif not serves_http(p):
        outcome = "kubernetes may scale to zero (the queue holds the work while a pod starts)"
    else:
        outcome = "kubernetes still keeps 1 replica: nothing would start a pod for a synchronous request"
    reasons.append(
        Reason(
            rule="coldstart.min_replicas",
            fired=warm_for_start or serves_http(p),
            detail=f"pod start ~{k.pod_start_ms:,.0f} ms {'>' if warm_for_start else '<='} budget "
            f"{p.sla.cold_start_budget_ms:,.0f} ms: {outcome}",
        )
    )

    reasons.append(
        Reason(
            rule="sla.availability",
            fired=k.availability_min_replicas > 0,
            detail=f"availability {p.sla.availability:g}%: kubernetes keeps {k.availability_min_replicas} warm "
            f"replica(s){' on separate nodes' if k.spread_across_nodes else ''}, min {k.min_replicas}",
        )
    )
    if k.gpu_type and platform.gpu_sharing != "none" and k.gpu_sharing == "none":
        why = (
            f"it needs {k.gpus_per_replica} GPUs per replica"
            if k.gpus_per_replica != 1
            else f"no {platform.gpu_sharing} profile of {k.gpu_type} fits its ~{gpu_memory_gb(p, platform):g} GB of GPU memory"
        )
        warnings.append(f"gpu_sharing is {platform.gpu_sharing} but this workload takes whole GPUs: {why}")

    feasible = not limits_hit and not sla_misses
    s_total, k_total = s_cost.total, k_cost.total
    cheaper = Target.serverless if s_total < k_total else Target.kubernetes
    reasons.append(
        Reason(
            rule="cost.compare",
            fired=feasible,
            detail=f"serverless {_usd(s_total)}/month ({s.architecture}; {other_arch} {_usd(s_cost_other.total)}) vs "
            f"kubernetes {_usd(k_total)}/month: {cheaper.value} is cheaper",
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
                f"target {target.value} costs {_usd(chosen)}/month; {cheaper.value} would cost {_usd(other)}/month"
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
        utilization=utilization,
        serverless=s,
        kubernetes=k,
        serverless_cost=s_cost,
        serverless_cost_other_arch=s_cost_other,
        kubernetes_cost=k_cost,
    )
    return Workload(profile=p, decision=decision, file=loaded.file, settings=settings)


def _target_sentence(requested: Target, target: Target, limits: list[Reason], sla: list[str], cheaper: Target) -> str:
    if requested is not Target.auto:
        return f"{target.value}: set explicitly in the profile"
    if limits:
        return f"{target.value}: Lambda ruled out by " + ", ".join(r.rule.removeprefix("limit.") for r in limits)
    if sla:
        return f"{target.value}: serverless misses the SLA ({', '.join(sla)})"
    return f"{target.value}: cheapest option meeting every hard limit and the SLA"
