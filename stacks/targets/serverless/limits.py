"""Serverless limits: what rules Lambda out (`limit.*`) or misses the SLA (`sla.*`), each a small
function of the facts returning its verdict and numbers. Adding a limit is adding a row to LIMITS.

- `limit.gpu`, `limit.memory`, `limit.image`, `limit.timeout`: Lambda's own limits (not adjustable).
- `limit.weights_region`: the VPC reaches S3 only through its gateway endpoint, which serves the
  platform's own region; weights elsewhere would hang the copy until it times out.
- `limit.reserved_concurrency`: a queued workload's SQS event source needs at least 2 concurrent
  executions (mode both: beside the sync peak) within the function's reservation; a quota that
  leaves less to reserve (e.g. lambda_account_concurrency <= 101 with 100 kept unreserved) cannot
  host it.
- `sla.latency`: a warm Lambda's latency must meet the p99 target.
- the account quota: a warning when the peak concurrency exceeds it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from stacks.decision.option import Facts
from stacks.decision.reason import Reason, cmp
from stacks.limits import LAMBDA_MAX_IMAGE_GB, LAMBDA_MAX_MEMORY_MB, LAMBDA_MAX_TIMEOUT_S
from stacks.pricebook import Platform
from stacks.profile import Gpu, Mode, Profile
from stacks.targets.serverless.sizing import ServerlessSizing

ServerlessFacts = Facts[ServerlessSizing]
Rule = Callable[[ServerlessFacts], list[Reason]]


def _reason(rule: str, fired: bool, detail: str) -> Reason:
    return Reason(rule=rule, fired=fired, detail=detail)


def limit_gpu(f: ServerlessFacts) -> list[Reason]:
    gpu = f.p.model.gpu
    need = gpu is Gpu.required
    text = "Lambda has no GPU" if need else "runs on Lambda's CPUs"
    return [Reason(rule="limit.gpu", fired=need, detail=f"gpu is {gpu.value}: {text}")]


def limit_memory(f: ServerlessFacts) -> list[Reason]:
    over = f.sizing.memory_mb > LAMBDA_MAX_MEMORY_MB
    return [
        Reason(
            rule="limit.memory",
            fired=over,
            detail=f"memory {f.sizing.memory_mb:,} MB {cmp(over)} Lambda's {LAMBDA_MAX_MEMORY_MB:,} MB",
        )
    ]


def limit_image(f: ServerlessFacts) -> list[Reason]:
    over = f.sizing.image_gb > LAMBDA_MAX_IMAGE_GB
    estimated = "" if f.p.model.image_gb is not None else " (estimated)"
    return [
        Reason(
            rule="limit.image",
            fired=over,
            detail=f"image {f.sizing.image_gb:g} GB{estimated} {cmp(over)} Lambda's {LAMBDA_MAX_IMAGE_GB:g} GB",
        )
    ]


def limit_timeout(f: ServerlessFacts) -> list[Reason]:
    over = f.p.sla.timeout_s > LAMBDA_MAX_TIMEOUT_S
    return [
        Reason(
            rule="limit.timeout",
            fired=over,
            detail=f"longest request {f.p.sla.timeout_s:,} s {cmp(over)} Lambda's {LAMBDA_MAX_TIMEOUT_S} s",
        )
    ]


def limit_weights_region(f: ServerlessFacts) -> list[Reason]:
    """A hard limit of the serverless platform (not of Lambda itself)."""
    p, platform = f.p, f.platform
    if not p.model.weights_in_s3:
        return []
    bucket_region = platform.weights_bucket_region or platform.region
    far = bucket_region != platform.region
    return [
        _reason(
            "limit.weights_region",
            far,
            f"weights bucket in {bucket_region} {'!=' if far else '=='} platform region {platform.region}"
            + (": the VPC has no NAT and its S3 gateway endpoint serves only its own region" if far else ""),
        )
    ]


SQS_MIN_CONCURRENCY = 2  # SQS event source maximum concurrency: 2-1000


def limit_reserved_concurrency(f: ServerlessFacts) -> list[Reason]:
    """The reservation must hold the queue's consumers (and, mode both, the sync peak beside them).

    Sizing caps the reservation at what the quota leaves and the queue at no fewer than SQS's
    minimum of 2: when the two cross, the event source would start consumers the reservation
    throttles (and, mode both, take the sync callers' share), so serverless cannot host it.
    """
    p, s, platform = f.p, f.sizing, f.platform
    if p.sla.mode is Mode.sync:
        return []
    sync_peak = math.ceil(s.peak_concurrency) if p.sla.mode is Mode.both else 0
    need = sync_peak + SQS_MIN_CONCURRENCY
    reservable = (
        platform.lambda_account_concurrency
        - platform.lambda_unreserved_concurrency
        - platform.lambda_reserved_by_others
    )
    short = s.reserved_concurrency < need
    beside = f" beside the sync peak {sync_peak}" if sync_peak else ""
    detail = (
        f"reserved concurrency {s.reserved_concurrency} {'<' if short else '>='} {need} "
        f"(the SQS event source's minimum of {SQS_MIN_CONCURRENCY} consumers{beside})"
    )
    if short:
        others = platform.lambda_reserved_by_others
        detail += (
            f": the account quota {platform.lambda_account_concurrency:,} leaves {max(0, reservable):,} to reserve "
            f"(Lambda keeps {platform.lambda_unreserved_concurrency:,} unreserved"
            + (f", other functions reserve {others:,}" if others else "")
            + "); the figures come from `aws lambda get-account-settings` (platform.lambda_account_concurrency, "
            "platform.lambda_reserved_by_others): raise the quota, or use mode sync"
        )
    return [_reason("limit.reserved_concurrency", short, detail)]


def limit_provisioned_within_reserved(f: ServerlessFacts) -> list[Reason]:
    """Lambda refuses provisioned concurrency above the function's reserved concurrency, and the
    reservation stops at what the account quota leaves: a provisioned ceiling past it cannot deploy."""
    s, platform = f.sizing, f.platform
    if not s.provisioned:
        return []
    over = s.pc_max > s.reserved_concurrency
    detail = (
        f"provisioned concurrency up to {s.pc_max:,} {'>' if over else '<='} the reserved concurrency "
        f"{s.reserved_concurrency:,} (Lambda refuses provisioned concurrency above a function's reservation)"
    )
    if over:
        detail += (
            f": the account quota {platform.lambda_account_concurrency:,} leaves no more to reserve (Lambda keeps "
            f"{platform.lambda_unreserved_concurrency:,} unreserved, other functions reserve "
            f"{platform.lambda_reserved_by_others:,}); raise the quota (platform.lambda_account_concurrency, from "
            "`aws lambda get-account-settings`), lower the peak, or use another target"
        )
    return [_reason("limit.provisioned_reserved", over, detail)]


def warm_latency(p: Profile, platform: Platform, label: str) -> list[Reason]:
    """A warm invocation (inference + Lambda's invoke overhead) against the p99 target: every
    Lambda-family target answers through the same invoke path."""
    if p.sla.mode is Mode.async_:
        return []
    u, overhead = p.utilization, platform.lambda_invoke_overhead_ms
    warm = u.inference_ms + overhead
    miss = warm > p.sla.p99_latency_ms
    return [
        Reason(
            rule="sla.latency",
            fired=miss,
            detail=f"warm {label} latency {u.inference_ms:g} + {overhead} ms invoke = {warm:g} ms "
            f"{cmp(miss)} p99 target {p.sla.p99_latency_ms:g} ms",
        )
    ]


def sla_latency(f: ServerlessFacts) -> list[Reason]:
    return warm_latency(f.p, f.platform, "Lambda")


def quota(f: ServerlessFacts) -> list[Reason]:
    if f.sizing.peak_concurrency > f.platform.lambda_account_concurrency:
        f.warnings.append(
            f"peak concurrency {f.sizing.peak_concurrency:,.0f} exceeds the account's Lambda quota "
            f"{f.platform.lambda_account_concurrency:,}: request an increase before deploying to serverless"
        )
    return []


LIMITS: list[Rule] = [
    limit_gpu,
    limit_memory,
    limit_image,
    limit_timeout,
    limit_weights_region,
    limit_reserved_concurrency,
    limit_provisioned_within_reserved,
    sla_latency,
    quota,
]
