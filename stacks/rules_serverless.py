"""Serverless rules the decision runs besides the hard limits: each a small function with its numbers.

- `limit.weights_region`: the VPC reaches S3 only through its gateway endpoint, which serves the
  platform's own region; weights elsewhere would hang the copy until it times out.
- `limit.reserved_concurrency`: a queued workload's SQS event source needs at least 2 concurrent
  executions (mode both: beside the sync peak) within the function's reservation; a quota that
  leaves less to reserve (e.g. lambda_account_concurrency <= 101 with 100 kept unreserved) cannot
  host it.
- `coldstart.weights_in_image`: small local weights baked into the image start faster and cost
  less than EFS (and need no VPC, file system or copy function).
- `coldstart.init_limit`: Lambda gives the init phase 10 s; an on-demand cold start beyond it
  is cut and re-run inside the first invocation, which then pays it twice (also outside the
  window of scheduled provisioned concurrency).
- `check_reserved_total`: reserved concurrency summed over the workloads of one plan must leave
  Lambda's unreserved minimum of the account quota, beside what other functions already reserve
  (stacks/lambda_quota.py, fed with `aws lambda get-account-settings`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from stacks.errors import DecisionError
from stacks.pricebook import DEFAULT_INSTALLATION, Settings
from stacks.profile import Mode, Profile, Target
from stacks.sizing import ServerlessSizing, lambda_cold_start, weights_fit_in_image

if TYPE_CHECKING:
    from stacks.decide import Reason, Workload

LAMBDA_INIT_LIMIT_MS = 10_000  # AWS Lambda: the init phase of an on-demand environment
STACK_PREFIX = "Switchyard-"  # workload stacks are Switchyard-<name>
PLATFORM_STACK = "Switchyard-Platform"  # the shared platform stack
ADDONS_FILE = "cluster-addons"  # k8s.out/cluster-addons.yaml: the add-ons (stacks/k8s/mocks.py)
INIT_LIMIT = "coldstart.init_limit"


def name_problems(p: Profile) -> list[tuple[tuple[str, ...], str, str | None, str | None]]:
    """Validation: a workload name must not collide with the platform stack's or the add-ons' output.

    CloudFormation compares stack names case-sensitively, but the cloud assembly's file names
    (Switchyard-Platform.template.json) and case-insensitive file systems do not.
    """
    if p.name == ADDONS_FILE:
        return [
            (
                ("name",),
                f"'{p.name}' would write its Kubernetes objects to k8s.out/{p.name}.yaml, the cluster add-ons' file",
                "any other DNS-1123 label",
                f"e.g. {p.name}-api",
            )
        ]
    stack = f"{STACK_PREFIX}{p.name}"
    if stack.lower() != PLATFORM_STACK.lower():
        return []
    return [
        (
            ("name",),
            f"'{p.name}' would name its stack {stack}, which collides with the shared platform stack {PLATFORM_STACK}",
            "any other DNS-1123 label",
            f"e.g. {p.name}-api",
        )
    ]


def _reason(rule: str, fired: bool, detail: str) -> Reason:
    from stacks.decide import Reason  # decide imports this module

    return Reason(rule=rule, fired=fired, detail=detail)


def serverless_limits(p: Profile, settings: Settings) -> list[Reason]:
    """Hard limits of the serverless platform (not of Lambda itself)."""
    platform = settings.platform
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


def reserved_limit(p: Profile, s: ServerlessSizing, settings: Settings) -> list[Reason]:
    """The reservation must hold the queue's consumers (and, mode both, the sync peak beside them).

    Sizing caps the reservation at what the quota leaves and the queue at no fewer than SQS's
    minimum of 2: when the two cross, the event source would start consumers the reservation
    throttles (and, mode both, take the sync callers' share), so serverless cannot host it.
    """
    if p.sla.mode is Mode.sync:
        return []
    platform = settings.platform
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


def serverless_rules(p: Profile, s: ServerlessSizing, settings: Settings) -> list[Reason]:
    return [*_weights_in_image(p, s, settings), _init_limit(p, s)]


def _weights_in_image(p: Profile, s: ServerlessSizing, settings: Settings) -> list[Reason]:
    if p.model.weights_in_s3:
        return []
    platform, prices = settings.platform, settings.prices
    gb = p.model.weights_gb
    if not weights_fit_in_image(p, platform):
        return [
            _reason(
                "coldstart.weights_in_image",
                False,
                f"local weights {gb:g} GB > platform image_weights_max_gb {platform.image_weights_max_gb:g} GB "
                "(or the image would pass 10 GB): weights on EFS",
            )
        ]
    efs = lambda_cold_start(p, platform).weights_ms
    image = lambda_cold_start(p, platform, weights_in_image=True).weights_ms
    saved = gb * (prices.efs_storage_gb_month_usd - prices.ecr_storage_gb_month_usd)
    return [
        _reason(
            "coldstart.weights_in_image",
            s.weights_in_image,
            f"local weights {gb:g} GB <= {platform.image_weights_max_gb:g} GB: read with the image in ~{image:,.0f} ms "
            f"instead of ~{efs:,.0f} ms from EFS, storage ${abs(saved):,.2f}/month {'less' if saved > 0 else 'more'} "
            "(ECR instead of EFS); "
            + ("baked into the image, no VPC, EFS or weights copy" if s.weights_in_image else "kept on EFS (no gain)"),
        )
    ]


def _init_limit(p: Profile, s: ServerlessSizing) -> Reason:
    """On-demand cold starts over the init limit: with no provisioned concurrency, or outside the
    window that scheduled provisioned concurrency covers (callers and queued messages still come)."""
    total = s.cold_start.total_ms
    on_demand = not s.provisioned or s.pc_scheduled
    over = on_demand and total > LAMBDA_INIT_LIMIT_MS
    if s.provisioned and not s.pc_scheduled:
        detail = f"cold start ~{total:,.0f} ms happens ahead of traffic (provisioned concurrency)"
    else:
        detail = (
            f"on-demand cold start ~{total:,.0f} ms {'>' if over else '<='} Lambda's "
            f"{LAMBDA_INIT_LIMIT_MS:,} ms init limit"
        )
        if s.pc_scheduled:
            detail = (
                f"provisioned concurrency covers {p.utilization.active_window} only; outside "
                f"{p.utilization.active_window} the {detail}"
            )
    if over:
        first = (
            "drop active_window (provisioned concurrency around the clock)"
            if s.pc_scheduled
            else "lower cold_start_budget_ms below it (provisioned concurrency)"
        )
        detail += (
            f": Lambda cuts the init and repeats it inside the first request; {first}, "
            "bake smaller weights into the image, or use target: kubernetes"
        )
    return _reason(INIT_LIMIT, over, detail)


def serverless_alarms(p: Profile, s: ServerlessSizing) -> list[str]:
    """The CloudWatch alarms a serverless workload stack creates (stacks/aws/alarms.py builds exactly
    these; the cost model may price them: one standard alarm each, plus one metric filter)."""
    from stacks.profile import Endpoint, Mode

    names = ["Errors", "Throttles", "DurationP99"]
    if s.provisioned:
        names.append("ProvisionedSpillover")
    names.append("ModelErrors")
    if p.sla.mode is not Mode.async_:
        names.append("HttpApi5xx" if p.sla.endpoint is Endpoint.http_api else "Url5xx")
    if p.sla.mode is not Mode.sync:
        names += ["QueueOldestMessage", "DeadLetters", "ResultWriteFailures"]
    names.append("ColdStartOverBudget")
    return names


def serverless_placement(
    p: Profile, s: ServerlessSizing, installation: str = DEFAULT_INSTALLATION
) -> dict[str, object]:
    """What a serverless workload owns and where callers find it (the stack outputs to read)."""
    from stacks.installation import platform_stack, workload_stack
    from stacks.profile import Endpoint, Mode

    stack = workload_stack(p.name, installation)
    reachable: dict[str, str] = {}
    if p.sla.mode is not Mode.async_:
        output = "HttpApiUrl" if p.sla.endpoint is Endpoint.http_api else "FunctionUrl"
        reachable["sync"] = f"{stack} output {output} (POST, SigV4-signed)"
    if p.sla.mode is not Mode.sync:
        reachable["async"] = (
            f"{stack} output QueueUrl; results in ResultsBucketName under results/<caller>/<id>.json (attach ResultsReadPolicyArn)"
        )
    return {
        "stacks": [stack],
        "shared": platform_stack(installation),
        "reachable": reachable,
        "alarms": serverless_alarms(p, s),
        "weights": "in the image" if s.weights_in_image else "on EFS",
    }


def serverless_warnings(reasons: Iterable[Reason], target: Target) -> list[str]:
    if target is not Target.serverless:
        return []
    return [r.detail for r in reasons if r.rule == INIT_LIMIT and r.fired]


def check_reserved_total(workloads: Iterable[Workload]) -> list[tuple[str, DecisionError]]:
    """(directory, error) per region whose serverless reservations exceed what the account leaves
    (stacks/lambda_quota.py: the quota, Lambda's unreserved minimum, other functions' reservations)."""
    from stacks.lambda_quota import settings_verdicts

    workloads = list(workloads)
    by_region = {}
    for w in workloads:
        if w.target is Target.serverless:
            by_region.setdefault(w.settings.platform.region, w)
    problems = []
    for verdict in settings_verdicts(workloads):
        if verdict.fits:
            continue
        where = str(by_region[verdict.region].file.parent)
        problems.append((where, DecisionError(where, verdict.message())))
    return problems
