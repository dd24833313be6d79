"""The decision's rules as a table: each a small function of the facts, returning its verdict and numbers.

`decide` runs RULES in order; a rule returns Reasons (rule id, fired, the sentence with the
numbers that drove it) and may add warnings. Adding a rule is adding a row. The hard limits
(`limit.*`) rule Lambda out; `sla.*` misses make serverless infeasible; the rest explain the
sizing and the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from stacks.capacity import allocatable
from stacks.cost import Cost
from stacks.pricebook import Platform, Settings
from stacks.profile import Gpu, Mode, Profile
from stacks.rules_serverless import reserved_limit, serverless_limits, serverless_rules
from stacks.sizing import (
    GPU_MEMORY_GB,
    LAMBDA_MAX_IMAGE_GB,
    MIG_PROFILES,
    KubernetesSizing,
    ServerlessSizing,
    gpu_memory_gb,
    serves_http,
)
from stacks.vllm_args import gpu_memory_utilization

# Lambda's hard limits (AWS Lambda quotas page): these are not adjustable.
LAMBDA_MAX_MEMORY_MB = 10240
LAMBDA_MAX_TIMEOUT_S = 900


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str  # stable id, e.g. "limit.memory", "cost.compare"
    fired: bool  # True when the rule pushed the decision or the sizing
    detail: str  # one sentence with the numbers that drove it


@dataclass
class Facts:
    """What every rule may read; rules append warnings here."""

    p: Profile
    settings: Settings
    s: ServerlessSizing
    k: KubernetesSizing
    s_cost: Cost
    s_cost_other: Cost
    k_cost: Cost
    utilization: float
    warnings: list[str] = field(default_factory=list)
    # (field path, what is wrong, what is allowed): the plan refuses the workload on kubernetes
    refusals: list[tuple[tuple[str, ...], str, str]] = field(default_factory=list)

    @property
    def platform(self) -> Platform:
        return self.settings.platform

    @property
    def other_arch(self) -> str:
        return "arm64" if self.s.architecture == "x86_64" else "x86_64"


Rule = Callable[[Facts], list[Reason]]


def usd(x: float) -> str:
    return f"${x:,.2f}"


def _cmp(over: bool) -> str:
    return ">" if over else "<="


# ----------------------------------------------------------------- hard limits


def limit_gpu(f: Facts) -> list[Reason]:
    gpu = f.p.model.gpu
    need = gpu is Gpu.required
    text = "Lambda has no GPU" if need else "runs on Lambda's CPUs"
    return [Reason(rule="limit.gpu", fired=need, detail=f"gpu is {gpu.value}: {text}")]


def limit_memory(f: Facts) -> list[Reason]:
    over = f.s.memory_mb > LAMBDA_MAX_MEMORY_MB
    return [
        Reason(
            rule="limit.memory",
            fired=over,
            detail=f"memory {f.s.memory_mb:,} MB {_cmp(over)} Lambda's {LAMBDA_MAX_MEMORY_MB:,} MB",
        )
    ]


def limit_image(f: Facts) -> list[Reason]:
    over = f.s.image_gb > LAMBDA_MAX_IMAGE_GB
    estimated = "" if f.p.model.image_gb is not None else " (estimated)"
    return [
        Reason(
            rule="limit.image",
            fired=over,
            detail=f"image {f.s.image_gb:g} GB{estimated} {_cmp(over)} Lambda's {LAMBDA_MAX_IMAGE_GB:g} GB",
        )
    ]


def limit_timeout(f: Facts) -> list[Reason]:
    over = f.p.sla.timeout_s > LAMBDA_MAX_TIMEOUT_S
    return [
        Reason(
            rule="limit.timeout",
            fired=over,
            detail=f"longest request {f.p.sla.timeout_s:,} s {_cmp(over)} Lambda's {LAMBDA_MAX_TIMEOUT_S} s",
        )
    ]


def serverless_platform_limits(f: Facts) -> list[Reason]:
    """The serverless platform's own limits (stacks/rules_serverless.py), e.g. the weights' region."""
    return serverless_limits(f.p, f.settings)


def serverless_reserved_limit(f: Facts) -> list[Reason]:
    """A queue's consumers must fit the reservation the account quota leaves (stacks/rules_serverless.py)."""
    return reserved_limit(f.p, f.s, f.settings)


# ----------------------------------------------------------------- SLA and traffic


def sla_latency(f: Facts) -> list[Reason]:
    if f.p.sla.mode is Mode.async_:
        return []
    u, overhead = f.p.utilization, f.platform.lambda_invoke_overhead_ms
    warm = u.inference_ms + overhead
    miss = warm > f.p.sla.p99_latency_ms
    return [
        Reason(
            rule="sla.latency",
            fired=miss,
            detail=f"warm Lambda latency {u.inference_ms:g} + {overhead} ms invoke = {warm:g} ms "
            f"{_cmp(miss)} p99 target {f.p.sla.p99_latency_ms:g} ms",
        )
    ]


def quota(f: Facts) -> list[Reason]:
    if f.s.peak_concurrency > f.platform.lambda_account_concurrency:
        f.warnings.append(
            f"peak concurrency {f.s.peak_concurrency:,.0f} exceeds the account's Lambda quota "
            f"{f.platform.lambda_account_concurrency:,}: request an increase before deploying to serverless"
        )
    return []


def traffic_utilization(f: Facts) -> list[Reason]:
    u, ceiling = f.p.utilization, f.platform.serverless_utilization_ceiling
    return [
        Reason(
            rule="traffic.utilization",
            fired=False,
            detail=f"sustained utilization {f.utilization:.1%} (avg {u.avg_rps:g} rps x {u.active_hours_per_day:g} h / "
            f"peak {u.peak_rps:g} rps x 24 h); serverless usually fits below {ceiling:.0%}",
        )
    ]


def traffic_hours(f: Facts) -> list[Reason]:
    u = f.p.utilization
    return [
        Reason(
            rule="traffic.hours",
            fired=False,
            detail=f"active {u.active_hours_per_day:g} h/day; per-second billing loses to reserved capacity beyond "
            f"~{f.platform.serverless_break_even_hours_per_day:g} h/day",
        )
    ]


# ----------------------------------------------------------------- cold starts


def lambda_cold_start_text(f: Facts) -> str:
    cs, pf, m = f.s.cold_start, f.platform, f.p.model
    source = (
        f"in the image at {pf.lambda_image_read_mb_per_s:g} MB/s"
        if f.s.weights_in_image
        else f"from EFS at {pf.efs_read_mb_per_s:g} MB/s"
    )
    image = f.s.image_gb - (m.weights_gb if f.s.weights_in_image else 0.0)
    return (
        f"Lambda cold start ~{cs.total_ms:,.0f} ms (runtime init {cs.base_ms:,.0f} + image {image:g} GB "
        f"loaded lazily {cs.image_ms:,.0f} + imports {cs.imports_ms:,.0f} + weights {m.weights_gb:g} GB {source} "
        f"{cs.weights_ms:,.0f} + deserialize at {pf.weights_deserialize_mb_per_s:,g} MB/s {cs.deserialize_ms:,.0f})"
    )


def coldstart_provisioned(f: Facts) -> list[Reason]:
    s, p = f.s, f.p
    budget = f"budget {p.sla.cold_start_budget_ms:,.0f} ms"
    if not s.provisioned:
        return [
            Reason(
                rule="coldstart.provisioned",
                fired=False,
                detail=f"{lambda_cold_start_text(f)} <= {budget}: no provisioned concurrency",
            )
        ]
    u = p.utilization
    if s.pc_scheduled:
        when = f"in {u.active_window} (warm {s.pc_prewarm_minutes} min before)"
    else:
        when = "around the clock (no active_window)"
        if u.active_hours_per_day < 24:
            f.warnings.append(
                f"provisioned concurrency is billed 24 h/day because utilization.active_window is not set; "
                f"setting it would bill {u.active_hours_per_day:g} h/day"
            )
    return [
        Reason(
            rule="coldstart.provisioned",
            fired=True,
            detail=f"{lambda_cold_start_text(f)} > {budget}: provisioned concurrency {s.pc_min}-{s.pc_max} {when}",
        )
    ]


def coldstart_pc_economics(f: Facts) -> list[Reason]:
    s, pf = f.s, f.platform
    if not s.provisioned:
        return []
    use = s.avg_concurrency / s.pc_min
    pays = use >= pf.pc_break_even_utilization
    return [
        Reason(
            rule="coldstart.pc_economics",
            fired=False,
            detail=f"provisioned environments {use:.0%} used (avg concurrency {s.avg_concurrency:.2f} / {s.pc_min}); "
            f"they {'pay for themselves' if pays else 'cost more than on-demand'} "
            f"(break-even {pf.pc_break_even_utilization:.0%})",
        )
    ]


def serverless_platform_rules(f: Facts) -> list[Reason]:
    """Weights baked into the image, Lambda's 10 s init limit (stacks/rules_serverless.py)."""
    return serverless_rules(f.p, f.s, f.settings)


def pod_start_text(f: Facts) -> str:
    k, pf, m = f.k, f.platform, f.p.model
    return (
        f"pod start ~{k.pod_start_ms:,.0f} ms (schedule {k.schedule_ms:,.0f} + image pull {k.image_gb:g} GB at "
        f"{pf.registry_pull_mb_per_s:g} MB/s {k.image_pull_ms:,.0f} + weights {m.weights_gb:g} GB from the model "
        f"cache at {pf.model_cache_read_mb_per_s:g} MB/s {k.weights_ms:,.0f} + deserialize {k.deserialize_ms:,.0f} "
        f"+ engine start {k.engine_start_ms:,.0f} + compile {k.compile_ms:,.0f}; a new weights version first copies "
        f"them at {pf.weights_copy_mb_per_s:g} MB/s, {k.weights_copy_ms:,.0f} more)"
    )


def coldstart_min_replicas(f: Facts) -> list[Reason]:
    budget = f.p.sla.cold_start_budget_ms
    warm = f.k.pod_start_ms > budget
    http = serves_http(f.p)
    if warm:
        then = "kubernetes keeps at least 1 replica warm"
    elif not http:
        then = "kubernetes may scale to zero (the queue holds the work while a pod starts)"
    else:
        then = "kubernetes still keeps 1 replica: nothing would start a pod for a synchronous request"
    return [
        Reason(
            rule="coldstart.min_replicas",
            fired=warm or http,
            detail=f"{pod_start_text(f)} {_cmp(warm)} budget {budget:,.0f} ms: {then}",
        )
    ]


# ----------------------------------------------------------------- kubernetes capacity


def sla_availability(f: Facts) -> list[Reason]:
    k = f.k
    spread = " on separate nodes" if k.spread_across_nodes else ""
    return [
        Reason(
            rule="sla.availability",
            fired=k.availability_min_replicas > 0,
            detail=f"availability {f.p.sla.availability:g}%: kubernetes keeps {k.availability_min_replicas} warm "
            f"replica(s){spread}, min {k.min_replicas}",
        )
    ]


def gpu_share(f: Facts) -> list[Reason]:
    k, pf, p = f.k, f.platform, f.p
    if not k.gpu_type:
        return []
    need = gpu_memory_gb(p, pf)
    if pf.gpu_sharing == "time-slicing" and k.gpus_per_replica > 1:
        # The operator time-slices every node and GFD renames them all -SHARED: a multi-GPU pod
        # requiring the plain product label never schedules (and two slices may be one GPU).
        f.refusals.append(
            (
                ("model", "accelerator"),
                f"{p.name} needs {k.gpus_per_replica} x {k.gpu_type} per replica, and platform gpu_sharing is "
                f"time-slicing: every GPU node is shared (labelled {k.gpu_type}-SHARED), so it never schedules",
                "one GPU per replica under time-slicing; or gpu_sharing none, or mig (unlabelled nodes stay whole)",
            )
        )
    elif pf.gpu_sharing != "none" and k.gpu_sharing == "none":
        why = (
            f"it needs {k.gpus_per_replica} GPUs per replica"
            if k.gpus_per_replica != 1
            else f"{k.gpu_type} has no MIG"
            if pf.gpu_sharing == "mig" and k.gpu_type not in MIG_PROFILES
            else f"no {pf.gpu_sharing} profile of {k.gpu_type} fits its ~{need:g} GB of GPU memory"
        )
        f.warnings.append(f"gpu_sharing is {pf.gpu_sharing} but this workload takes whole GPUs: {why}")
    if k.gpu_sharing == "time-slicing":
        total = GPU_MEMORY_GB.get(k.gpu_type)
        slice_gb = total * k.gpu_share if total else None
        detail = (
            f"time-slicing: each replica gets 1/{pf.time_slicing_replicas} of a {k.gpu_type} "
            f"(costed as {k.gpu_share:.3g} GPU; memory is not isolated"
            + (f", {slice_gb:g} GB each)" if slice_gb else ")")
        )
        if slice_gb is not None and gpu_memory_utilization(k.gpu_share, total, need) is None:
            f.refusals.append(
                (
                    ("model", "weights_gb"),
                    f"time-slicing shares one {k.gpu_type} ({total:g} GB) between {pf.time_slicing_replicas} "
                    f"replicas, {slice_gb:g} GB each, but this model needs ~{need:g} GB (weights x "
                    f"{pf.gpu_memory_per_weight_gb:g}): replicas sharing the GPU would run out of memory",
                    f"a model needing at most {slice_gb:g} GB; or a lower platform time_slicing_replicas, or mig",
                )
            )
        return [Reason(rule="gpu.share", fired=True, detail=detail)]
    if k.gpu_sharing == "mig":
        return [
            Reason(
                rule="gpu.share",
                fired=True,
                detail=f"MIG {k.mig_profile}: the smallest profile of {k.gpu_type} holding ~{need:g} GB of GPU memory; "
                f"{round(1 / k.gpu_share)} per GPU, so a replica costs {k.gpu_share:.3g} GPU "
                f"(resource {k.gpu_resource})",
            )
        ]
    return [
        Reason(
            rule="gpu.share",
            fired=False,
            detail=f"whole GPUs: {k.gpus_per_replica} x {k.gpu_type} per replica (platform gpu_sharing {pf.gpu_sharing})",
        )
    ]


def node_packing(f: Facts) -> list[Reason]:
    k, pf = f.k, f.platform
    cpu, mem = allocatable(pf, gpu=k.node_kind == "gpu")
    node = f"{k.gpu_type} node" if k.gpu_type else "CPU node"
    if k.cpu_millicores > cpu or k.memory_mb / 1024 > mem:
        f.warnings.append(
            f"one replica ({k.cpu_millicores / 1000:g} vCPU, {k.memory_mb / 1024:g} GB) does not fit a {node}'s "
            f"allocatable {cpu / 1000:.2f} vCPU, {mem:.1f} GB: raise the platform's node size or lower model.memory_gb"
        )
    surge = f" + {k.rollout_max_surge} surge for rollouts" if k.rollout_max_surge else ""
    return [
        Reason(
            rule="capacity.packing",
            fired=False,
            detail=f"{k.replicas_per_node} replica(s) per {node} (allocatable {cpu / 1000:.2f} vCPU, {mem:.1f} GB "
            f"after the kubelet's reserve and DaemonSets; {k.packing_limit} limits); billed for {k.max_replicas} "
            f"replicas{surge}",
        )
    ]


RULES: list[Rule] = [
    limit_gpu,
    limit_memory,
    limit_image,
    limit_timeout,
    serverless_platform_limits,
    serverless_reserved_limit,
    sla_latency,
    quota,
    traffic_utilization,
    traffic_hours,
    coldstart_provisioned,
    coldstart_pc_economics,
    serverless_platform_rules,
    coldstart_min_replicas,
    sla_availability,
    gpu_share,
    node_packing,
]
