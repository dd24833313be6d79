"""EC2 instance types Lambda Managed Instances may run on: vCPUs, memory and architecture from the name.

EC2 names an instance type <family><generation><processor><capabilities>.<size> (EC2 user guide,
"Amazon EC2 instance type naming conventions"): processor g is AWS Graviton (arm64), a is AMD and
i is Intel (x86_64). In the c, m and r families of generations 5 to 8 the memory per vCPU is
fixed by the family (2, 4 and 8 GiB), and a size names its vCPUs (large 2, xlarge 4, Nxlarge 4N).
Those are exactly the memory-per-vCPU ratios Lambda Managed Instances offers, so a price book
entry's name is all the sizing needs. Other families (t, x, z, accelerated) are refused by name.
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
