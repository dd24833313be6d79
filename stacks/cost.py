"""Monthly cost of each target from the price book.

Every formula is written out with named inputs so a reader can redo it by hand; the tests do.
A month is 730 hours (AWS's convention), so a day is 730 / 24 of a month's days.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from stacks.pricebook import HOURS_PER_MONTH, Platform, PriceBook
from stacks.profile import Mode, Profile
from stacks.sizing import KubernetesSizing, ServerlessSizing

DAYS_PER_MONTH = HOURS_PER_MONTH / 24
SQS_REQUESTS_PER_MESSAGE = 3  # send, receive, delete


class Cost(BaseModel):
    """A monthly cost in USD with its line items (name -> USD)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    items: dict[str, float]
    notes: list[str] = []

    @property
    def total(self) -> float:
        return sum(self.items.values())


def monthly_requests(p: Profile) -> float:
    u = p.utilization
    return u.avg_rps * u.active_hours_per_day * 3600 * DAYS_PER_MONTH


def lambda_rates(prices: PriceBook, architecture: str) -> tuple[float, float, float]:
    """(on-demand duration, provisioned, duration while provisioned) per GB-s."""
    if architecture == "arm64":
        return prices.lambda_arm_gb_s_usd, prices.lambda_pc_arm_gb_s_usd, prices.lambda_pc_duration_arm_gb_s_usd
    return prices.lambda_x86_gb_s_usd, prices.lambda_pc_x86_gb_s_usd, prices.lambda_pc_duration_x86_gb_s_usd


def serverless_cost(
    p: Profile, s: ServerlessSizing, prices: PriceBook, platform: Platform, architecture: str | None = None
) -> Cost:
    arch = architecture or s.architecture
    on_demand_rate, pc_rate, pc_duration_rate = lambda_rates(prices, arch)
    gb = s.memory_mb / 1024
    requests = monthly_requests(p)
    duration_gb_s = requests * (p.utilization.inference_ms / 1000) * gb
    items: dict[str, float] = {}
    notes: list[str] = []
    if s.provisioned:
        # Warm environments are billed for every second they exist in the window; requests
        # they serve pay the lower duration rate, the overflow pays the on-demand rate.
        provisioned_gb_s = s.pc_min * gb * s.pc_hours_per_day * 3600 * DAYS_PER_MONTH
        on_pc = min(duration_gb_s, provisioned_gb_s)
        items["provisioned_concurrency"] = provisioned_gb_s * pc_rate
        items["duration_on_provisioned"] = on_pc * pc_duration_rate
        items["duration_on_demand"] = (duration_gb_s - on_pc) * on_demand_rate
        notes.append(f"{s.pc_min} provisioned x {gb:g} GB x {s.pc_hours_per_day:g} h/day")
    else:
        items["duration_on_demand"] = duration_gb_s * on_demand_rate
    items["requests"] = requests / 1e6 * prices.lambda_requests_per_million_usd
    if p.sla.mode is not Mode.sync:
        items["sqs"] = requests * SQS_REQUESTS_PER_MESSAGE / 1e6 * prices.sqs_requests_per_million_usd
    # Each day the fleet scales out from cold at least once; each new environment reads the
    # weights from EFS once (Elastic throughput bills per GB read).
    cold_starts = max(1, math.ceil(max(s.peak_concurrency, s.pc_max))) * DAYS_PER_MONTH
    items["efs_storage"] = p.model.weights_gb * prices.efs_storage_gb_month_usd
    items["efs_reads"] = cold_starts * p.model.weights_gb * prices.efs_elastic_read_gb_usd
    endpoints = len(platform.interface_endpoints)
    if endpoints:
        items["vpc_interface_endpoints"] = (
            endpoints * platform.availability_zones * HOURS_PER_MONTH * prices.vpc_interface_endpoint_az_hour_usd
        )
    notes.append(f"{requests:,.0f} requests/month, {duration_gb_s:,.0f} GB-s ({arch})")
    return Cost(items=items, notes=notes)


def kubernetes_cost(k: KubernetesSizing, prices: PriceBook, platform: Platform) -> Cost:
    """Dedicated bare metal is billed around the clock for the capacity held for the peak.

    The workload pays its share of nodes: GPUs for a GPU workload, the larger of its CPU and
    memory share for a CPU one. Scaling to the minimum at night frees capacity for other
    workloads but does not stop the bill, so the maximum replica count is what is costed.
    """
    if k.gpu_type:
        gpus = k.max_replicas * k.gpus_per_replica * k.gpu_share
        per_gpu_hour = prices.gpu_node_hour_usd[k.gpu_type] / platform.gpus_per_node
        nodes = math.ceil(gpus / platform.gpus_per_node - 1e-9)
        return Cost(
            items={"gpu_nodes": gpus * per_gpu_hour * HOURS_PER_MONTH},
            notes=[
                f"{gpus:g} x {k.gpu_type} at {per_gpu_hour:.3f} USD/GPU-h x 730 h ({nodes} node(s) of {platform.gpus_per_node})"
            ],
        )
    share = max(k.cpu_millicores / 1000 / platform.cpu_node_vcpus, k.memory_mb / 1024 / platform.cpu_node_memory_gb)
    return Cost(
        items={"cpu_nodes": k.max_replicas * share * prices.cpu_node_hour_usd * HOURS_PER_MONTH},
        notes=[f"{k.max_replicas} replica(s) x {share:.3f} of a CPU node x 730 h"],
    )
