"""Sizing by Little's law: concurrency = arrival rate x time in system.

Pure functions of a profile and the platform settings. Only `decide` calls them; the target
builders read the results from the Decision and never size anything themselves.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from stacks.pricebook import Platform, PriceBook
from stacks.profile import Gpu, Mode, Preset, Profile

LAMBDA_MIN_MEMORY_MB = 128
LAMBDA_MAX_IMAGE_GB = 10.0


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ColdStart(_Frozen):
    """Estimated cold start and its parts, in ms."""

    base_ms: float
    image_ms: float
    weights_ms: float

    @property
    def total_ms(self) -> float:
        return self.base_ms + self.image_ms + self.weights_ms


class ServerlessSizing(_Frozen):
    memory_mb: int
    architecture: str
    timeout_s: int
    image_gb: float
    avg_concurrency: float
    peak_concurrency: float
    reserved_concurrency: int
    cold_start: ColdStart
    provisioned: bool
    pc_min: int  # warm environments in the active window (0 when not provisioned)
    pc_max: int  # autoscaling ceiling in the active window
    pc_hours_per_day: float  # hours a day the provisioned environments are billed
    pc_scheduled: bool  # True when an active window drives scheduled scaling
    queue_max_concurrency: int  # SQS event source cap (async/both), protects EFS throughput
    weights_in_image: bool = False  # baked into the image: no VPC, EFS or weights copy


class KubernetesSizing(_Frozen):
    replica_concurrency: int
    replica_rps: float
    min_replicas: int  # the larger of what the cold-start budget and the availability target need
    max_replicas: int
    gpu_type: str | None
    gpus_per_replica: int  # units of gpu_resource a replica requests
    gpu_sharing: str  # sharing mode in force for this workload: none | time-slicing | mig
    gpu_share: float  # physical GPUs per requested unit: 1.0 whole, 1/replicas time-sliced, slices/7 MIG
    mig_profile: str | None  # e.g. "3g.40gb" when gpu_sharing is mig
    gpu_resource: str | None  # extended resource the container requests
    gpu_product_suffix: str  # what GPU Feature Discovery appends to nvidia.com/gpu.product in this mode
    availability_min_replicas: int
    spread_across_nodes: bool
    pdb_max_unavailable: int
    rollout_max_surge: int
    rollout_max_unavailable: int
    cpu_millicores: int
    memory_mb: int
    image_gb: float
    load_ms: float  # weights from the node-local cache into memory
    pod_start_ms: float  # pod start including the load


def image_gb(p: Profile, platform: Platform, *, gpu_image: bool) -> float:
    if p.model.image_gb is not None:
        return p.model.image_gb
    if p.model.preset is Preset.vllm:
        return platform.image_estimate_vllm_gb
    return platform.image_estimate_gpu_gb if gpu_image else platform.image_estimate_cpu_gb


def lambda_memory_mb(p: Profile) -> int:
    return max(LAMBDA_MIN_MEMORY_MB, math.ceil(p.model.memory_gb * 1024))


def weights_fit_in_image(p: Profile, platform: Platform) -> bool:
    """Local weights small enough to bake into the Lambda image (no VPC, EFS or copy function).

    Only local weights: the image is built by `cdk deploy` without credentials for s3:// sources.
    """
    return (
        not p.model.weights_in_s3
        and p.model.weights_gb <= platform.image_weights_max_gb
        and image_gb(p, platform, gpu_image=False) + p.model.weights_gb <= LAMBDA_MAX_IMAGE_GB
    )


def lambda_cold_start(p: Profile, platform: Platform, *, weights_in_image: bool = False) -> ColdStart:
    img = image_gb(p, platform, gpu_image=False)
    if weights_in_image:  # lazily loaded with the image, at the image's rate
        weights_ms = p.model.weights_gb * platform.lambda_init_ms_per_image_gb
    else:
        weights_ms = p.model.weights_gb * 1000 / platform.efs_read_mb_per_s * 1000
    return ColdStart(
        base_ms=platform.lambda_init_base_ms, image_ms=img * platform.lambda_init_ms_per_image_gb, weights_ms=weights_ms
    )


def serverless(p: Profile, platform: Platform, prices: PriceBook | None = None) -> ServerlessSizing:
    u = p.utilization
    seconds = u.inference_ms / 1000
    avg_c = u.avg_rps * seconds
    peak_c = u.peak_rps * seconds
    # Baking is chosen when it is allowed, starts faster (the image rate beats EFS's) and stores
    # cheaper (ECR vs EFS); the rule coldstart.weights_in_image explains it with the numbers.
    baked = (
        weights_fit_in_image(p, platform)
        and lambda_cold_start(p, platform, weights_in_image=True).total_ms < lambda_cold_start(p, platform).total_ms
        and (prices is None or prices.ecr_storage_gb_month_usd < prices.efs_storage_gb_month_usd)
    )
    cold = lambda_cold_start(p, platform, weights_in_image=baked)
    provisioned = p.sla.cold_start_budget_ms < cold.total_ms
    pc_min = pc_max = 0
    if provisioned:
        # Target tracking keeps utilization near the target, so warm capacity is the load
        # divided by it; at least one environment, or the first request still pays the start.
        pc_min = max(1, math.ceil(avg_c / platform.pc_target_utilization))
        pc_max = max(pc_min, math.ceil(peak_c / platform.pc_target_utilization))
    window = u.window_length_hours()
    # Reserved concurrency caps a runaway at twice the expected peak (and never below 2 so a
    # deployment can overlap old and new environments), within the account quota.
    # Lambda keeps lambda_unreserved_concurrency of the account quota unreserved; the sum over
    # workloads is checked in rules_serverless.check_reserved_total.
    reservable = max(1, platform.lambda_account_concurrency - platform.lambda_unreserved_concurrency)
    sync_peak = math.ceil(peak_c) if p.sla.mode is Mode.both else 0
    # mode both: the queue must leave the sync peak its share of the reservation, and SQS event
    # sources need at least 2 consumers.
    reserved = min(reservable, max(2, math.ceil(peak_c * 2), pc_max, sync_peak + 2))
    # Each cold environment reads the weights once at efs_read_mb_per_s; cap the queue's
    # consumers so a burst of cold starts stays within the file system's read budget. The queue
    # absorbs the rest. SQS event sources accept 2-1000.
    efs_cap = int(platform.efs_file_system_read_mb_per_s // platform.efs_read_mb_per_s)
    queue_cap = max(2, min(reserved - sync_peak, efs_cap, 1000)) if p.sla.mode is not Mode.sync else 0
    return ServerlessSizing(
        memory_mb=lambda_memory_mb(p),
        architecture=platform.lambda_architecture,
        timeout_s=p.sla.timeout_s,
        image_gb=image_gb(p, platform, gpu_image=False) + (p.model.weights_gb if baked else 0.0),
        avg_concurrency=avg_c,
        peak_concurrency=peak_c,
        reserved_concurrency=reserved,
        cold_start=cold,
        provisioned=provisioned,
        pc_min=pc_min,
        pc_max=pc_max,
        pc_hours_per_day=(window if window is not None else 24.0) if provisioned else 0.0,
        pc_scheduled=provisioned and window is not None and window < 24,
        queue_max_concurrency=queue_cap,
        weights_in_image=baked,
    )


# MIG profiles (name, share of the GPU's compute slices, memory GB) per product, smallest first.
# Source: NVIDIA Multi-Instance GPU user guide, "Supported MIG Profiles". Other products have no MIG.
MIG_PROFILES: dict[str, list[tuple[str, float, float]]] = {
    "A100-80GB": [("1g.10gb", 1 / 7, 10), ("2g.20gb", 2 / 7, 20), ("3g.40gb", 3 / 7, 40), ("4g.40gb", 4 / 7, 40)],
    "H100-80GB": [("1g.10gb", 1 / 7, 10), ("2g.20gb", 2 / 7, 20), ("3g.40gb", 3 / 7, 40), ("4g.40gb", 4 / 7, 40)],
}
WHOLE_GPU_RESOURCE = "nvidia.com/gpu"


class GpuPlacement(_Frozen):
    sharing: str
    share: float
    mig_profile: str | None
    resource: str | None
    product_suffix: str


def gpu_memory_gb(p: Profile, platform: Platform) -> float:
    """GPU memory one replica needs: the weights plus working memory (a stated assumption)."""
    return p.model.weights_gb * platform.gpu_memory_per_weight_gb


def gpu_placement(p: Profile, platform: Platform) -> GpuPlacement:
    """How a replica gets its GPU under the platform's sharing mode.

    Sharing applies to single-GPU replicas only; a model that needs more than one GPU, or a MIG
    request on a product without MIG or too large for every profile, takes whole GPUs (the
    decision warns, naming why).
    """
    if not uses_gpu_on_kubernetes(p):
        return GpuPlacement(sharing="none", share=0.0, mig_profile=None, resource=None, product_suffix="")
    whole = GpuPlacement(sharing="none", share=1.0, mig_profile=None, resource=WHOLE_GPU_RESOURCE, product_suffix="")
    if platform.gpu_sharing == "none" or p.model.accelerator_count != 1:
        return whole
    if platform.gpu_sharing == "time-slicing":
        return GpuPlacement(
            sharing="time-slicing",
            share=1 / platform.time_slicing_replicas,
            mig_profile=None,
            resource=WHOLE_GPU_RESOURCE,  # time-slicing keeps the resource name (renameByDefault: false)
            product_suffix="-SHARED",
        )
    need = gpu_memory_gb(p, platform)
    fitting = [m for m in MIG_PROFILES.get(p.model.accelerator_type or "", []) if m[2] >= need]
    if not fitting:
        return whole
    name, share, _ = fitting[0]
    single = platform.mig_strategy == "single"
    return GpuPlacement(
        sharing="mig",
        share=share,
        mig_profile=name,
        # single: every GPU of the node is cut into the same profile and advertised as nvidia.com/gpu,
        # with the product label renamed; mixed: one resource per profile, product label unchanged.
        resource=WHOLE_GPU_RESOURCE if single else f"nvidia.com/mig-{name}",
        product_suffix=f"-MIG-{name}" if single else "",
    )


def availability_replicas(availability: float) -> int:
    """Warm replicas the availability target needs, each on its own node.

    One replica is down for a node failure or drain plus a reschedule and pod start (minutes for
    a GPU model): 99.5 % allows 3.6 h a month, 99.9 % only 43 min, so from 99.5 % a second
    replica on another node carries the traffic; from 99.99 % (4.3 min) a third keeps one
    serving while one node is drained and another fails. Below 99.5 % availability asks for no
    warm replica; the cold-start budget decides.
    """
    if availability >= 99.99:
        return 3
    if availability >= 99.5:
        return 2
    return 0


def serves_http(p: Profile) -> bool:
    """A caller waits on HTTP (sync, both, and vLLM, which has no queue worker). Such a workload keeps
    one replica: nothing would start a pod for a waiting request (no activator holds it)."""
    return p.sla.mode is not Mode.async_ or p.model.preset is Preset.vllm


def uses_gpu_on_kubernetes(p: Profile) -> bool:
    return p.model.gpu is not Gpu.none and p.model.accelerator is not None


def kubernetes(p: Profile, platform: Platform) -> KubernetesSizing:
    u = p.utilization
    gpu = uses_gpu_on_kubernetes(p)
    concurrency = (
        platform.replica_concurrency_vllm if p.model.preset is Preset.vllm else platform.replica_concurrency_custom
    )
    replica_rps = concurrency / (u.inference_ms / 1000) * platform.k8s_target_utilization
    max_replicas = max(1, math.ceil(u.peak_rps / replica_rps))
    load_ms = p.model.weights_gb * 1000 / platform.local_cache_read_mb_per_s * 1000
    pod_start = platform.pod_start_base_ms + load_ms
    available = availability_replicas(p.sla.availability)
    warm = p.sla.cold_start_budget_ms < pod_start or serves_http(p)
    min_replicas = max(1 if warm else 0, available)
    placement = gpu_placement(p, platform)
    return KubernetesSizing(
        replica_concurrency=concurrency,
        replica_rps=replica_rps,
        min_replicas=min_replicas,
        max_replicas=max(max_replicas, min_replicas),
        gpu_type=p.model.accelerator_type if gpu else None,
        gpus_per_replica=p.model.accelerator_count if gpu else 0,
        gpu_sharing=placement.sharing,
        gpu_share=placement.share,
        mig_profile=placement.mig_profile,
        gpu_resource=placement.resource,
        gpu_product_suffix=placement.product_suffix,
        availability_min_replicas=available,
        spread_across_nodes=min_replicas >= 2,
        # Voluntary disruptions (drains, upgrades) take one replica at a time.
        pdb_max_unavailable=1,
        # A GPU rollout replaces in place: surging would need a spare GPU nobody pays for, and the
        # availability replicas carry traffic meanwhile. A CPU rollout surges into cheap headroom.
        rollout_max_surge=0 if gpu else 1,
        rollout_max_unavailable=1 if gpu else 0,
        cpu_millicores=1000 * concurrency if not gpu else 4000,
        memory_mb=math.ceil(p.model.memory_gb * 1024),
        image_gb=image_gb(p, platform, gpu_image=gpu),
        load_ms=load_ms,
        pod_start_ms=pod_start,
    )
