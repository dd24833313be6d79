"""Vendor constants and pinned charts, in one place."""

from __future__ import annotations

from dataclasses import dataclass

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"  # set by GPU Feature Discovery
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_RUNTIME_CLASS = "nvidia"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"  # the GPU Operator's MIG manager applies the config a node names

# GPU Feature Discovery's product label values for each accelerator type a profile can name, with
# sharing off. GFD appends "-SHARED" under time-slicing and "-MIG-<profile>" under MIG's single
# strategy (the sizing's gpu_product_suffix); see gfd_products().
GPU_PRODUCTS = {
    "A100-80GB": ["NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"],
    "H100-80GB": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe"],
    "L40S": ["NVIDIA-L40S"],
    "L4": ["NVIDIA-L4"],
    "T4": ["Tesla-T4"],
}

# The Redis a workload's queue lives in (redisMode: deploy); the image's `redis` user.
REDIS_IMAGE = "redis:7.4.2-bookworm"
REDIS_UID = 999


def gfd_products(gpu_type: str, suffix: str) -> list[str]:
    """The nvidia.com/gpu.product values GFD gives a node of this type in the sizing's sharing mode."""
    return [f"{product}{suffix}" for product in GPU_PRODUCTS[gpu_type]]


# The init container that fills the model cache from S3 (or any S3-compatible store).
AWS_CLI_IMAGE = "amazon/aws-cli:2.27.50"

# The KEDA HTTP add-on installs into KEDA's namespace by default.
KEDA_HTTP_NAMESPACE = "keda"


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repo: str
    namespace: str


GPU_OPERATOR = Chart("gpu-operator", "v26.7.0", "https://helm.ngc.nvidia.com/nvidia", "gpu-operator")
KEDA = Chart("keda", "2.20.2", "https://kedacore.github.io/charts", "keda")
