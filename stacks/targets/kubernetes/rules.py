"""Kubernetes rules that explain the sizing: pod start against the cold-start budget, replicas for
availability, GPU sharing and node packing, each a small function of the facts returning its
verdict and numbers. Kubernetes has no hard limit here: the cluster is sized to the workload.
"""

from __future__ import annotations

from collections.abc import Callable

from stacks.decision.capacity import allocatable
from stacks.decision.option import Facts
from stacks.decision.reason import Reason, cmp
from stacks.profile.vllm_args import gpu_memory_utilization
from stacks.targets.kubernetes.sizing import GPU_MEMORY_GB, MIG_PROFILES, KubernetesSizing, gpu_memory_gb, serves_http

KubernetesFacts = Facts[KubernetesSizing]
Rule = Callable[[KubernetesFacts], list[Reason]]


def pod_start_text(f: KubernetesFacts) -> str:
    k, pf, m = f.sizing, f.platform, f.p.model
    return (
        f"pod start ~{k.pod_start_ms:,.0f} ms (schedule {k.schedule_ms:,.0f} + image pull {k.image_gb:g} GB at "
        f"{pf.registry_pull_mb_per_s:g} MB/s {k.image_pull_ms:,.0f} + weights {m.weights_gb:g} GB from the model "
        f"cache at {pf.model_cache_read_mb_per_s:g} MB/s {k.weights_ms:,.0f} + deserialize {k.deserialize_ms:,.0f} "
        f"+ engine start {k.engine_start_ms:,.0f} + compile {k.compile_ms:,.0f}; a new weights version first copies "
        f"them at {pf.weights_copy_mb_per_s:g} MB/s, {k.weights_copy_ms:,.0f} more)"
    )


def coldstart_min_replicas(f: KubernetesFacts) -> list[Reason]:
    budget = f.p.sla.cold_start_budget_ms
    warm = f.sizing.pod_start_ms > budget
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
            detail=f"{pod_start_text(f)} {cmp(warm)} budget {budget:,.0f} ms: {then}",
        )
    ]


def sla_availability(f: KubernetesFacts) -> list[Reason]:
    k = f.sizing
    spread = " on separate nodes" if k.spread_across_nodes else ""
    return [
        Reason(
            rule="sla.availability",
            fired=k.availability_min_replicas > 0,
            detail=f"availability {f.p.sla.availability:g}%: kubernetes keeps {k.availability_min_replicas} warm "
            f"replica(s){spread}, min {k.min_replicas}",
        )
    ]


def gpu_share(f: KubernetesFacts) -> list[Reason]:
    k, pf, p = f.sizing, f.platform, f.p
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


def node_packing(f: KubernetesFacts) -> list[Reason]:
    k, pf = f.sizing, f.platform
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


RULES: list[Rule] = [coldstart_min_replicas, sla_availability, gpu_share, node_packing]
