"""Sizing by Little's law: concurrency = arrival rate x time in system.

Pure functions of a profile and the platform settings. Only `decide` calls them; the target
builders read the results from the Decision and never size anything themselves.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from stacks.capacity import replicas_per_node
from stacks.pricebook import Platform, PriceBook
from stacks.profile import Gpu, Mode, Preset, Profile

LAMBDA_MIN_MEMORY_MB = 128
LAMBDA_MAX_IMAGE_GB = 10.0


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ColdStart(_Frozen):
    """Estimated Lambda cold start and its parts, in ms (every term is shown in the plan)."""

    base_ms: float  # runtime init: micro-VM, Python runtime, EFS mount
    image_ms: float  # lazy image fetch
    imports_ms: float  # importing the handler and its dependencies
    weights_ms: float  # reading the weights (EFS, or the image when baked in)
    deserialize_ms: float  # turning the bytes into the model in memory

    @property
    def total_ms(self) -> float:
        return self.base_ms + self.image_ms + self.imports_ms + self.weights_ms + self.deserialize_ms


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
    pc_hours_per_day: float  # hours a day the provisioned environments are billed (window + pre-warm)
    pc_scheduled: bool  # True when an active window drives scheduled scaling
    pc_prewarm_minutes: int  # scheduled scaling warms up this long before the window
    queue_max_concurrency: int  # SQS event source cap (async/both), protects EFS throughput
    queue_batch_size: int  # SQS event source batch size (async/both)
    queue_batch_window_s: int  # SQS event source maximum batching window
    messages_per_invocation: float  # expected SQS batch fill (1 for sync requests)
    environments: int  # execution environments at the peak (what the daily scale-out starts)
    warm_environments: int  # environments busy through the active hours (provisioned floor or average load)
    recycles_per_day: int  # times Lambda replaces each of those within the active hours
    cold_starts_per_day: float  # environments + warm_environments x recycles_per_day
    weights_in_image: bool = False  # baked into the image: no VPC, EFS or weights copy


class QueueSizing(_Frozen):
    """The Redis of a Kubernetes async workload: what it holds, its memory bound and its volume.

    Redis keeps everything in memory, so its bound is computed, not guessed: the results kept for
    their TTL, a backlog of messages at the peak rate, the dead letters (bounded in bytes) and
    Redis's own base. `maxmemory` is that bound with `noeviction`: past it Redis refuses new
    messages (the producer is told) and never drops a stream entry or a result before its time.
    """

    results_held: int  # results alive at once: the messages of one TTL window
    result_bytes: int  # one result in Redis: payload in its allocator slot + key, value and expiry overhead
    backlog_messages: int  # messages waiting at most: the backlog allowance at the peak + those in the workers
    message_bytes: int  # one stream entry: payload + entry and pending-list overhead
    message_max_bytes: int  # larger messages are refused (413) or answered with an error result
    result_ttl_s: int
    dead_letter_bytes: int  # the dead-letter stream is trimmed, oldest first, to this many bytes
    base_bytes: int  # an empty Redis, client buffers, the Lua scripts
    maxmemory_mb: int  # Redis `maxmemory`: the sum of the above
    memory_limit_mb: int  # the container's request = limit: maxmemory + fragmentation + fork copy-on-write
    volume_gi: int  # append-only file: the data, its growth before a rewrite, and the rewrite's new copy


class KubernetesSizing(_Frozen):
    replica_concurrency: int
    replica_rps: float
    min_replicas: int  # the larger of what the cold-start budget and the availability target need
    max_replicas: int
    gpu_type: str | None
    gpus_per_replica: int  # units of gpu_resource a replica requests
    gpu_sharing: str  # sharing mode in force for this workload: none | time-slicing | mig
    gpu_share: float  # physical GPUs per requested unit: 1.0 whole, 1/replicas time-sliced, 1/instances per GPU for MIG
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
    # Pod start, in ms: schedule + image pull + weights read + deserialize + engine start + compile.
    schedule_ms: float
    image_pull_ms: float  # on a node that lacks the image, at registry_pull_mb_per_s
    weights_copy_ms: float  # first start of a weights version: object store -> model cache
    weights_ms: float  # model cache -> memory
    deserialize_ms: float
    engine_start_ms: float
    compile_ms: float
    load_ms: float  # weights_ms + deserialize_ms
    pod_start_ms: float  # a start with the weights cached (probe budgets, min replicas)
    first_start_ms: float  # pod_start_ms + weights_copy_ms (rollout timeouts of a new weights version)
    # What the cluster holds for this workload (the bill).
    node_kind: str  # "gpu" | "cpu": the node type its replicas run on
    billed_replicas: int  # max_replicas + rollout_max_surge: capacity held for the peak and a rollout
    replicas_per_node: int  # bin-packing: replicas one node's allocatable capacity holds
    packing_limit: str  # the resource that limits replicas_per_node: gpu | cpu | memory
    model_cache_gi: int  # ReadWriteMany model cache volume
    queue: QueueSizing | None = None  # async and both modes (a custom model): the workload's Redis


def image_gb(p: Profile, platform: Platform, *, gpu_image: bool) -> float:
    if p.model.image_gb is not None:
        return p.model.image_gb
    if p.model.preset is Preset.vllm:
        return platform.image_estimate_vllm_gb
    return platform.image_estimate_gpu_gb if gpu_image else platform.image_estimate_cpu_gb


def lambda_memory_mb(p: Profile) -> int:
    return max(LAMBDA_MIN_MEMORY_MB, math.ceil(p.model.memory_gb * 1024))


def _ms(gb: float, mb_per_s: float) -> float:
    return gb * 1000 / mb_per_s * 1000


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
    """Runtime init + lazy image fetch + imports + weights read + deserialization."""
    read_rate = platform.lambda_image_read_mb_per_s if weights_in_image else platform.efs_read_mb_per_s
    return ColdStart(
        base_ms=platform.lambda_runtime_init_ms,
        image_ms=image_gb(p, platform, gpu_image=False) * platform.lambda_image_fetch_ms_per_gb,
        imports_ms=platform.lambda_imports_ms,
        weights_ms=_ms(p.model.weights_gb, read_rate),
        deserialize_ms=_ms(p.model.weights_gb, platform.weights_deserialize_mb_per_s),
    )


SQS_BATCH_SIZE = 10  # at most; fewer when a batch at the p99 would outlast the function (sqs_batch_size)
SQS_BATCH_WINDOW_S = 1
SQS_MAX_CONSUMERS = 1000  # an SQS event source's maximum concurrency accepts 2-1000


def efs_consumer_cap(platform: Platform, *, weights_in_image: bool) -> int | None:
    """Queue consumers the model file system's read budget allows, or None when it does not apply.

    Each cold environment reads the weights once at efs_read_mb_per_s: capping the consumers keeps a
    burst of cold starts within the file system's budget, and the queue absorbs the rest. Weights
    baked into the image are read from the image, not EFS, so no such cap applies to them.
    """
    if weights_in_image:
        return None
    return int(platform.efs_file_system_read_mb_per_s // platform.efs_read_mb_per_s)


def sqs_batch_size(function_timeout_s: int, p99_latency_ms: float) -> int:
    """Messages per invocation such that a batch whose every message takes the p99 still finishes.

    The handler works a batch's messages one after another in one invocation, whose timeout is
    one request's (sla.timeout_s). A batch that outlasts it times out whole: no partial response,
    every message (the finished ones too) comes back, and after the queue's maximum receive count
    such timeouts good messages sit in the DLQ. The event source (stacks/aws/queue.py) and the bill
    (messages per invocation) both read this one figure from the decision.
    """
    return max(1, min(SQS_BATCH_SIZE, int(function_timeout_s * 1000 // p99_latency_ms)))


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
    scheduled = provisioned and window is not None and window < 24
    # Reserved concurrency caps a runaway at twice the expected peak (and never below 2 so a
    # deployment can overlap old and new environments), within the account quota.
    # Lambda keeps lambda_unreserved_concurrency of the account quota unreserved and other functions
    # keep theirs (lambda_reserved_by_others); the sum over
    # workloads is checked in rules_serverless.check_reserved_total.
    reservable = max(
        1,
        platform.lambda_account_concurrency
        - platform.lambda_unreserved_concurrency
        - platform.lambda_reserved_by_others,
    )
    sync_peak = math.ceil(peak_c) if p.sla.mode is Mode.both else 0
    # mode both: the queue must leave the sync peak its share of the reservation, and SQS event
    # sources need at least 2 consumers.
    reserved = min(reservable, max(2, math.ceil(peak_c * 2), pc_max, sync_peak + 2))
    queued = p.sla.mode is not Mode.sync
    efs_cap = efs_consumer_cap(platform, weights_in_image=baked)
    queue_cap = max(2, min(reserved - sync_peak, efs_cap or SQS_MAX_CONSUMERS, SQS_MAX_CONSUMERS)) if queued else 0
    # A batch fills to the batch size, or with what arrives within the batching window.
    batch = sqs_batch_size(p.sla.timeout_s, p.sla.p99_latency_ms) if queued else 0
    per_invocation = min(batch, max(1.0, u.avg_rps * SQS_BATCH_WINDOW_S)) if p.sla.mode is Mode.async_ else 1.0
    environments = max(1, math.ceil(max(peak_c, pc_max) - 1e-9))
    if queued and p.sla.mode is Mode.async_:
        environments = min(environments, queue_cap)
    # The fleet scales out to the peak once a day; the environments that stay busy all the active
    # hours (the provisioned floor, or the average load) are recycled after their lifetime.
    warm = min(environments, max(pc_min, math.ceil(avg_c - 1e-9), 1))
    recycles = max(0, math.ceil(u.active_hours_per_day / platform.lambda_environment_lifetime_h - 1e-9) - 1)
    if provisioned:
        hours = (window + platform.pc_prewarm_minutes / 60) if scheduled and window is not None else 24.0
    else:
        hours = 0.0
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
        pc_hours_per_day=hours,
        pc_scheduled=scheduled,
        pc_prewarm_minutes=platform.pc_prewarm_minutes if scheduled else 0,
        queue_max_concurrency=queue_cap,
        queue_batch_size=batch,
        queue_batch_window_s=SQS_BATCH_WINDOW_S if queued else 0,
        messages_per_invocation=per_invocation,
        environments=environments,
        warm_environments=warm,
        recycles_per_day=recycles,
        cold_starts_per_day=environments + warm * recycles,
        weights_in_image=baked,
    )


# MIG profiles per product: (name, memory GB, instances one GPU holds), cheapest share first.
# A GPU cut into one profile holds that many instances, so one instance costs 1/instances of the
# GPU (3g.40gb: 2 per GPU, half a GPU, although it has 3 of the 7 compute slices). Source: NVIDIA
# Multi-Instance GPU user guide, "Supported MIG Profiles" (A100 80GB, H100 80GB). Other products
# have no MIG.
_MIG_80GB = [("1g.10gb", 10, 7), ("1g.20gb", 20, 4), ("2g.20gb", 20, 3), ("3g.40gb", 40, 2), ("4g.40gb", 40, 1)]
MIG_PROFILES: dict[str, list[tuple[str, float, int]]] = {"A100-80GB": _MIG_80GB, "H100-80GB": _MIG_80GB}
# Instances of each profile one GPU holds (what the MIG manager cuts a GPU into); 7g.80gb is a whole
# GPU in MIG mode, never chosen for sharing.
MIG_INSTANCES_PER_GPU: dict[str, int] = {name: n for profiles in MIG_PROFILES.values() for name, _, n in profiles} | {
    "7g.80gb": 1
}
# GPU memory per product, GB. Source: NVIDIA product datasheets.
GPU_MEMORY_GB: dict[str, float] = {"A100-80GB": 80, "H100-80GB": 80, "L40S": 48, "L4": 24, "T4": 16}
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
    fitting = [m for m in MIG_PROFILES.get(p.model.accelerator_type or "", []) if m[1] >= need]
    if not fitting:
        return whole
    name, _, instances = fitting[0]
    share = 1 / instances
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


def pod_start_parts(p: Profile, platform: Platform, *, gpu: bool) -> dict[str, float]:
    """Schedule + image pull + weights (copy on a version's first start; cache read) + deserialize + engine + compile."""
    vllm = p.model.preset is Preset.vllm
    return {
        "schedule_ms": platform.pod_schedule_ms,
        "image_pull_ms": _ms(image_gb(p, platform, gpu_image=gpu), platform.registry_pull_mb_per_s),
        "weights_copy_ms": _ms(p.model.weights_gb, platform.weights_copy_mb_per_s),
        "weights_ms": _ms(p.model.weights_gb, platform.model_cache_read_mb_per_s),
        "deserialize_ms": _ms(p.model.weights_gb, platform.weights_deserialize_mb_per_s),
        "engine_start_ms": platform.engine_start_vllm_ms if vllm else platform.engine_start_custom_ms,
        "compile_ms": platform.compile_vllm_ms if vllm else 0,
    }


def kubernetes(p: Profile, platform: Platform) -> KubernetesSizing:
    u = p.utilization
    gpu = uses_gpu_on_kubernetes(p)
    concurrency = (
        platform.replica_concurrency_vllm if p.model.preset is Preset.vllm else platform.replica_concurrency_custom
    )
    replica_rps = concurrency / (u.inference_ms / 1000) * platform.k8s_target_utilization
    max_replicas = max(1, math.ceil(u.peak_rps / replica_rps))
    parts = pod_start_parts(p, platform, gpu=gpu)
    pod_start = sum(v for k, v in parts.items() if k != "weights_copy_ms")
    available = availability_replicas(p.sla.availability)
    warm = p.sla.cold_start_budget_ms < pod_start or serves_http(p)
    min_replicas = max(1 if warm else 0, available)
    max_replicas = max(max_replicas, min_replicas)
    placement = gpu_placement(p, platform)
    cpu_millicores = 1000 * concurrency if not gpu else 4000
    memory_mb = math.ceil(p.model.memory_gb * 1024)
    # A GPU rollout replaces in place: surging would need a spare GPU nobody pays for, and the
    # availability replicas carry traffic meanwhile. A CPU rollout surges into cheap headroom,
    # which the cluster must hold: it is billed.
    surge = 0 if gpu else 1
    per_node, limit = replicas_per_node(
        platform,
        gpu=gpu,
        gpus=p.model.accelerator_count * placement.share if gpu else 0.0,
        millicores=cpu_millicores,
        memory_gb=memory_mb / 1024,
    )
    return KubernetesSizing(
        replica_concurrency=concurrency,
        replica_rps=replica_rps,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
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
        rollout_max_surge=surge,
        rollout_max_unavailable=1 if gpu else 0,
        cpu_millicores=cpu_millicores,
        memory_mb=memory_mb,
        image_gb=image_gb(p, platform, gpu_image=gpu),
        **parts,
        load_ms=parts["weights_ms"] + parts["deserialize_ms"],
        pod_start_ms=pod_start,
        first_start_ms=pod_start + parts["weights_copy_ms"],
        node_kind="gpu" if gpu else "cpu",
        billed_replicas=max_replicas + surge,
        replicas_per_node=per_node,
        packing_limit=limit,
        model_cache_gi=max(1, math.ceil(p.model.weights_gb * platform.model_cache_copies)),
        queue=queue_redis(p, platform, in_workers=max_replicas * concurrency) if uses_queue(p) else None,
    )


# Redis's own cost per object (64-bit, jemalloc). jemalloc rounds an allocation up to its size
# class, and classes are at most 25 % apart (four per doubling): a 4,096 B value plus its header
# takes a 5,120 B slot. Beyond the value: a string key with an expiry is a dict entry, the key and
# value objects and an entry in the expires dict (~100 B); a stream entry a listpack node of its
# own (a 4 KB entry fills one), its fields, the radix-tree node and, while it is worked, a
# pending-list node (~400 B). tests/test_redis_bounds.py measures both on a real redis-server:
# 5,208 B per 4 KB result (model 5,376), 5,482 B per 4 KB stream entry (model 5,632).
ALLOCATOR_ROUNDING = 1.25
RESULT_OVERHEAD_BYTES = 256
STREAM_ENTRY_OVERHEAD_BYTES = 512
REDIS_BASE_BYTES = 64 * 1024**2  # an empty Redis is ~1 MB; client buffers and scripts take the rest
# jemalloc's fragmentation (RSS ~1.1-1.4 x used memory) and the pages an AOF rewrite's fork copies
# while writes go on: the container gets half again the data bound, or the kernel OOM-kills Redis.
REDIS_LIMIT_FACTOR = 1.5
# The AOF grows to twice its rewritten size before the next rewrite (auto-aof-rewrite-percentage
# 100), and a rewrite writes a new copy beside it.
AOF_VOLUME_FACTOR = 3
MIB = 1024**2


def uses_queue(p: Profile) -> bool:
    """A Kubernetes replica works a Redis stream: async or both, a custom model (vLLM has no worker)."""
    return p.sla.mode is not Mode.sync and p.model.preset is not Preset.vllm


def results_held(p: Profile, ttl_hours: int) -> int:
    """Results alive at once: every message of the TTL window (whole days of traffic, then the rest)."""
    u = p.utilization
    days, rest_h = divmod(ttl_hours, 24)
    hours = days * u.active_hours_per_day + min(rest_h, u.active_hours_per_day)
    return math.ceil(u.avg_rps * hours * 3600)


def queue_redis(p: Profile, platform: Platform, *, in_workers: int) -> QueueSizing:
    ttl_h = platform.k8s_results_retention_hours
    held = results_held(p, ttl_h)
    result_bytes = math.ceil(platform.async_result_kb * 1024 * ALLOCATOR_ROUNDING) + RESULT_OVERHEAD_BYTES
    backlog = math.ceil(p.utilization.peak_rps * platform.queue_backlog_minutes * 60) + in_workers
    message_bytes = math.ceil(platform.async_message_kb * 1024 * ALLOCATOR_ROUNDING) + STREAM_ENTRY_OVERHEAD_BYTES
    dead = platform.queue_dead_letter_mb * MIB
    total = held * result_bytes + backlog * message_bytes + dead + REDIS_BASE_BYTES
    maxmemory_mb = math.ceil(total / MIB)
    return QueueSizing(
        results_held=held,
        result_bytes=result_bytes,
        backlog_messages=backlog,
        message_bytes=message_bytes,
        message_max_bytes=platform.async_message_max_kb * 1024,
        result_ttl_s=ttl_h * 3600,
        dead_letter_bytes=dead,
        base_bytes=REDIS_BASE_BYTES,
        maxmemory_mb=maxmemory_mb,
        memory_limit_mb=math.ceil(maxmemory_mb * REDIS_LIMIT_FACTOR),
        volume_gi=max(1, math.ceil(maxmemory_mb * AOF_VOLUME_FACTOR / 1024)),
    )
