"""The serverless bill: Lambda duration (by tier, or provisioned), requests, the queue and results,
EFS or the image, traces, logs, alarms and metrics; and the platform stack's own bill (the VPC's
interface endpoints), billed once whatever its workloads (shared_platform_cost).

A month is 730 hours (AWS's convention). Free tiers are not counted.
"""

from __future__ import annotations

from stacks.decision.cost import DAYS_PER_MONTH, GIB, Bill, Cost, figure, monthly_requests
from stacks.pricebook import HOURS_PER_MONTH, Platform, PriceBook
from stacks.profile import Endpoint, Mode, Profile
from stacks.simulate.traffic import BURST_MEAN_S, burst_parameters, shape_of
from stacks.simulate.window import BURST_S
from stacks.targets.serverless.alarms import METRICS_READ, alarm_metrics, serverless_alarms
from stacks.targets.serverless.simulation import window_of
from stacks.targets.serverless.sizing import ServerlessSizing

# API Gateway HTTP API detailed metrics, per stage and route: Count, 4xx, 5xx, Latency,
# IntegrationLatency, DataProcessed (billed as custom metrics). Source: API Gateway developer guide.
HTTP_API_DETAILED_METRICS = 6


def lambda_rates(prices: PriceBook, architecture: str) -> tuple[str, str, str]:
    """Price book entries: (on-demand duration tier 1, provisioned, duration while provisioned) per GB-s."""
    if architecture == "arm64":
        return "lambda_arm_gb_s_usd", "lambda_pc_arm_gb_s_usd", "lambda_pc_duration_arm_gb_s_usd"
    return "lambda_x86_gb_s_usd", "lambda_pc_x86_gb_s_usd", "lambda_pc_duration_x86_gb_s_usd"


def duration_tiers(bill: Bill, gb_s: float, architecture: str, basis: str) -> None:
    """On-demand duration split over the monthly tiers (tier 1 always shown)."""
    prices = bill.prices
    arm = architecture == "arm64"
    first = "lambda_arm_gb_s_usd" if arm else "lambda_x86_gb_s_usd"
    more = "lambda_arm_gb_s_tiers_usd" if arm else "lambda_x86_gb_s_tiers_usd"
    limits = prices.lambda_arm_tier_limits_gb_s if arm else prices.lambda_x86_tier_limits_gb_s
    rates = [(first, getattr(prices, first))] + [(more, r) for r in getattr(prices, more)]
    bounds = [0.0, *limits, float("inf")]
    for i, (price, rate) in enumerate(rates):
        lo, hi = bounds[i], bounds[min(i + 1, len(bounds) - 1)]
        part = max(0.0, min(gb_s, hi) - lo)
        if i and part <= 0:
            break
        name = "duration_on_demand" if i == 0 else f"duration_on_demand_tier{i + 1}"
        bill.add(name, part, "GB-s", price, basis if i == 0 else f"GB-s above {lo:,.0f} a month", unit_price=rate)


def results_lines(bill: Bill, queued: float, platform: Platform) -> None:
    """The results bucket: one object per queued message, put once, read once, kept for the retention."""
    bill.add(
        "results_put",
        queued / 1000,
        "thousand PUTs",
        "s3_put_per_thousand_usd",
        f"one result object per message: {figure(queued)}",
    )
    bill.add(
        "results_get",
        queued / 1000,
        "thousand GETs",
        "s3_get_per_thousand_usd",
        f"each result read once by its client: {figure(queued)}",
    )
    stored_gb = queued / DAYS_PER_MONTH * platform.results_retention_days * platform.async_result_kb * 1024 / GIB
    bill.add(
        "results_storage",
        stored_gb,
        "GB-month",
        "s3_storage_gb_month_usd",
        f"{figure(queued / DAYS_PER_MONTH)} results/day x {platform.results_retention_days} days kept x "
        f"{platform.async_result_kb:g} KB",
    )


def serverless_cost(
    p: Profile, s: ServerlessSizing, prices: PriceBook, platform: Platform, architecture: str | None = None
) -> Cost:
    arch = architecture or s.architecture
    u = p.utilization
    _, pc_price, pc_duration = lambda_rates(prices, arch)
    gb = s.memory_mb / 1024
    requests = monthly_requests(p)
    traffic = f"{u.avg_rps:g} rps x {u.active_hours_per_day:g} h x 3600 s x {DAYS_PER_MONTH:.4f} d"
    duration_gb_s = requests * (u.inference_ms / 1000) * gb
    duration_basis = f"{figure(requests)} requests x {u.inference_ms / 1000:g} s x {gb:g} GB ({arch})"
    bill = Bill(prices)
    notes: list[str] = []
    queued, direct = request_paths(p, platform, requests, notes)

    if s.provisioned:
        # Warm environments are billed for every second they exist, from the pre-warm to the
        # window's end; requests they serve pay the lower duration rate, the overflow on-demand.
        provisioned_gb_s = s.pc_min * gb * s.pc_hours_per_day * 3600 * DAYS_PER_MONTH
        # mode both: queued requests run on $LATEST, outside the provisioned alias (stacks/aws/workload.py).
        on_pc = min(
            duration_gb_s * (direct / requests if requests and p.sla.mode is Mode.both else 1), provisioned_gb_s
        )
        hours = (
            f"({s.pc_hours_per_day - s.pc_prewarm_minutes / 60:g} h + {s.pc_prewarm_minutes} min pre-warm)"
            if s.pc_scheduled
            else "24 h"
        )
        bill.add(
            "provisioned_concurrency",
            provisioned_gb_s,
            "GB-s",
            pc_price,
            f"{s.pc_min} environment(s) x {gb:g} GB x {hours} x 3600 s x {DAYS_PER_MONTH:.4f} d",
        )
        spill_gb_s, moved_gb_s, spill_basis, moved_basis = burst_spill(p, s)
        # Every figure either line subtracts or adds is printed in its basis, so each multiplies out.
        pc_basis = duration_basis + moved_basis
        if on_pc >= duration_gb_s - moved_gb_s:
            on_pc = duration_gb_s - moved_gb_s
        elif on_pc == provisioned_gb_s:
            pc_basis += f", capped at the provisioned {figure(provisioned_gb_s)} GB-s"
        else:
            pc_basis += f", the {figure(direct)} synchronous requests' share"
        overflow = duration_gb_s - moved_gb_s - on_pc
        bill.add("duration_on_provisioned", on_pc, "GB-s", pc_duration, f"{pc_basis}, within the provisioned")
        duration_tiers(
            bill,
            overflow + spill_gb_s,
            arch,
            f"overflow beyond the provisioned environments {overflow:,.2f} GB-s" + spill_basis,
        )
    else:
        duration_tiers(bill, duration_gb_s, arch, duration_basis)

    invocations = direct + queued / s.messages_per_invocation
    per_batch = f" / {s.messages_per_invocation:g} messages per batch" if s.messages_per_invocation != 1 else ""
    bill.add(
        "requests",
        invocations / 1e6,
        "million invocations",
        "lambda_requests_per_million_usd",
        f"{traffic} = {figure(requests)} requests{per_batch}",
    )
    if p.sla.mode is not Mode.sync:
        queue_lines(bill, queued, s.messages_per_invocation, platform)

    cold_starts = s.cold_starts_per_day * DAYS_PER_MONTH
    if s.weights_in_image:
        notes.append("weights baked into the image: stored in ECR, read with the image")
    else:
        bill.add("efs_storage", p.model.weights_gb, "GB-month", "efs_storage_gb_month_usd", "one copy of the weights")
        bill.add(
            "efs_reads",
            cold_starts * p.model.weights_gb,
            "GB",
            "efs_elastic_read_gb_usd",
            f"({s.environments} started at the daily peak + {s.warm_environments} warm x {s.recycles_per_day} "
            f"recycled, every {platform.lambda_environment_lifetime_h:g} h of {u.active_hours_per_day:g} active) "
            f"x {DAYS_PER_MONTH:.4f} d x {p.model.weights_gb:g} GB",
        )
        bill.add("weights_storage", p.model.weights_gb, "GB-month", "s3_storage_gb_month_usd", "the weights in S3")
    ecr_line(bill, p, s.image_gb, s.weights_in_image, platform)

    observability_lines(
        bill,
        p,
        platform,
        invocations=invocations,
        invocation_rate=u.avg_rps / s.messages_per_invocation,
        direct=direct,
        alarms=serverless_alarms(p, s),
        metrics=["cold starts over the budget (metric filter)", "ColdStart (Powertools)"],
    )
    if platform.interface_endpoints and not s.weights_in_image:
        shared = shared_platform_cost(prices, platform).total
        notes.append(
            f"in the platform VPC: uses its interface endpoints (${shared:,.2f}/month), billed once to the "
            "shared platform, not to each workload"
        )
    notes.append(f"{requests:,.0f} requests/month, {duration_gb_s:,.0f} GB-s ({arch})")
    return Cost(lines=bill.lines, notes=notes)


def burst_spill(p: Profile, s: ServerlessSizing) -> tuple[float, float, str, str]:
    """(on-demand GB-s, GB-s they take off the provisioned, the on-demand line's basis, the provisioned
    line's) a month of the profile's bursts spills past the provisioned floor, from the simulated burst
    (stacks/targets/serverless/simulation.py): an on-demand environment bills its cold start too. Bursts
    a month: the burst model's share of the active time over its mean length (stacks/simulate/traffic.py)."""
    if not s.burst_on_demand_invocations:
        return 0.0, 0.0, "", ""
    u, gb = p.utilization, s.memory_mb / 1024
    share, _ = burst_parameters(shape_of(p))
    bursts = share * u.active_hours_per_day * 3600 / BURST_MEAN_S * DAYS_PER_MONTH
    spill = s.burst_on_demand_s * gb * bursts
    moved = s.burst_on_demand_invocations * (u.inference_ms / 1000) * gb * bursts
    cut = window_of(p).burst_s
    where = (
        "in the simulated burst"
        if cut >= BURST_S
        else f"in a {BURST_S:g} s burst (extrapolated from the simulated one, cut to {cut:g} s)"
    )
    basis = (
        f"; and each burst's spill: {s.burst_on_demand_invocations:,} on-demand invocations, "
        f"{s.burst_on_demand_s:,.3f} s with their cold starts, {where} x {gb:g} GB x "
        f"{bursts:,.2f} bursts a month"
    )
    moved_basis = (
        f", less the bursts' spill: {s.burst_on_demand_invocations:,} on-demand invocations x "
        f"{u.inference_ms / 1000:g} s x {gb:g} GB x {bursts:,.2f} bursts a month"
    )
    return spill, moved, basis, moved_basis


# The lines every Lambda bill has, whatever runs the function (Lambda's fleet or managed instances).


def request_paths(p: Profile, platform: Platform, requests: float, notes: list[str]) -> tuple[float, float]:
    """(queued, direct): each request takes one path; mode both splits them by an assumption the notes state."""
    queued = {Mode.sync: 0.0, Mode.async_: 1.0}.get(p.sla.mode, platform.mode_both_queued_share) * requests
    if p.sla.mode is Mode.both:
        notes.append(
            f"mode both: {platform.mode_both_queued_share:.0%} of requests queued, the rest over HTTP "
            "(platform.mode_both_queued_share)"
        )
    return queued, requests - queued


def queue_lines(bill: Bill, queued: float, per_invocation: float, platform: Platform) -> None:
    """The async path: SQS requests, one result object per message written, read once and kept."""
    # Send one message each; Lambda receives and deletes a whole batch per request.
    sqs = queued * (1 + 2 / per_invocation)
    bill.add(
        "sqs",
        sqs / 1e6,
        "million requests",
        "sqs_requests_per_million_usd",
        f"{figure(queued)} messages x (1 send + 2 / {per_invocation:g} batched receive and delete)",
    )
    results_lines(bill, queued, platform)


def ecr_line(bill: Bill, p: Profile, image_gb: float, weights_in_image: bool, platform: Platform) -> None:
    bill.add(
        "ecr_storage",
        image_gb * platform.image_versions_kept,
        "GB-month",
        "ecr_storage_gb_month_usd",
        f"the function's image ({image_gb:g} GB"
        + (f", with {p.model.weights_gb:g} GB of weights" if weights_in_image else "")
        + f") x {platform.image_versions_kept} versions CDK's asset repository keeps until `cdk gc` "
        "(platform.image_versions_kept)",
    )


def observability_lines(
    bill: Bill,
    p: Profile,
    platform: Platform,
    *,
    invocations: float,
    invocation_rate: float,
    direct: float,
    alarms: list[str],
    metrics: list[str],
) -> None:
    """Traces, the HTTP API's requests, logs, the alarms and the metrics that exist all month."""
    u = p.utilization
    active_s = u.active_hours_per_day * 3600 * DAYS_PER_MONTH
    per_s = min(invocation_rate, platform.xray_reservoir_per_s) + platform.xray_sampling_rate * max(
        0.0, invocation_rate - platform.xray_reservoir_per_s
    )
    bill.add(
        "xray_traces",
        per_s * active_s / 1e6,
        "million traces",
        "xray_traces_per_million_usd",
        f"{per_s:.4g} traces/s (first {platform.xray_reservoir_per_s:g}/s, then {platform.xray_sampling_rate:.0%} "
        f"of {invocation_rate:g} invocations/s) x {u.active_hours_per_day:g} h x 3600 s x {DAYS_PER_MONTH:.4f} d",
    )
    http_api = p.sla.mode is not Mode.async_ and p.sla.endpoint is Endpoint.http_api
    log_bytes = invocations * platform.lambda_log_bytes_per_invocation
    log_basis = f"{figure(invocations)} invocations x {platform.lambda_log_bytes_per_invocation} B"
    if http_api:
        bill.add(
            "http_api_requests",
            direct / 1e6,
            "million requests",
            "http_api_requests_per_million_usd",
            f"{figure(direct)} requests",
        )
        log_bytes += direct * platform.http_api_access_log_bytes
        log_basis += f" + {figure(direct)} access-log lines x {platform.http_api_access_log_bytes} B"
    bill.add("logs_ingestion", log_bytes / GIB, "GB", "cloudwatch_logs_ingest_gb_usd", log_basis)
    math_alarms = [f"{name} {n}" for name, n in METRICS_READ.items() if name in alarms]
    bill.add(
        "alarms",
        alarm_metrics(alarms),
        "alarm metrics",
        "cloudwatch_alarm_month_usd",
        ", ".join(alarms) + (f" (metric math, metrics read: {', '.join(math_alarms)})" if math_alarms else ""),
    )
    # Metrics that exist all month; error counts (ModelErrors, BadMessages, ...) bill only the hours
    # they are emitted: not counted.
    bill.add(
        "custom_metrics",
        len(metrics) + (HTTP_API_DETAILED_METRICS if http_api else 0),
        "metrics",
        "cloudwatch_metric_month_usd",
        ", ".join(metrics) + (" + 6 HTTP API detailed metrics" if http_api else ""),
    )


def shared_platform_cost(prices: PriceBook, platform: Platform) -> Cost:
    """What the serverless platform stack costs once, whatever its workloads: the interface endpoints
    (per endpoint and AZ-hour). Workloads outside the VPC (weights in the image) never use them."""
    bill = Bill(prices)
    endpoints = len(platform.interface_endpoints)
    if endpoints:
        bill.add(
            "vpc_interface_endpoints",
            endpoints * platform.availability_zones * HOURS_PER_MONTH,
            "endpoint-AZ-hours",
            "vpc_interface_endpoint_az_hour_usd",
            f"{endpoints} endpoint(s) ({', '.join(platform.interface_endpoints)}) x {platform.availability_zones} AZ x 730 h",
        )
    return Cost(lines=bill.lines)
