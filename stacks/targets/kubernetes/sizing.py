"""Kubernetes sizing: replicas, GPUs and their sharing, pod start, and what the cluster holds for
the workload (bin-packing onto nodes), by Little's law.
"""

from __future__ import annotations

import math

from stacks.decision.capacity import replicas_per_node
from stacks.decision.sizing import Frozen, image_gb, read_ms
from stacks.decision.workload import Workload
from stacks.pricebook import Platform
from stacks.profile import Mode, Preset, Profile, Target
from stacks.targets.kubernetes.queue import QueueSizing, queue_redis, uses_queue


class KubernetesSizing(Frozen):
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


class GpuPlacement(Frozen):
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
    return p.model.uses_gpu


def pod_start_parts(p: Profile, platform: Platform, *, gpu: bool) -> dict[str, float]:
    """Schedule + image pull + weights (copy on a version's first start; cache read) + deserialize + engine + compile."""
    vllm = p.model.preset is Preset.vllm
    return {
        "schedule_ms": platform.pod_schedule_ms,
        "image_pull_ms": read_ms(image_gb(p, platform, gpu_image=gpu), platform.registry_pull_mb_per_s),
        "weights_copy_ms": read_ms(p.model.weights_gb, platform.weights_copy_mb_per_s),
        "weights_ms": read_ms(p.model.weights_gb, platform.model_cache_read_mb_per_s),
        "deserialize_ms": read_ms(p.model.weights_gb, platform.weights_deserialize_mb_per_s),
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


def kubernetes_sizing(w: Workload) -> KubernetesSizing:
    """The kubernetes option's sizing, typed: every workload has one, whichever target it chose."""
    return w.decision.sizing(Target.kubernetes, KubernetesSizing)
