"""From a profile to the managed-instances option's sizing: the Demand, the cheapest environment
shape (sizing.py), the facts its rules read, and what the function around it needs (timeout,
image, the SQS event source).

The decision sizes every target for every profile, so a workload Lambda Managed Instances cannot
hold (a GPU, a model copy over 32 GB) still gets a sizing: the largest model copy that fits,
flagged `misfit`, for an indicative bill; limit.memory / limit.gpu rule the option out.

With platform.lmi_gpu a GPU workload (gpu: required) is sized on GPU instances instead
(accelerator.py): the option's `accelerator` holds the GPU side; limit.gpu,
limit.accelerator_memory and limit.memory rule it out where it cannot run, with an indicative
sizing as above.
"""

from __future__ import annotations

from pydantic import Field

from stacks.decision.sizing import Frozen, image_gb
from stacks.decision.workload import Workload
from stacks.limits import LAMBDA_MAX_IMAGE_GB
from stacks.pricebook import Settings
from stacks.profile import Gpu, Mode, Profile, Target
from stacks.targets.kubernetes.sizing import gpu_memory_gb
from stacks.targets.managed_instances.accelerator import (
    ACCELERATOR_ARCHITECTURE,
    AcceleratorSizing,
    accelerator_size,
    gpu_problems,
    indicative_size,
    size_gpu,
)
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
    # GPU LMI (platform.lmi_gpu, gpu: required): the environments' GPU side; absent on CPU instances.
    accelerator: AcceleratorSizing | None = Field(None, exclude_if=lambda a: a is None)

    @property
    def architecture(self) -> str:
        return self.environment.architecture


def demand(p: Profile, settings: Settings, memory_gb: float | None = None, architecture: str | None = None) -> Demand:
    u = p.utilization
    return Demand(
        peak_rps=u.peak_rps,
        avg_rps=u.avg_rps,
        active_hours_per_day=u.active_hours_per_day,
        inference_ms=u.inference_ms,
        memory_gb=p.model.memory_gb if memory_gb is None else memory_gb,
        architecture=architecture or settings.platform.lambda_architecture,
    )


def on_gpu(p: Profile, settings: Settings) -> bool:
    """Sized on GPU instances: the model requires a GPU and the platform models GPU LMI."""
    return p.model.gpu is Gpu.required and settings.platform.lmi_gpu


def _cpu_environment(p: Profile, settings: Settings) -> tuple[Demand, ManagedInstancesSizing, str | None]:
    platform, prices = settings.platform, settings.prices
    d = demand(p, settings)
    try:
        return d, size_managed_instances(d, prices, platform), None
    except ManagedInstancesMisfit as exc:
        # Indicative: the largest model copy one environment holds (one process per environment).
        d = demand(p, settings, memory_gb=float(platform.lmi_function_memory_max_gb))
        return d, size_managed_instances(d, prices, platform), str(exc)


def _gpu_environment(
    p: Profile, settings: Settings
) -> tuple[Demand, ManagedInstancesSizing, AcceleratorSizing, str | None]:
    platform, prices = settings.platform, settings.prices
    d = demand(p, settings, architecture=ACCELERATOR_ARCHITECTURE)
    need = gpu_memory_gb(p, platform)  # what a Kubernetes replica of this model is given
    required = accelerator_size(need, platform)
    problems = gpu_problems(p, prices, required)
    if required is None:
        problems.append(
            f"the model needs {need:g} GB of GPU memory; an environment gets at most "
            f"{max(platform.lmi_accelerator_memory_gib)} GiB"
        )
    if d.memory_gb > platform.lmi_function_memory_max_gb:
        problems.append(f"one model copy needs {d.memory_gb:g} GB of host memory")
    if required is not None and not problems:
        try:
            env, accelerator = size_gpu(d, required, p.model.accelerator_type, prices, platform, need_gb=need)
            return d, env, accelerator, None
        except ManagedInstancesMisfit as exc:
            problems.append(str(exc))
    # Indicative: any GPU type, the largest size it holds, the largest host environment at most.
    d = demand(
        p,
        settings,
        memory_gb=min(d.memory_gb, float(platform.lmi_function_memory_max_gb)),
        architecture=ACCELERATOR_ARCHITECTURE,
    )
    env, accelerator = size_gpu(d, indicative_size(need, prices, platform), None, prices, platform, need_gb=need)
    return d, env, accelerator, "; ".join(problems)


def managed_instances(p: Profile, settings: Settings) -> ManagedInstancesOption:
    platform, prices = settings.platform, settings.prices
    accelerator = None
    if on_gpu(p, settings):
        d, env, accelerator, misfit = _gpu_environment(p, settings)
    else:
        d, env, misfit = _cpu_environment(p, settings)
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
        image_gb=image_gb(p, platform, gpu_image=accelerator is not None) + p.model.weights_gb,
        weights_in_image=not p.model.weights_in_s3,
        lambda_memory_mb=lambda_memory_mb(p),
        queue_batch_size=batch,
        queue_batch_window_s=SQS_BATCH_WINDOW_S if queued else 0,
        messages_per_invocation=per_invocation,
        queue_max_concurrency=consumers if queued else 0,
        accelerator=accelerator,
    )


def image_fits(option: ManagedInstancesOption) -> bool:
    return option.image_gb <= LAMBDA_MAX_IMAGE_GB


def managed_instances_sizing(w: Workload) -> ManagedInstancesOption:
    return w.decision.sizing(Target.managed_instances, ManagedInstancesOption)
