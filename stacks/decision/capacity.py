"""Node capacity: what a node's pods may use (allocatable), and how many replicas fit on one.

A dedicated cluster bills whole nodes; a replica blocks the share of a node that its largest
request takes, including what the kubelet and the DaemonSets keep and what is stranded because
the next replica no longer fits (bin-packing).
"""

from __future__ import annotations

import math

from stacks.pricebook import Platform

_EPS = 1e-9

# GKE's reservation formulas (Source: GKE docs, "Standard cluster architecture", node allocatable
# resources): tiers of (size of the tier, share reserved).
_CPU_TIERS = [(1.0, 0.06), (1.0, 0.01), (2.0, 0.005), (math.inf, 0.0025)]  # cores
_MEMORY_TIERS = [(4.0, 0.25), (4.0, 0.20), (8.0, 0.10), (112.0, 0.06), (math.inf, 0.02)]  # GiB
_EVICTION_GB = 100 / 1024  # the kubelet's hard eviction threshold, memory.available < 100Mi


def _tiered(amount: float, tiers: list[tuple[float, float]]) -> float:
    reserved, left = 0.0, amount
    for size, share in tiers:
        take = min(left, size)
        reserved += take * share
        left -= take
        if left <= 0:
            break
    return reserved


def reserved_millicores(vcpus: int, platform: Platform) -> float:
    if platform.node_reserved_millicores is not None:
        return platform.node_reserved_millicores
    return _tiered(vcpus, _CPU_TIERS) * 1000


def reserved_memory_gb(memory_gb: float, platform: Platform) -> float:
    if platform.node_reserved_memory_gb is not None:
        return platform.node_reserved_memory_gb
    return _tiered(memory_gb, _MEMORY_TIERS) + _EVICTION_GB


def allocatable(platform: Platform, *, gpu: bool) -> tuple[float, float]:
    """(millicores, GB) a node offers to this workload's pods: capacity - reserved - DaemonSets."""
    vcpus = platform.gpu_node_vcpus if gpu else platform.cpu_node_vcpus
    memory = platform.gpu_node_memory_gb if gpu else platform.cpu_node_memory_gb
    cpu = vcpus * 1000 - reserved_millicores(vcpus, platform) - platform.node_daemonset_millicores
    mem = memory - reserved_memory_gb(memory, platform) - platform.node_daemonset_memory_gb
    return cpu, mem


def replicas_per_node(
    platform: Platform, *, gpu: bool, gpus: float, millicores: int, memory_gb: float
) -> tuple[int, str]:
    """(replicas one node holds, the resource that limits it); at least 1 (a larger replica is a profile error)."""
    cpu, mem = allocatable(platform, gpu=gpu)
    fits = {"cpu": math.floor(cpu / millicores + _EPS), "memory": math.floor(mem / memory_gb + _EPS)}
    if gpu and gpus > 0:
        fits["gpu"] = math.floor(platform.gpus_per_node / gpus + _EPS)
    limit = min(fits, key=lambda k: (fits[k], k))
    return max(1, fits[limit]), limit
