"""From a profile to the managed-instances option's sizing: the Demand, the cheapest environment
shape (sizing.py), the facts its rules read, and what the function around it needs (timeout,
image, the SQS event source).

The decision sizes every target for every profile, so a workload Lambda Managed Instances cannot
hold (a GPU, a model copy over 32 GB) still gets a sizing: the largest model copy that fits,
flagged `misfit`, for an indicative bill; limit.memory / limit.gpu rule the option out.
"""

from __future__ import annotations

from stacks.decision.sizing import Frozen, image_gb
from stacks.decision.workload import Workload
from stacks.limits import LAMBDA_MAX_IMAGE_GB
from stacks.pricebook import Settings
from stacks.profile import Gpu, Mode, Profile, Target
from stacks.targets.managed_instances.sizing import (
    Demand,
    ManagedInstancesFacts,
    ManagedInstancesMisfit,
    ManagedInstancesSizing,
    managed_instances_facts,
    size_managed_instances,
)
from stacks.targets.serverless.sizing import SQS_BATCH_WINDOW_S, SQS_MAX_CONSUMERS, lambda_memory_mb, sqs_batch_size

SQS_MIN_CONSUMERS = 2  # an SQS event source's maximum concurrency accepts 2-1000


class ManagedInstancesOption(Frozen):
    """What the managed-instances option holds: the environment shape and the function around it."""

    environment: ManagedInstancesSizing
    facts: ManagedInstancesFacts
    misfit: str | None = None  # why LMI cannot hold this model; the environment is then indicative
    gpu: bool  # the profile requires a GPU (none of the c/m/r instance types has one)
    timeout_s: int
    image_gb: float  # the serving image with the weights in it: a managed-instances function mounts no EFS
    weights_in_image: bool  # local weights, baked into the image (s3:// weights cannot be: limit.weights)
    lambda_memory_mb: int  # the serverless function's memory: what the break-even compares against
    queue_batch_size: int = 0
    queue_batch_window_s: int = 0
    messages_per_invocation: float = 1.0
    queue_max_concurrency: int = 0  # the SQS event source's maximum concurrency (0: sync)

    @property
    def architecture(self) -> str:
        return self.environment.architecture


def demand(p: Profile, settings: Settings, memory_gb: float | None = None) -> Demand:
    u = p.utilization
    return Demand(
        peak_rps=u.peak_rps,
        avg_rps=u.avg_rps,
        active_hours_per_day=u.active_hours_per_day,
        inference_ms=u.inference_ms,
        memory_gb=p.model.memory_gb if memory_gb is None else memory_gb,
        architecture=settings.platform.lambda_architecture,
    )


def managed_instances(p: Profile, settings: Settings) -> ManagedInstancesOption:
    platform, prices = settings.platform, settings.prices
    d = demand(p, settings)
    misfit = None
    try:
        env = size_managed_instances(d, prices, platform)
    except ManagedInstancesMisfit as exc:
        misfit = str(exc)
        # Indicative: the largest model copy one environment holds (one process per environment).
        d = demand(p, settings, memory_gb=float(platform.lmi_function_memory_max_gb))
        env = size_managed_instances(d, prices, platform)
    facts = managed_instances_facts(d, env, prices, platform, lambda_memory_gb=lambda_memory_mb(p) / 1024)
    queued = p.sla.mode is not Mode.sync
    batch = sqs_batch_size(p.sla.timeout_s, p.sla.p99_latency_ms) if queued else 0
    per_invocation = (
        min(batch, max(1.0, p.utilization.avg_rps * SQS_BATCH_WINDOW_S)) if p.sla.mode is Mode.async_ else 1.0
    )
    # Consumers the environments at their ceiling can run at once, within SQS's bounds.
    consumers = min(SQS_MAX_CONSUMERS, max(SQS_MIN_CONSUMERS, env.max_environments * env.max_concurrency))
    return ManagedInstancesOption(
        environment=env,
        facts=facts,
        misfit=misfit,
        gpu=p.model.gpu is Gpu.required,
        timeout_s=p.sla.timeout_s,
        image_gb=image_gb(p, platform, gpu_image=False) + p.model.weights_gb,
        weights_in_image=not p.model.weights_in_s3,
        lambda_memory_mb=lambda_memory_mb(p),
        queue_batch_size=batch,
        queue_batch_window_s=SQS_BATCH_WINDOW_S if queued else 0,
        messages_per_invocation=per_invocation,
        queue_max_concurrency=consumers if queued else 0,
    )


def image_fits(option: ManagedInstancesOption) -> bool:
    return option.image_gb <= LAMBDA_MAX_IMAGE_GB


def managed_instances_sizing(w: Workload) -> ManagedInstancesOption:
    return w.decision.sizing(Target.managed_instances, ManagedInstancesOption)
