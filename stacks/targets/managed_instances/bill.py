"""The managed-instances bill: the always-on instances (CPU, or GPU with platform.lmi_gpu), the
management fee on them and the request charge (no duration charge), plus the lines every Lambda
bill has, from the serverless bill's helpers: the queue and results, the image in ECR, traces,
logs, alarms and metrics.

No EFS: a managed-instances function takes its network from the capacity provider, so its weights
are in the image (stacks/aws/managed_instances.py).
"""

from __future__ import annotations

from stacks.decision.cost import DAYS_PER_MONTH, Bill, Cost, figure, monthly_requests
from stacks.pricebook import HOURS_PER_MONTH, PriceBook, Settings
from stacks.profile import Mode, Profile
from stacks.targets.managed_instances.accelerator import AcceleratorSizing
from stacks.targets.managed_instances.alarms import managed_instances_alarms
from stacks.targets.managed_instances.sizing import Demand, ManagedInstancesSizing, instance_hour_usd
from stacks.targets.managed_instances.workload import ManagedInstancesOption, demand
from stacks.targets.serverless.bill import ecr_line, observability_lines, queue_lines, request_paths


def instance_lines(
    bill: Bill,
    d: Demand,
    s: ManagedInstancesSizing,
    invocations: float,
    per_batch: str,
    accelerator: AcceleratorSizing | None = None,
) -> None:
    """Instances x hours of the always-on floor, the management fee on them, and the requests."""
    prices = bill.prices
    hourly, price = instance_hour_usd(prices, s.instance_type)
    hours = s.always_on_instances * HOURS_PER_MONTH
    environment = f"{s.environment_vcpus} vCPU"
    if accelerator is not None:
        environment += (
            f", {s.environment_memory_gb} GB and {accelerator.memory_gib} GiB of {accelerator.gpu_product} GPU memory"
        )
    spread = (
        f"{s.always_on_instances} {s.instance_type} always on ({s.min_environments} environment(s) of "
        f"{environment}, {s.environments_per_instance} per instance, three instances at least "
        f"for AZ spread) x {HOURS_PER_MONTH} h"
    )
    bill.add("instances", hours, "instance-hours", price, spread, unit_price=hourly)
    fee = prices.lmi_management_fee_share
    bill.add(
        "management_fee",
        hours,
        "instance-hours",
        "lmi_management_fee_share",
        f"{fee:.0%} of the {s.instance_type} on-demand price ${hourly:g}/h, on the same instance-hours",
        unit_price=fee * hourly,
    )
    bill.add(
        "requests",
        invocations / 1e6,
        "million requests",
        "lmi_requests_per_million_usd",
        f"{d.avg_rps:g} rps x {d.active_hours_per_day:g} h x 3600 s x {DAYS_PER_MONTH:.4f} d{per_batch}",
    )


def scaling_note(s: ManagedInstancesSizing) -> str:
    return (
        f"scaling above the floor (up to {s.max_environments} environments, {s.peak_instances} instances at the "
        f"peak) is billed while it lasts; the profile gives no peak duration, so it is not counted"
    )


def managed_instances_bill(d: Demand, s: ManagedInstancesSizing, prices: PriceBook) -> Cost:
    """The instances, their fee and one request each: the part of the bill that is LMI's own."""
    bill = Bill(prices)
    instance_lines(bill, d, s, d.monthly_requests, "")
    return Cost(lines=bill.lines, notes=[scaling_note(s)])


def managed_instances_cost(p: Profile, o: ManagedInstancesOption, settings: Settings) -> Cost:
    platform = settings.platform
    d = demand(p, settings)
    s = o.environment
    bill = Bill(settings.prices)
    notes: list[str] = []
    requests = monthly_requests(p)
    queued, direct = request_paths(p, platform, requests, notes)
    invocations = direct + queued / o.messages_per_invocation
    per_batch = f" / {o.messages_per_invocation:g} messages per batch" if o.messages_per_invocation != 1 else ""
    instance_lines(bill, d, s, invocations, per_batch, o.accelerator)
    if p.sla.mode is not Mode.sync:
        queue_lines(bill, queued, o.messages_per_invocation, platform)
    ecr_line(bill, p, o.image_gb, o.weights_in_image, platform)
    observability_lines(
        bill,
        p,
        platform,
        invocations=invocations,
        invocation_rate=p.utilization.avg_rps / o.messages_per_invocation,
        direct=direct,
        alarms=managed_instances_alarms(p),
        metrics=["ColdStart (Powertools)"],
    )
    notes.append(scaling_note(s))
    notes.append(f"{figure(requests)} requests/month, no duration charge ({s.architecture})")
    return Cost(lines=bill.lines, notes=notes)
