"""EC2 instance types Lambda Managed Instances may run on: vCPUs, memory, architecture (and GPUs) from the name.

EC2 names an instance type <family><generation><processor><capabilities>.<size> (EC2 user guide,
"Amazon EC2 instance type naming conventions"): processor g is AWS Graviton (arm64), a is AMD and
i is Intel (x86_64). In the c, m and r families of generations 5 to 8 the memory per vCPU is
fixed by the family (2, 4 and 8 GiB), and a size names its vCPUs (large 2, xlarge 4, Nxlarge 4N).
Those are exactly the memory-per-vCPU ratios Lambda Managed Instances offers, so a price book
entry's name is all the sizing needs. Other families (t, x, z, accelerated) are refused by name.

GPU instance types (`gpu_instance_shape`) are x86_64 and named <family>.<size> too: in the g5
(NVIDIA A10G, 24 GB), g6 (L4, 24 GB) and g6e (L40S, 48 GB) families a size names its vCPUs as
above, memory per vCPU is fixed by the family (4, 4 and 8 GiB), and every size carries one GPU
except 12xlarge and 24xlarge (4) and 48xlarge (8). Source: EC2 instance types guide, "Accelerated
computing instance specifications" (https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html).
These are EC2 facts; which of them Lambda Managed Instances launches is the price book's to say
(prices.ec2_gpu_instance_hour_usd).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_NAME = re.compile(r"([cmr])[5-8]([agi])[dnz]*\.(large|xlarge|([1-9][0-9]*)xlarge)")
_GIB_PER_VCPU = {"c": 2, "m": 4, "r": 8}
ALLOWED = "c, m or r families of generations 5-8 (e.g. c7g.xlarge, m7i.large, r7i.2xlarge)"


@dataclass(frozen=True)
class InstanceShape:
    name: str
    vcpus: int
    memory_gib: int
    architecture: Literal["x86_64", "arm64"]

    @property
    def gib_per_vcpu(self) -> int:
        return self.memory_gib // self.vcpus


def instance_shape(name: str) -> InstanceShape:
    """The shape of an instance type named like c7g.xlarge; ValueError naming what is allowed otherwise."""
    match = _NAME.fullmatch(name)
    if not match:
        raise ValueError(f"'{name}' is not an instance type Switchyard can size: {ALLOWED}")
    family, processor, size, multiple = match.groups()
    vcpus = 2 if size == "large" else 4 * int(multiple or 1)
    return InstanceShape(
        name=name,
        vcpus=vcpus,
        memory_gib=vcpus * _GIB_PER_VCPU[family],
        architecture="arm64" if processor == "g" else "x86_64",
    )


_GPU_NAME = re.compile(r"(g5|g6|g6e)\.(xlarge|(2|4|8|12|16|24|48)xlarge)")
# family: (GPU product as profiles name it in model.accelerator, GB of memory per GPU, GiB of memory per vCPU)
GPU_FAMILIES: dict[str, tuple[str, float, int]] = {"g5": ("A10G", 24, 4), "g6": ("L4", 24, 4), "g6e": ("L40S", 48, 8)}
_GPUS_BY_SIZE = {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}  # every other size: one GPU
GPU_ALLOWED = (
    "g5 (A10G), g6 (L4) or g6e (L40S) sizes xlarge, 2xlarge, 4xlarge, 8xlarge, 12xlarge, 16xlarge, 24xlarge "
    "or 48xlarge (e.g. g6.xlarge)"
)


@dataclass(frozen=True)
class GpuInstanceShape:
    name: str
    vcpus: int
    memory_gib: int
    gpus: int
    gpu_product: str
    gpu_memory_gb: float  # per GPU
    architecture: Literal["x86_64"] = "x86_64"


def gpu_instance_shape(name: str) -> GpuInstanceShape:
    """The shape of a GPU instance type named like g6.xlarge; ValueError naming what is allowed otherwise."""
    match = _GPU_NAME.fullmatch(name)
    if not match:
        raise ValueError(f"'{name}' is not a GPU instance type Switchyard can size: {GPU_ALLOWED}")
    family, size, multiple = match.groups()
    product, gpu_gb, gib_per_vcpu = GPU_FAMILIES[family]
    vcpus = 4 * int(multiple or 1)
    return GpuInstanceShape(
        name=name,
        vcpus=vcpus,
        memory_gib=vcpus * gib_per_vcpu,
        gpus=_GPUS_BY_SIZE.get(size, 1),
        gpu_product=product,
        gpu_memory_gb=gpu_gb,
    )
