"""Monthly cost of each target from the price book, as line items a finance team would recognise.

Each line is quantity x unit price, with the price book entry it comes from and how the quantity
was derived, so a reader can redo it by hand; the tests do. A month is 730 hours (AWS's
convention), so a day is 730 / 24 of a month's days. Each line is rounded to the cent and the
total is the sum of the lines, as on a bill. Free tiers are not counted.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict

from stacks.capacity import allocatable
from stacks.pricebook import HOURS_PER_MONTH, Platform, PriceBook, price_source
from stacks.profile import Endpoint, Mode, Profile
from stacks.rules_serverless import serverless_alarms
from stacks.sizing import KubernetesSizing, QueueSizing, ServerlessSizing

DAYS_PER_MONTH = HOURS_PER_MONTH / 24
GIB = 1024**3
# API Gateway HTTP API detailed metrics, per stage and route: Count, 4xx, 5xx, Latency,
# IntegrationLatency, DataProcessed (billed as custom metrics). Source: API Gateway developer guide.
HTTP_API_DETAILED_METRICS = 6


def cents(x: float) -> float:
    """Half-up to the cent, as a bill rounds; float noise below a millionth of a dollar is dropped first
    (109.5 GB x $0.03 is 3.2849999... in binary, and a bill says $3.29)."""
    return float(Decimal(repr(round(x, 6))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


class LineItem(BaseModel):
    """One line of the bill: quantity x unit price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    quantity: float
    unit: str  # what the quantity counts, e.g. "GB-s", "requests", "GB-month"
    unit_price_usd: float
    price: str  # the price book entry (prices.<price>) the unit price comes from
    source: str  # that entry's description and as_of date
    basis: str  # how the quantity was derived, with the numbers

    @property
    def exact_usd(self) -> float:
        return self.quantity * self.unit_price_usd

    @property
    def usd(self) -> float:
        return cents(self.exact_usd)


class Cost(BaseModel):
    """A monthly cost in USD made of line items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lines: list[LineItem]
    notes: list[str] = []

    @property
    def items(self) -> dict[str, float]:
        """name -> USD, lines of the same name summed."""
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.name] = cents(out.get(line.name, 0.0) + line.usd)
        return out

    @property
    def total(self) -> float:
        return cents(sum(line.usd for line in self.lines))


class _Bill:
    """Collects lines, pricing each from its price book entry."""

    def __init__(self, prices: PriceBook) -> None:
        self.prices = prices
        self.lines: list[LineItem] = []

    def add(
        self, name: str, quantity: float, unit: str, price: str, basis: str, *, unit_price: float | None = None
    ) -> None:
        value = getattr(self.prices, price) if unit_price is None else unit_price
        as_of = self.prices.as_of.get(price)  # type: ignore[call-overload]
        dated = f"as of {as_of.isoformat()}" if as_of else "set by your platform file or overrides"
        self.lines.append(
            LineItem(
                name=name,
                quantity=quantity,
                unit=unit,
                unit_price_usd=value,
                price=price,
                source=f"{price_source(price)} ({dated})",
                basis=basis,
            )
        )


def _n(x: float) -> str:
    return f"{x:,.4g}" if abs(x) < 1000 else f"{x:,.0f}"


def monthly_requests(p: Profile) -> float:
    u = p.utilization
    return u.avg_rps * u.active_hours_per_day * 3600 * DAYS_PER_MONTH


def lambda_rates(prices: PriceBook, architecture: str) -> tuple[str, str, str]:
    """Price book entries: (on-demand duration tier 1, provisioned, duration while provisioned) per GB-s."""
    if architecture == "arm64":
        return "lambda_arm_gb_s_usd", "lambda_pc_arm_gb_s_usd", "lambda_pc_duration_arm_gb_s_usd"
    return "lambda_x86_gb_s_usd", "lambda_pc_x86_gb_s_usd", "lambda_pc_duration_x86_gb_s_usd"


def _duration_tiers(bill: _Bill, gb_s: float, architecture: str, basis: str) -> None:
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


def alarm_names(p: Profile, s: ServerlessSizing) -> list[str]:
    """The CloudWatch alarms a serverless workload's stack creates (one list: stacks/aws/alarms.py checks it)."""
    return serverless_alarms(p, s)


def serverless_cost(
    p: Profile, s: ServerlessSizing, prices: PriceBook, platform: Platform, architecture: str | None = None
) -> Cost:
    arch = architecture or s.architecture
    u = p.utilization
    _, pc_price, pc_duration = lambda_rates(prices, arch)
    gb = s.memory_mb / 1024
    requests = monthly_requests(p)
    active_s = u.active_hours_per_day * 3600 * DAYS_PER_MONTH
    traffic = f"{u.avg_rps:g} rps x {u.active_hours_per_day:g} h x 3600 s x {DAYS_PER_MONTH:.4f} d"
    duration_gb_s = requests * (u.inference_ms / 1000) * gb
    duration_basis = f"{_n(requests)} requests x {u.inference_ms / 1000:g} s x {gb:g} GB ({arch})"
    bill = _Bill(prices)
    notes: list[str] = []
    # Each request takes one path. mode both splits them by an assumption the notes state.
    queued = {Mode.sync: 0.0, Mode.async_: 1.0}.get(p.sla.mode, platform.mode_both_queued_share) * requests
    direct = requests - queued
    if p.sla.mode is Mode.both:
        notes.append(
            f"mode both: {platform.mode_both_queued_share:.0%} of requests queued, the rest over HTTP "
            "(platform.mode_both_queued_share)"
        )

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
        bill.add("duration_on_provisioned", on_pc, "GB-s", pc_duration, f"{duration_basis}, within the provisioned")
        _duration_tiers(bill, duration_gb_s - on_pc, arch, "overflow beyond the provisioned environments")
    else:
        _duration_tiers(bill, duration_gb_s, arch, duration_basis)

    invocations = direct + queued / s.messages_per_invocation
    per_batch = f" / {s.messages_per_invocation:g} messages per batch" if s.messages_per_invocation != 1 else ""
    bill.add(
        "requests",
        invocations / 1e6,
        "million invocations",
        "lambda_requests_per_million_usd",
        f"{traffic} = {_n(requests)} requests{per_batch}",
    )
    if p.sla.mode is not Mode.sync:
        # Send one message each; Lambda receives and deletes a whole batch per request.
        sqs = queued * (1 + 2 / s.messages_per_invocation)
        bill.add(
            "sqs",
            sqs / 1e6,
            "million requests",
            "sqs_requests_per_million_usd",
            f"{_n(queued)} messages x (1 send + 2 / {s.messages_per_invocation:g} batched receive and delete)",
        )
        bill.add(
            "results_put",
            queued / 1000,
            "thousand PUTs",
            "s3_put_per_thousand_usd",
            f"one result object per message: {_n(queued)}",
        )
        bill.add(
            "results_get",
            queued / 1000,
            "thousand GETs",
            "s3_get_per_thousand_usd",
            f"each result read once by its client: {_n(queued)}",
        )
        stored_gb = queued / DAYS_PER_MONTH * platform.results_retention_days * platform.async_result_kb * 1024 / GIB
        bill.add(
            "results_storage",
            stored_gb,
            "GB-month",
            "s3_storage_gb_month_usd",
            f"{_n(queued / DAYS_PER_MONTH)} results/day x {platform.results_retention_days} days kept x "
            f"{platform.async_result_kb:g} KB",
        )

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
    bill.add(
        "ecr_storage",
        s.image_gb * platform.image_versions_kept,
        "GB-month",
        "ecr_storage_gb_month_usd",
        f"the function's image ({s.image_gb:g} GB"
        + (f", with {p.model.weights_gb:g} GB of weights" if s.weights_in_image else "")
        + f") x {platform.image_versions_kept} versions CDK's asset repository keeps until `cdk gc` "
        "(platform.image_versions_kept)",
    )

    invocation_rate = u.avg_rps / s.messages_per_invocation
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
    log_basis = f"{_n(invocations)} invocations x {platform.lambda_log_bytes_per_invocation} B"
    if http_api:
        bill.add(
            "http_api_requests",
            direct / 1e6,
            "million requests",
            "http_api_requests_per_million_usd",
            f"{_n(direct)} requests",
        )
        log_bytes += direct * platform.http_api_access_log_bytes
        log_basis += f" + {_n(direct)} access-log lines x {platform.http_api_access_log_bytes} B"
    bill.add("logs_ingestion", log_bytes / GIB, "GB", "cloudwatch_logs_ingest_gb_usd", log_basis)
    alarms = alarm_names(p, s)
    bill.add("alarms", len(alarms), "alarms", "cloudwatch_alarm_month_usd", ", ".join(alarms))
    # Metrics that exist all month: the cold-start duration (metric filter) and Powertools' ColdStart.
    # Error counts (ModelErrors, BadMessages, ...) bill only the hours they are emitted: not counted.
    metrics = 2 + (HTTP_API_DETAILED_METRICS if http_api else 0)
    bill.add(
        "custom_metrics",
        metrics,
        "metrics",
        "cloudwatch_metric_month_usd",
        "cold-start duration (metric filter), ColdStart (Powertools)"
        + (" + 6 HTTP API detailed metrics" if http_api else ""),
    )
    if platform.interface_endpoints and not s.weights_in_image:
        shared = shared_platform_cost(prices, platform).total
        notes.append(
            f"in the platform VPC: uses its interface endpoints (${shared:,.2f}/month), billed once to the "
            "shared platform, not to each workload"
        )
    notes.append(f"{requests:,.0f} requests/month, {duration_gb_s:,.0f} GB-s ({arch})")
    return Cost(lines=bill.lines, notes=notes)


def shared_platform_cost(prices: PriceBook, platform: Platform) -> Cost:
    """What the serverless platform stack costs once, whatever its workloads: the interface endpoints
    (per endpoint and AZ-hour). Workloads outside the VPC (weights in the image) never use them."""
    bill = _Bill(prices)
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


def kubernetes_cost(p: Profile, k: KubernetesSizing, prices: PriceBook, platform: Platform) -> Cost:
    """Dedicated bare metal is billed around the clock for the capacity held for the peak.

    A replica blocks 1 / replicas_per_node of a node: its requests, what the node keeps from
    pods, and what is stranded because another replica no longer fits (bin-packing). The
    capacity held is the peak's replicas plus a rollout's surge; scaling to the minimum at night
    frees capacity for other workloads but does not stop the bill.
    """
    bill = _Bill(prices)
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
        f"{p.model.weights_gb:g} GB weights x {platform.model_cache_copies:g} (current and previous version)",
    )
    bill.add("weights_storage", p.model.weights_gb, "GB-month", "s3_storage_gb_month_usd", "the weights in S3")
    if k.queue is not None:
        _queue_lines(bill, k.queue, prices, platform)
    return Cost(lines=bill.lines)


def _queue_lines(bill: _Bill, q: QueueSizing, prices: PriceBook, platform: Platform) -> None:
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
        f"the append-only file: 3 x maxmemory {q.maxmemory_mb:,} MiB (growth before a rewrite, and its new copy)",
    )
