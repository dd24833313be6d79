"""Serverless sizing: one Lambda function's memory, concurrency, provisioned concurrency, queue and
cold starts, by Little's law (concurrency = arrival rate x time in system).
"""

from __future__ import annotations

import math

from stacks.decision.sizing import Frozen, image_gb, read_ms
from stacks.decision.workload import Workload
from stacks.limits import LAMBDA_MAX_IMAGE_GB, LAMBDA_MIN_MEMORY_MB
from stacks.pricebook import Platform, PriceBook
from stacks.profile import Mode, Profile, Target


class ColdStart(Frozen):
    """Estimated Lambda cold start and its parts, in ms (every term is shown in the plan)."""

    base_ms: float  # runtime init: micro-VM, Python runtime, EFS mount
    image_ms: float  # lazy image fetch
    imports_ms: float  # importing the handler and its dependencies
    weights_ms: float  # reading the weights (EFS, or the image when baked in)
    deserialize_ms: float  # turning the bytes into the model in memory

    @property
    def total_ms(self) -> float:
        return self.base_ms + self.image_ms + self.imports_ms + self.weights_ms + self.deserialize_ms


class ServerlessSizing(Frozen):
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
    # From the simulated burst (stacks/targets/serverless/simulation.py); None: not simulated (a hard
    # limit rules Lambda out, so there is nothing to size for).
    # What the averages' sizing would have let callers live through, where the simulation raised it.
    raised_by_simulation: str = ""
    # The burst's peak of environments when it, not twice the averages' peak, set the reservation.
    reserved_for_simulated_peak: int = 0
    # Share of the burst's requests paying a cold start over the budget, at the floor chosen (sync).
    simulated_cold_share: float | None = None
    # Provisioned: what spilled onto on-demand environments in the simulated burst window (billed).
    burst_on_demand_invocations: int = 0
    burst_on_demand_s: float = 0.0  # their billed duration, cold starts included
    burst_on_demand_share: float | None = None  # of the burst's invocations, those beyond the provisioned


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
    """Runtime init + lazy image fetch + imports + weights read + deserialization."""
    read_rate = platform.lambda_image_read_mb_per_s if weights_in_image else platform.efs_read_mb_per_s
    return ColdStart(
        base_ms=platform.lambda_runtime_init_ms,
        image_ms=image_gb(p, platform, gpu_image=False) * platform.lambda_image_fetch_ms_per_gb,
        imports_ms=platform.lambda_imports_ms,
        weights_ms=read_ms(p.model.weights_gb, read_rate),
        deserialize_ms=read_ms(p.model.weights_gb, platform.weights_deserialize_mb_per_s),
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
    # keep theirs (lambda_reserved_by_others); the sum over workloads is checked in
    # stacks/targets/serverless/fleet.py (check_reserved_total).
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


def serverless_sizing(w: Workload) -> ServerlessSizing:
    """The serverless option's sizing, typed: every workload has one, whichever target it chose."""
    return w.decision.sizing(Target.serverless, ServerlessSizing)
