"""GPU Lambda Managed Instances (AcceleratorConfig), modelled for planning behind platform.lmi_gpu.

What AWS publishes, and what the sizing takes from it (sources in the price book's descriptions):
- A function with `AcceleratorConfig` runs on a capacity provider of GPU instances; it must use the
  Image package type and x86_64. `AcceleratorMemorySize` is the GPU memory each execution
  environment gets, one of 3, 6, 12, 16, 24 or 48 GiB (platform.lmi_accelerator_memory_gib).
- The only GPU family an AWS page names for it is g6 (aws-cdk-lib 2.278's example: g6.xlarge,
  scaled by GPU-utilization target tracking); the instance types are the price book's
  (prices.ec2_gpu_instance_hour_usd), with their GPUs from stacks/ec2_types.py.
- Billing, the floor of three environments on three instances and the throttle on traffic that
  more than doubles within five minutes are those of LMI on CPUs (sizing.py).

The sizing:
- The model's GPU memory is what the Kubernetes sizing gives a replica (weights x
  platform.gpu_memory_per_weight_gb); the environment gets the smallest allowed size holding it.
  Sizes are GiB and the need GB: comparing the numbers errs on the safe side.
- One request per environment: LMI's Python runtime runs each concurrent request in its own
  process, and each would load its own model copy onto the GPU.
- Environments per instance: a GPU of G GB holds floor(G / size) of them (an assumption: AWS says
  Lambda may give an environment more than the size, not how it packs a device), within the
  instance's vCPUs and memory for the environments' host side.
- The cheapest always-on floor wins, then the cheapest peak, as for CPUs.

aws-cdk-lib 2.278, which adds AcceleratorConfig, is not on the package registry: `switchyard synth`
refuses such a workload (ManagedInstances.unbuildable) rather than writing an unvalidated property
override.
"""

from __future__ import annotations

import math
from importlib.metadata import PackageNotFoundError, version

from stacks.decision.sizing import Frozen
from stacks.ec2_types import GpuInstanceShape, gpu_instance_shape
from stacks.pricebook import Platform, PriceBook
from stacks.profile import Preset, Profile
from stacks.targets.managed_instances.sizing import (
    Demand,
    Environment,
    ManagedInstancesMisfit,
    ManagedInstancesSizing,
    environment_floor,
    environment_shapes,
    sizing_on,
)

GPU_CDK_VERSION = "2.278"  # the first aws-cdk-lib with lambda.AcceleratorConfig
ACCELERATOR_ARCHITECTURE = "x86_64"  # AcceleratorConfig: the Image package type and x86_64 only
GPU_CONCURRENCY = 1  # one request, one model copy on the GPU, per environment
GPU_BOUND = "one model copy on the GPU"


class AcceleratorSizing(Frozen):
    """The GPU side of a managed-instances environment (the host side is its ManagedInstancesSizing)."""

    need_gb: float  # the model's GPU memory: weights x platform.gpu_memory_per_weight_gb
    required_gib: int | None  # the smallest allowed AcceleratorMemorySize holding it (None: above the largest)
    memory_gib: int  # AcceleratorMemorySize of the sizing (the required one; indicative when misfit)
    gpu_product: str  # of the chosen instance type, as model.accelerator names it (L4)
    gpu_memory_gb: float  # per GPU of that type
    gpus_per_instance: int
    environments_per_gpu: int
    per_instance_bound: str  # what limits environments per instance: GPU memory, vCPUs or memory


def accelerator_size(need_gb: float, platform: Platform) -> int | None:
    """The smallest AcceleratorMemorySize that holds `need_gb`; None when none does."""
    return next((s for s in sorted(platform.lmi_accelerator_memory_gib) if s >= need_gb), None)


def gpu_types(prices: PriceBook) -> list[GpuInstanceShape]:
    shapes = [gpu_instance_shape(name) for name in prices.ec2_gpu_instance_hour_usd]
    return sorted(shapes, key=lambda t: (t.gpu_product, t.vcpus, t.name))


def carried(prices: PriceBook) -> str:
    """The GPU products the price book's GPU instance types carry, each with its types: "L4 (g6.xlarge, ...)"."""
    by_product: dict[str, list[str]] = {}
    for shape in gpu_types(prices):
        by_product.setdefault(shape.gpu_product, []).append(shape.name)
    return "; ".join(f"{product} ({', '.join(names)})" for product, names in sorted(by_product.items())) or "none"


def gpu_problems(p: Profile, prices: PriceBook, required_gib: int | None) -> list[str]:
    """Why GPU LMI cannot run this model as the profile asks, besides the 48 GiB cap (limit.accelerator_memory)
    and the host memory (limit.memory); [] when it can."""
    m = p.model
    out = []
    if m.preset is Preset.vllm:
        out.append(
            "preset vllm: the managed-instances function calls a custom model's predict() through the Lambda "
            "runtime; a vLLM server on Lambda Managed Instances is not modelled"
        )
    if m.accelerator_count > 1:
        out.append(
            f"model.accelerator {m.accelerator} asks for {m.accelerator_count} GPUs per replica; an execution "
            "environment is given GPU memory (AcceleratorMemorySize), not several GPUs to shard a model over"
        )
    types = gpu_types(prices)
    product = m.accelerator_type
    if product and not any(t.gpu_product == product for t in types):
        out.append(
            f"model.accelerator pins {product}; the GPU instance types Lambda Managed Instances may use here "
            f"(prices.ec2_gpu_instance_hour_usd) carry {carried(prices)}"
        )
    elif required_gib is not None and not any(
        t.gpu_memory_gb >= required_gib and (not product or t.gpu_product == product) for t in types
    ):
        out.append(
            f"an environment of {required_gib} GiB needs a GPU of at least {required_gib} GB, and the GPU instance "
            f"types of prices.ec2_gpu_instance_hour_usd carry {carried(prices)}: add a type whose GPU holds it "
            "(g6e: L40S, 48 GB) there if your capacity providers launch it"
        )
    return out


def size_gpu(
    d: Demand, memory_gib: int, product: str | None, prices: PriceBook, platform: Platform, *, need_gb: float
) -> tuple[ManagedInstancesSizing, AcceleratorSizing]:
    """The cheapest GPU instance type and host environment for environments of `memory_gib` of GPU memory
    (on `product` when the profile pins one). Raises ManagedInstancesMisfit when no type holds them."""
    floor = environment_floor(d, GPU_CONCURRENCY, platform)
    hourly = prices.ec2_gpu_instance_hour_usd
    candidates = []
    for shape in gpu_types(prices):
        if (product and shape.gpu_product != product) or shape.gpu_memory_gb < memory_gib:
            continue
        per_gpu = math.floor(shape.gpu_memory_gb / memory_gib + 1e-9)
        for ratio, vcpus, memory in environment_shapes(platform):
            if memory < d.memory_gb or vcpus < d.vcpus_per_request:
                continue  # the host side holds the one model process
            bounds = {
                "GPU memory": shape.gpus * per_gpu,
                "vCPUs": shape.vcpus // vcpus,
                "memory": shape.memory_gib // memory,
            }
            bound = min(bounds, key=lambda k: bounds[k])
            per_instance = bounds[bound]
            if per_instance < 1:
                continue
            environment = Environment(ACCELERATOR_ARCHITECTURE, ratio, vcpus, memory, GPU_CONCURRENCY, GPU_BOUND)
            env = sizing_on(environment, floor, shape.name, shape.vcpus, per_instance, platform)
            accelerator = AcceleratorSizing(
                need_gb=need_gb,
                required_gib=accelerator_size(need_gb, platform),
                memory_gib=memory_gib,
                gpu_product=shape.gpu_product,
                gpu_memory_gb=shape.gpu_memory_gb,
                gpus_per_instance=shape.gpus,
                environments_per_gpu=per_gpu,
                per_instance_bound=bound,
            )
            candidates.append((env, accelerator))
    if not candidates:
        raise ManagedInstancesMisfit(
            f"no GPU instance type of prices.ec2_gpu_instance_hour_usd holds an environment of {memory_gib} GiB of "
            f"GPU memory{f' on {product}' if product else ''} and {d.memory_gb:g} GB of host memory: they carry "
            f"{carried(prices)}"
        )
    return min(
        candidates,
        key=lambda c: (
            c[0].always_on_instances * hourly[c[0].instance_type],
            c[0].peak_instances * hourly[c[0].instance_type],
            c[0].environment_vcpus,
            c[0].memory_gib_per_vcpu,
            c[0].instance_type,
        ),
    )


def indicative_size(need_gb: float, prices: PriceBook, platform: Platform) -> int:
    """For a model GPU LMI cannot hold as asked: the largest allowed size a priced GPU still holds (the
    smallest allowed size when none does), so the option still has a bill to show."""
    largest = max((t.gpu_memory_gb for t in gpu_types(prices)), default=0.0)
    sizes = sorted(platform.lmi_accelerator_memory_gib)
    fitting = [s for s in sizes if s <= largest]
    required = accelerator_size(need_gb, platform)
    if required is not None and required in fitting:
        return required
    return fitting[-1] if fitting else sizes[0]


def installed_cdk() -> str:
    """The installed aws-cdk-lib's version, read from its metadata (importing it would start Node.js)."""
    try:
        return version("aws-cdk-lib")
    except PackageNotFoundError:
        return "not installed"


def has_accelerator_config(installed: str) -> bool:
    """Whether an aws-cdk-lib version is 2.278 or later (the first with AcceleratorConfig)."""
    try:
        parts = tuple(int(x) for x in installed.split(".")[:2])
    except ValueError:
        return False
    return parts >= tuple(int(x) for x in GPU_CDK_VERSION.split("."))
