"""Vendor constants and pinned charts, in one place."""

from __future__ import annotations

from dataclasses import dataclass

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"  # set by GPU Feature Discovery
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_RUNTIME_CLASS = "nvidia"

# GPU Feature Discovery's product label values for each accelerator type a profile can name.
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

# The init container that fills the model cache from S3 (or any S3-compatible store).
AWS_CLI_IMAGE = "amazon/aws-cli:2.27.50"


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repo: str
    namespace: str


GPU_OPERATOR = Chart("gpu-operator", "v26.7.0", "https://helm.ngc.nvidia.com/nvidia", "gpu-operator")
KEDA = Chart("keda", "2.20.2", "https://kedacore.github.io/charts", "keda")
