"""Managed-instances limits and rules, each a small function of the facts returning its verdict
and numbers. Adding one is adding a row to LIMITS or RULES.

Limits (a fired `limit.*` rules the option out; a fired `sla.*` misses the SLA):
- `limit.gpu`: the c, m and r instance types have no GPU. GPU capacity providers (AcceleratorConfig)
  are modelled with platform.lmi_gpu (accelerator.py); then what they cannot run fires instead: a
  vLLM server, several GPUs per replica, a pinned GPU product or size no priced GPU type carries.
- `limit.accelerator_memory` (platform.lmi_gpu): the model's GPU memory above the largest
  AcceleratorMemorySize (48 GiB).
- `limit.memory`: each concurrent request is its own Python process holding one model copy, in an
  execution environment of at most 32 GB.
- `limit.image`, `limit.timeout`: the Lambda limits the function keeps on managed instances.
- `limit.weights`: the function runs in the platform VPC through its capacity provider, which takes
  no EFS mount: the weights must be baked into the image, so they must be local.
- `limit.scale`: the peak's environments and vCPUs within what one function and one capacity
  provider scale to (15,000 each).
- `limit.endpoint`: sync callers come through an HTTP API: a Function URL attaches only to an alias or
  the unpublished $LATEST (Lambda developer guide, "Lambda function URLs"), while a managed-instances
  function serves $LATEST.PUBLISHED; a URL on it is unverified, so it is not built.
- `sla.latency`: a warm environment's latency must meet the p99 target.
Rules (explain the sizing and the comparison; the bills decide):
- `lmi.environment`: the environment shape, its concurrency and what bounds it (its GPU memory on
  GPU instances), the floor.
- `lmi.break_even`: below the break-even volume the always-on floor costs more than Lambda on-demand
  (not for a GPU model: Lambda on-demand runs none).
- `lmi.burst`: traffic more than doubling within 5 min is throttled while LMI scales, so a peak over
  twice the average is served by the always-on floor alone: it holds the peak around the clock.
- `lmi.scale_to_zero`: the floor never goes to zero (scaling from zero is minutes, against the
  cold-start budget): a workload idle most of the day pays for it all month.
"""

from __future__ import annotations

from collections.abc import Callable

from stacks.decision.describe import workload_phrase
from stacks.decision.option import Facts
from stacks.decision.reason import Reason, cmp, usd
from stacks.limits import LAMBDA_MAX_IMAGE_GB, LAMBDA_MAX_TIMEOUT_S
from stacks.profile import Endpoint, Mode
from stacks.targets.managed_instances.accelerator import GPU_BOUND, GPU_CDK_VERSION, carried, gpu_problems
from stacks.targets.managed_instances.sizing import MAX_EXECUTION_ENVIRONMENTS, MAX_VCPU_COUNT
from stacks.targets.managed_instances.workload import ManagedInstancesOption
from stacks.targets.serverless.limits import warm_latency

LmiFacts = Facts[ManagedInstancesOption]
Rule = Callable[[LmiFacts], list[Reason]]


def limit_gpu(f: LmiFacts) -> list[Reason]:
    a = f.sizing.accelerator
    if not f.sizing.gpu:
        return [
            Reason(rule="limit.gpu", fired=False, detail=f"gpu is {f.p.model.gpu.value}: runs on the instances' CPUs")
        ]
    if a is None:
        detail = (
            "gpu is required: Lambda Managed Instances runs here on c, m and r instance types, which have no GPU; "
            "GPU capacity providers (AcceleratorConfig) are not modelled on this platform: platform.lmi_gpu: true in "
            f"platform.yaml models them for planning (synth needs aws-cdk-lib {GPU_CDK_VERSION}, which the package "
            f"registry does not serve); the workload: {workload_phrase(f.p)}; managed-instances allows gpu: none or "
            "optional (the model on the instances' CPUs)"
        )
        return [Reason(rule="limit.gpu", fired=True, detail=detail)]
    problems = gpu_problems(f.p, f.settings.prices, a.required_gib)
    memory_fits = f.p.model.memory_gb <= f.platform.lmi_function_memory_max_gb
    if f.sizing.misfit and not problems and a.required_gib is not None and memory_fits:
        problems = [f.sizing.misfit]  # no priced GPU type holds the environment: the sizing says why
    if problems:
        detail = (
            "gpu is required: " + "; ".join(problems) + f"; the workload: {workload_phrase(f.p)}; managed-instances "
            f"with a GPU allows model.preset: custom on one GPU product of {carried(f.settings.prices)}"
        )
    else:
        detail = (
            f"gpu is required: modelled on {a.gpu_product} ({f.sizing.environment.instance_type}) with "
            f"AcceleratorConfig (platform.lmi_gpu), x86_64 and an image; synth needs aws-cdk-lib {GPU_CDK_VERSION}"
        )
    return [Reason(rule="limit.gpu", fired=bool(problems), detail=detail)]


def limit_accelerator_memory(f: LmiFacts) -> list[Reason]:
    a = f.sizing.accelerator
    if a is None:
        return []
    largest = max(f.platform.lmi_accelerator_memory_gib)
    over = a.required_gib is None
    sizes = ", ".join(str(s) for s in sorted(f.platform.lmi_accelerator_memory_gib))
    detail = (
        f"GPU memory {a.need_gb:g} GB per environment (weights {f.p.model.weights_gb:g} GB x "
        f"{f.platform.gpu_memory_per_weight_gb:g}, platform.gpu_memory_per_weight_gb) {cmp(over)} the largest "
        f"AcceleratorMemorySize, {largest} GiB"
    )
    if over:
        detail += (
            f"; the workload: {workload_phrase(f.p)}; managed-instances allows a model whose weights x "
            f"{f.platform.gpu_memory_per_weight_gb:g} is at most {largest} GB (AcceleratorMemorySize {sizes} GiB)"
        )
    else:
        detail += f": {a.required_gib} GiB, the smallest of {sizes} that holds it"
    return [Reason(rule="limit.accelerator_memory", fired=over, detail=detail)]


def limit_memory(f: LmiFacts) -> list[Reason]:
    cap = f.platform.lmi_function_memory_max_gb
    over = f.sizing.misfit is not None and f.p.model.memory_gb > cap
    detail = (
        f"one model copy {f.p.model.memory_gb:g} GB per concurrent process {cmp(over)} a Lambda Managed "
        f"Instances environment's {cap} GB"
    )
    if over:
        detail += (
            f"; the workload: {workload_phrase(f.p)}; managed-instances allows model.memory_gb up to {cap} "
            "(platform.lmi_function_memory_max_gb)"
        )
    return [Reason(rule="limit.memory", fired=over, detail=detail)]


def limit_image(f: LmiFacts) -> list[Reason]:
    over = f.sizing.image_gb > LAMBDA_MAX_IMAGE_GB
    estimated = "" if f.p.model.image_gb is not None else " (estimated)"
    detail = (
        f"image with the weights {f.sizing.image_gb:g} GB{estimated} {cmp(over)} Lambda's {LAMBDA_MAX_IMAGE_GB:g} GB"
    )
    if over:
        detail += (
            f"; the workload: {workload_phrase(f.p)}; managed-instances allows an image of up to "
            f"{LAMBDA_MAX_IMAGE_GB:g} GB with its weights baked in (its functions mount no EFS)"
        )
    return [Reason(rule="limit.image", fired=over, detail=detail)]


def limit_timeout(f: LmiFacts) -> list[Reason]:
    over = f.p.sla.timeout_s > LAMBDA_MAX_TIMEOUT_S
    detail = f"longest request {f.p.sla.timeout_s:,} s {cmp(over)} Lambda's {LAMBDA_MAX_TIMEOUT_S} s"
    if over:
        detail += (
            f"; the workload: {workload_phrase(f.p)}; managed-instances allows sla.timeout_s up to "
            f"{LAMBDA_MAX_TIMEOUT_S}"
        )
    return [Reason(rule="limit.timeout", fired=over, detail=detail)]


def limit_weights(f: LmiFacts) -> list[Reason]:
    remote = not f.sizing.weights_in_image
    detail = (
        "Lambda Managed Instances needs a VPC: the instances run in the platform VPC's isolated subnets through "
        "the capacity provider, which takes no EFS mount, so the weights are baked into the image"
    )
    if remote:
        detail = (
            f"weights at {f.p.model.weights} cannot be baked into the image: `cdk deploy` builds it without "
            "credentials for s3:// sources, and the capacity provider's functions mount no EFS (the instances run "
            f"in the platform VPC's isolated subnets); the workload: {workload_phrase(f.p)}; managed-instances "
            "allows local weights (copy them beside the profile)"
        )
    return [Reason(rule="limit.weights", fired=remote, detail=detail)]


def limit_scale(f: LmiFacts) -> list[Reason]:
    if f.sizing.misfit:  # the environment is indicative: the misfit is the reason
        return []
    e = f.sizing.environment
    vcpus = e.peak_instances * e.instance_vcpus  # what the peak's instances have, not the provider's cap
    over = e.max_environments > MAX_EXECUTION_ENVIRONMENTS or vcpus > MAX_VCPU_COUNT
    detail = (
        f"the peak needs {e.max_environments:,} execution environments on {vcpus:,} vCPUs {cmp(over)} what one "
        f"function scales to ({MAX_EXECUTION_ENVIRONMENTS:,}) and one capacity provider launches ({MAX_VCPU_COUNT:,} "
        "vCPUs)"
    )
    if over:
        detail += (
            f"; the workload: {workload_phrase(f.p)}; managed-instances allows at most {MAX_EXECUTION_ENVIRONMENTS:,} "
            f"environments and {MAX_VCPU_COUNT:,} vCPUs at the peak"
        )
    return [Reason(rule="limit.scale", fired=over, detail=detail)]


def limit_endpoint(f: LmiFacts) -> list[Reason]:
    if f.p.sla.mode is Mode.async_:
        return []
    url = f.p.sla.endpoint is Endpoint.function_url
    detail = (
        "sla.endpoint function_url: a Function URL attaches only to an alias or the unpublished $LATEST, and a "
        f"Lambda Managed Instances function serves $LATEST.PUBLISHED; the workload: {workload_phrase(f.p)}; "
        "managed-instances allows sla.endpoint: http_api"
        if url
        else "sla.endpoint http_api: the HTTP API invokes the function's $LATEST.PUBLISHED version"
    )
    return [Reason(rule="limit.endpoint", fired=url, detail=detail)]


def sla_latency(f: LmiFacts) -> list[Reason]:
    return warm_latency(f.p, f.platform, "managed-instances")


def environment(f: LmiFacts) -> list[Reason]:
    e = f.sizing.environment
    indicative = " (indicative: the model does not fit)" if f.sizing.misfit else ""
    a = f.sizing.accelerator
    if a is not None:
        return [
            Reason(
                rule="lmi.environment",
                fired=True,
                detail=f"environments of {e.environment_vcpus} vCPU x {e.memory_gib_per_vcpu} GiB = "
                f"{e.environment_memory_gb} GB with {a.memory_gib} GiB of GPU memory{indicative}, one request at a "
                f"time ({GPU_BOUND}); {a.environments_per_gpu} per {a.gpu_product} GPU ({a.gpu_memory_gb:g} GB), "
                f"{e.environments_per_instance} per {e.instance_type} ({a.gpus_per_instance} GPU(s), bound by "
                f"{a.per_instance_bound}); {e.min_environments}-{e.max_environments} environments on "
                f"{e.always_on_instances}-{e.peak_instances} {e.instance_type}, the capacity provider scaling on GPU "
                f"utilization (target tracking); floor {e.floor_reason}",
            )
        ]
    return [
        Reason(
            rule="lmi.environment",
            fired=True,
            detail=f"environments of {e.environment_vcpus} vCPU x {e.memory_gib_per_vcpu} GiB = "
            f"{e.environment_memory_gb} GB{indicative}, {e.max_concurrency} concurrent request(s) each (one Python "
            f"process and model copy per request, bound by {e.concurrency_bound}); {e.min_environments}-"
            f"{e.max_environments} environments on {e.always_on_instances}-{e.peak_instances} {e.instance_type}: "
            f"floor {e.floor_reason}",
        )
    ]


def break_even(f: LmiFacts) -> list[Reason]:
    x = f.sizing.facts
    if f.sizing.accelerator is not None:
        return [
            Reason(
                rule="lmi.break_even",
                fired=False,
                detail="a GPU model has no Lambda on-demand alternative (Lambda runs no GPU): no break-even against "
                "it; the bills compare the always-on GPU floor with the other targets",
            )
        ]
    below = x.monthly_requests < x.break_even_requests_per_month
    return [
        Reason(
            rule="lmi.break_even",
            fired=below,
            detail=f"{x.monthly_requests:,.0f} requests/month {'<' if below else '>='} break-even "
            f"{x.break_even_requests_per_month:,.0f} against Lambda on-demand (floor {usd(x.floor_monthly_usd)}/month "
            f"/ ({usd(x.lambda_usd_per_request * 1e6)} - {usd(x.managed_usd_per_request * 1e6)} per million "
            f"requests at {f.sizing.lambda_memory_mb:,} MB)"
            + ("): the always-on floor costs more than paying per request" if below else ")"),
        )
    ]


def burst(f: LmiFacts) -> list[Reason]:
    x, e, u = f.sizing.facts, f.sizing.environment, f.p.utilization
    bursty = x.ramp > 2
    detail = (
        f"peak {u.peak_rps:g} rps = {x.ramp:.1f}x the average {u.avg_rps:g} rps; LMI scales asynchronously and "
        f"throttles traffic that more than doubles within {x.doubling_minutes:g} min"
    )
    if bursty:
        detail += (
            f" (following it takes ~{x.minutes_to_follow_ramp:.0f} min): only environments already running serve "
            f"such a burst, so the floor holds the peak around the clock, {e.min_environments} environments serving "
            f"{x.floor_rps:,.0f} rps"
        )
    else:
        detail += f": the floor's {x.floor_rps:,.0f} rps absorbs the peak within one doubling"
    return [Reason(rule="lmi.burst", fired=bursty, detail=detail)]


def scale_to_zero(f: LmiFacts) -> list[Reason]:
    x, e, u = f.sizing.facts, f.sizing.environment, f.p.utilization
    idle_h = 24 - u.active_hours_per_day
    budget_s = f.p.sla.cold_start_budget_ms / 1000
    wake_s = f.platform.lmi_scale_from_zero_s
    idle = idle_h >= 12
    return [
        Reason(
            rule="lmi.scale_to_zero",
            fired=idle,
            detail=f"no scale to zero: serving again from zero takes ~{wake_s:g} s (platform.lmi_scale_from_zero_s) "
            f"{cmp(wake_s > budget_s)} the cold-start budget {budget_s:g} s, so {e.min_environments} environments "
            f"on {e.always_on_instances} instances stay on ({usd(x.floor_monthly_usd)}/month); idle {idle_h:g} h/day"
            + (f": {usd(x.floor_monthly_usd * idle_h / 24)} of it pays for idle hours" if idle_h > 0 else ""),
        )
    ]


LIMITS: list[Rule] = [
    limit_gpu,
    limit_accelerator_memory,
    limit_memory,
    limit_image,
    limit_timeout,
    limit_weights,
    limit_scale,
    limit_endpoint,
    sla_latency,
]
RULES: list[Rule] = [environment, break_even, burst, scale_to_zero]
