"""Lambda Managed Instances (CPU): execution-environment sizing, monthly bill and the facts its rules read.

Pure functions of explicit inputs and the price book; the target (stacks/targets/managed_instances)
builds the Demand from a profile and calls them.

How Lambda Managed Instances (LMI) runs a Python model, and what the sizing takes from it:
- An execution environment has `v` vCPUs and `v x r` GB, r the memory per vCPU (2, 4 or 8 GiB,
  which are the c, m and r instance families). It serves up to `max_concurrency` requests at
  once, each in its own Python process that loads the model itself: concurrency is bounded by
  the vCPUs a prediction keeps busy and by the memory of one model copy per process.
- Environments run on EC2 instances of the allowed type, as many per instance as its vCPUs hold;
  LMI starts three instances by default for AZ resiliency, so the floor is at least three.
- Scaling is asynchronous (CPU and concurrency signals, no cold start per request): traffic that
  more than doubles within `platform.lmi_doubling_minutes` may be throttled while Lambda launches
  environments and instances. The floor holds the average by Little's law; a peak more than twice
  the average is a burst scaling cannot follow (the profile's peak is its busiest minute, and the
  doublings take minutes each), so only environments already running serve it: the floor then
  holds the peak itself. What counts is the traffic before the burst, not the floor's capacity:
  a floor that serves half the peak still throttles the rest of it.
- The floor is on around the clock (the CloudFormation scaling config is static) and billed as
  EC2 on-demand instance-hours plus the management fee; requests are billed per million, with
  no duration charge. Scaling above the floor for a peak is billed only while it lasts, which
  the profile does not say: it is left out of the bill and said so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from stacks.decision.cost import DAYS_PER_MONTH
from stacks.ec2_types import instance_shape
from stacks.pricebook import HOURS_PER_MONTH, Platform, PriceBook

ENVIRONMENT_VCPUS = (1, 2, 4, 8, 16)  # powers of two: environments pack whole instances of every size
# The lowest MaxVCpuCount aws-cdk-lib's CapacityProvider accepts (2.275 refuses fewer at synth; the Lambda
# API's own minimum is 2). A cap, not an allocation: the function's MaxExecutionEnvironments bounds what
# runs, so a cap above what the peak needs costs nothing.
CAPACITY_PROVIDER_MIN_VCPUS = 12
# The most a function scales to (FunctionScalingConfig) and a capacity provider launches (MaxVCpuCount).
MAX_EXECUTION_ENVIRONMENTS = 15000
MAX_VCPU_COUNT = 15000


class ManagedInstancesMisfit(ValueError):
    """The workload cannot run on Lambda Managed Instances with these settings; `str()` says why."""


@dataclass(frozen=True)
class Demand:
    """What the workload asks of LMI (from the profile: utilization, model.memory_gb)."""

    peak_rps: float
    avg_rps: float
    active_hours_per_day: float
    inference_ms: float
    memory_gb: float  # one model copy: what each concurrent Python process holds
    architecture: str  # x86_64 | arm64
    vcpus_per_request: float = 1.0  # vCPUs one prediction keeps busy (1: a Python predict() under the GIL)

    @property
    def inference_s(self) -> float:
        return self.inference_ms / 1000

    @property
    def monthly_requests(self) -> float:
        return self.avg_rps * self.active_hours_per_day * 3600 * DAYS_PER_MONTH


class ManagedInstancesSizing(BaseModel):
    """One capacity provider and function configuration, and the instances it keeps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    architecture: str
    memory_gib_per_vcpu: int  # ExecutionEnvironmentMemoryGiBPerVCpu
    environment_vcpus: int
    environment_memory_gb: int  # the function's MemorySize / 1024
    max_concurrency: int  # PerExecutionEnvironmentMaxConcurrency
    concurrency_bound: str  # what limits it: "vCPUs", "memory" or "the Python default"
    min_environments: int
    max_environments: int
    floor_reason: str  # what set min_environments
    instance_type: str
    instance_vcpus: int
    environments_per_instance: int
    always_on_instances: int
    peak_instances: int
    target_utilization: float

    @property
    def function_memory_mb(self) -> int:
        return self.environment_memory_gb * 1024

    @property
    def max_vcpus(self) -> int:
        """The capacity provider's MaxVCpuCount: every instance the peak needs, and no more than that
        unless aws-cdk-lib's minimum cap is more."""
        return max(CAPACITY_PROVIDER_MIN_VCPUS, self.peak_instances * self.instance_vcpus)


class ManagedInstancesFacts(BaseModel):
    """Numbers the target's rules read: break-even volume, bursts, scale to zero."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    monthly_requests: float
    floor_monthly_usd: float  # the always-on instances with their fee
    lambda_usd_per_request: float  # Lambda on-demand duration + request, same memory and architecture
    managed_usd_per_request: float  # LMI request charge
    break_even_requests_per_month: float  # above it the floor costs less than Lambda on-demand
    floor_rps: float  # what the floor serves at full concurrency, before any scaling
    ramp: float  # peak / average of the profile (inf when the average is 0)
    doubling_minutes: float
    minutes_to_follow_ramp: float  # how long LMI needs to follow traffic from the average to the peak
    floor_serves_peak: bool  # the always-on floor alone serves the peak, at full concurrency
    scales_to_zero: bool
    scale_to_zero_note: str


def _environments(rps: float, d: Demand, concurrency: int, utilization: float) -> int:
    """Little's law: environments that hold rps x inference time at the target utilization."""
    return math.ceil(rps * d.inference_s / (concurrency * utilization) - 1e-9) if rps > 0 else 0


def _instances(environments: int, per_instance: int, floor: int) -> int:
    return max(floor, math.ceil(environments / per_instance))


def _concurrency(d: Demand, vcpus: int, memory_gb: int, platform: Platform) -> tuple[int, str]:
    bounds = {
        "vCPUs": math.floor(vcpus / d.vcpus_per_request + 1e-9),
        "memory": math.floor(memory_gb / d.memory_gb + 1e-9),
        "the Python default": platform.lmi_python_concurrency_per_vcpu * vcpus,
    }
    bound = min(bounds, key=lambda k: bounds[k])
    return bounds[bound], bound


@dataclass(frozen=True)
class Floor:
    """Execution environments always on (`minimum`, and why) and at the peak (`maximum`)."""

    minimum: int
    maximum: int
    reason: str


def environment_floor(d: Demand, concurrency: int, platform: Platform) -> Floor:
    """The floor holds the average by Little's law, and the peak too when it is more than one doubling
    of the average (LMI throttles faster growth while it scales, for minutes: only environments
    already running serve such a burst); never below LMI's default of three."""
    u = platform.lmi_target_utilization
    for_average = _environments(d.avg_rps, d, concurrency, u)
    for_peak = _environments(d.peak_rps, d, concurrency, u)
    bursty = d.peak_rps > 2 * d.avg_rps
    floor = platform.lmi_min_execution_environments
    minimum = max(floor, for_average, for_peak if bursty else 0)
    ramp = d.peak_rps / d.avg_rps if d.avg_rps > 0 else math.inf
    reason = (
        f"{floor} by default, across Availability Zones"
        if minimum == floor
        else f"{for_average} for the average {d.avg_rps:g} rps at {u:.0%}"
        if minimum == for_average
        else f"{for_peak} to hold the peak ({d.peak_rps:g} rps) at {u:.0%}: it is {ramp:.1f}x the average, more "
        f"than the one doubling LMI's scaling follows within {platform.lmi_doubling_minutes:g} min"
    )
    return Floor(minimum, max(minimum, for_peak), reason)


def environment_shapes(platform: Platform) -> list[tuple[int, int, int]]:
    """(memory GiB per vCPU, vCPUs, GB) of every execution environment LMI allows with these settings."""
    return [
        (ratio, vcpus, vcpus * ratio)
        for ratio in sorted(platform.lmi_memory_gib_per_vcpu)
        for vcpus in ENVIRONMENT_VCPUS
        if platform.lmi_function_memory_min_gb <= vcpus * ratio <= platform.lmi_function_memory_max_gb
    ]


def always_on(environments: int, per_instance: int, platform: Platform) -> int:
    """Instances for `environments`, never fewer than LMI's default three (one per AZ)."""
    return _instances(environments, per_instance, platform.lmi_min_execution_environments)


def instance_hour_usd(prices: PriceBook, instance_type: str) -> tuple[float, str]:
    """An instance type's on-demand price and the price book entry it comes from (CPU or GPU types)."""
    if instance_type in prices.ec2_instance_hour_usd:
        return prices.ec2_instance_hour_usd[instance_type], "ec2_instance_hour_usd"
    return prices.ec2_gpu_instance_hour_usd[instance_type], "ec2_gpu_instance_hour_usd"


def _candidates(d: Demand, prices: PriceBook, platform: Platform) -> list[ManagedInstancesSizing]:
    shapes = [instance_shape(name) for name in prices.ec2_instance_hour_usd]
    out = []
    for ratio, vcpus, memory in environment_shapes(platform):
        concurrency, bound = _concurrency(d, vcpus, memory, platform)
        if concurrency < 1:
            continue
        floor = environment_floor(d, concurrency, platform)
        for shape in shapes:
            if shape.architecture != d.architecture or shape.gib_per_vcpu != ratio or shape.vcpus < vcpus:
                continue
            per_instance = shape.vcpus // vcpus
            environment = Environment(d.architecture, ratio, vcpus, memory, concurrency, bound)
            out.append(sizing_on(environment, floor, shape.name, shape.vcpus, per_instance, platform))
    return out


@dataclass(frozen=True)
class Environment:
    """What one execution environment is: the CPU and GPU candidates share it."""

    architecture: str
    gib_per_vcpu: int
    vcpus: int
    memory_gb: int
    concurrency: int
    concurrency_bound: str


def sizing_on(
    environment: Environment,
    floor: Floor,
    instance_type: str,
    instance_vcpus: int,
    per_instance: int,
    platform: Platform,
) -> ManagedInstancesSizing:
    """One candidate: an environment on an instance type, with the instances its floor and its peak
    keep running (the same rule for CPU and GPU candidates)."""
    e = environment
    return ManagedInstancesSizing(
        architecture=e.architecture,
        memory_gib_per_vcpu=e.gib_per_vcpu,
        environment_vcpus=e.vcpus,
        environment_memory_gb=e.memory_gb,
        max_concurrency=e.concurrency,
        concurrency_bound=e.concurrency_bound,
        min_environments=floor.minimum,
        max_environments=floor.maximum,
        floor_reason=floor.reason,
        instance_type=instance_type,
        instance_vcpus=instance_vcpus,
        environments_per_instance=per_instance,
        always_on_instances=always_on(floor.minimum, per_instance, platform),
        peak_instances=always_on(floor.maximum, per_instance, platform),
        target_utilization=platform.lmi_target_utilization,
    )


def size_managed_instances(d: Demand, prices: PriceBook, platform: Platform) -> ManagedInstancesSizing:
    """The cheapest environment shape and instance type for `d`: least always-on cost, then the
    fewest vCPUs at the peak, then the smallest environment. Raises ManagedInstancesMisfit."""
    if d.memory_gb > platform.lmi_function_memory_max_gb:
        raise ManagedInstancesMisfit(
            f"one model copy needs {d.memory_gb:g} GB; a Lambda Managed Instances execution environment has at "
            f"most {platform.lmi_function_memory_max_gb} GB (platform.lmi_function_memory_max_gb)"
        )
    candidates = _candidates(d, prices, platform)
    if not candidates:
        types = sorted(n for n in prices.ec2_instance_hour_usd if instance_shape(n).architecture == d.architecture)
        raise ManagedInstancesMisfit(
            f"no execution environment of {platform.lmi_memory_gib_per_vcpu} GiB per vCPU and at most "
            f"{platform.lmi_function_memory_max_gb} GB holds one {d.memory_gb:g} GB model process with "
            f"{d.vcpus_per_request:g} vCPU on the {d.architecture} instance types of prices.ec2_instance_hour_usd "
            f"({', '.join(types) or 'none'})"
        )
    hourly = prices.ec2_instance_hour_usd
    return min(
        candidates,
        key=lambda s: (
            s.always_on_instances * hourly[s.instance_type],
            s.peak_instances * hourly[s.instance_type],
            s.environment_vcpus,
            s.memory_gib_per_vcpu,
            s.instance_type,
        ),
    )


def managed_instances_facts(
    d: Demand, s: ManagedInstancesSizing, prices: PriceBook, platform: Platform, *, lambda_memory_gb: float
) -> ManagedInstancesFacts:
    """Break-even against Lambda on-demand (at `lambda_memory_gb`, the serverless sizing's memory,
    first duration tier), the bursts the floor absorbs, and why it never scales to zero."""
    hourly, _ = instance_hour_usd(prices, s.instance_type)
    floor_usd = s.always_on_instances * HOURS_PER_MONTH * hourly * (1 + prices.lmi_management_fee_share)
    gb_s = prices.lambda_arm_gb_s_usd if d.architecture == "arm64" else prices.lambda_x86_gb_s_usd
    lambda_per_request = d.inference_s * lambda_memory_gb * gb_s + prices.lambda_requests_per_million_usd / 1e6
    managed_per_request = prices.lmi_requests_per_million_usd / 1e6
    saving = lambda_per_request - managed_per_request
    floor_rps = s.min_environments * s.max_concurrency / d.inference_s
    ramp = d.peak_rps / d.avg_rps if d.avg_rps > 0 else math.inf
    minutes = platform.lmi_doubling_minutes * math.log2(ramp) if ramp > 1 else 0.0
    return ManagedInstancesFacts(
        monthly_requests=d.monthly_requests,
        floor_monthly_usd=floor_usd,
        lambda_usd_per_request=lambda_per_request,
        managed_usd_per_request=managed_per_request,
        break_even_requests_per_month=floor_usd / saving if saving > 0 else math.inf,
        floor_rps=floor_rps,
        ramp=ramp,
        doubling_minutes=platform.lmi_doubling_minutes,
        minutes_to_follow_ramp=minutes,
        floor_serves_peak=d.peak_rps <= floor_rps,
        scales_to_zero=False,
        scale_to_zero_note=(
            f"the floor of {s.min_environments} environments on {s.always_on_instances} instances runs and bills "
            "around the clock: LMI has no per-request cold start to wake from zero, and scaling up from nothing "
            "waits for instances to launch while requests are throttled"
        ),
    )
