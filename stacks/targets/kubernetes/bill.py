"""The kubernetes bill: the share of dedicated nodes held for the workload, its model cache, its
weights in the object store, and an async workload's Redis (memory and append-only volume).
"""

from __future__ import annotations

from stacks.decision.capacity import allocatable
from stacks.decision.cost import Bill, Cost
from stacks.pricebook import HOURS_PER_MONTH, Platform, PriceBook
from stacks.profile import Profile
from stacks.targets.kubernetes.queue import AOF_VOLUME_FACTOR, QueueSizing
from stacks.targets.kubernetes.sizing import KubernetesSizing


def kubernetes_cost(p: Profile, k: KubernetesSizing, prices: PriceBook, platform: Platform) -> Cost:
    """Dedicated bare metal is billed around the clock for the capacity held for the peak.

    A replica blocks 1 / replicas_per_node of a node: its requests, what the node keeps from
    pods, and what is stranded because another replica no longer fits (bin-packing). The
    capacity held is the peak's replicas plus a rollout's surge; scaling to the minimum at night
    frees capacity for other workloads but does not stop the bill.
    """
    bill = Bill(prices)
    if k.gpu_type:
        node_hour = prices.gpu_node_hour_usd[k.gpu_type]
        node = f"{k.gpu_type} node"
        share = {
            "none": f"{k.gpus_per_replica} GPU",
            "time-slicing": f"1/{round(1 / k.gpu_share)} GPU time-sliced",
            "mig": f"MIG {k.mig_profile}, 1/{round(1 / k.gpu_share)} GPU",
        }[k.gpu_sharing]
        name, price = "gpu_nodes", "gpu_node_hour_usd"
    else:
        node_hour = prices.cpu_node_hour_usd
        node = "CPU node"
        share = f"{k.cpu_millicores / 1000:g} vCPU, {k.memory_mb / 1024:g} GB"
        name, price = "cpu_nodes", "cpu_node_hour_usd"
    surge = f" + {k.rollout_max_surge} rollout surge" if k.rollout_max_surge else ""
    bill.add(
        name,
        k.billed_replicas * HOURS_PER_MONTH,
        "replica-hours",
        price,
        f"({k.max_replicas} replicas{surge}) x 730 h; a replica ({share}) is 1/{k.replicas_per_node} of a {node} "
        f"at ${node_hour:,.2f}/h ({k.packing_limit} limits the packing)",
        unit_price=node_hour / k.replicas_per_node,
    )
    bill.add(
        "model_cache",
        k.model_cache_gi,
        "GB-month",
        "model_cache_gb_month_usd",
        f"{p.model.weights_gb:g} GB weights x {platform.model_cache_copies:g} (current and previous version) = "
        f"{p.model.weights_gb * platform.model_cache_copies:,.4g} GB, in a volume of {k.model_cache_gi:,} GiB (whole GiB)",
    )
    bill.add("weights_storage", p.model.weights_gb, "GB-month", "s3_storage_gb_month_usd", "the weights in S3")
    if k.queue is not None:
        _queue_lines(bill, k.queue, prices, platform)
    return Cost(lines=bill.lines)


def _queue_lines(bill: Bill, q: QueueSizing, prices: PriceBook, platform: Platform) -> None:
    """The workload's Redis (redisMode deploy): its memory, held around the clock on a CPU node, and its volume."""
    _, node_gb = allocatable(platform, gpu=False)
    limit_gb = q.memory_limit_mb / 1024
    bill.add(
        "queue_redis",
        limit_gb * HOURS_PER_MONTH,
        "GB-hours",
        "cpu_node_hour_usd",
        f"{q.memory_limit_mb:,} MiB (maxmemory {q.maxmemory_mb:,} MiB: {q.results_held:,} results x {q.result_bytes:,} B "
        f"for {q.result_ttl_s // 3600} h + {q.backlog_messages:,} messages x {q.message_bytes:,} B + "
        f"{q.dead_letter_bytes // 1024**2} MiB dead letters + {q.base_bytes // 1024**2} MiB base; x1.5 for "
        f"fragmentation and the AOF rewrite) x 730 h, as a share of a CPU node's {node_gb:.1f} GB allocatable",
        unit_price=prices.cpu_node_hour_usd / node_gb,
    )
    bill.add(
        "queue_volume",
        q.volume_gi,
        "GB-month",
        "model_cache_gb_month_usd",
        f"the append-only file: {AOF_VOLUME_FACTOR} x maxmemory {q.maxmemory_mb:,} MiB (growth before a rewrite, and "
        f"its new copy) = {AOF_VOLUME_FACTOR * q.maxmemory_mb / 1024:,.2f} GiB, in a volume of {q.volume_gi:,} GiB",
    )
