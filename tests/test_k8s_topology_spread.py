"""Hard topology spread on a real-shaped cluster: tainted GPU and control-plane nodes beside the CPU
nodes. The Deployment's own constraints are fed to the scheduler's PodTopologySpread filter, as the
Kubernetes docs define it: a domain is eligible per nodeAffinityPolicy (default Honor) and
nodeTaintsPolicy (default Ignore: tainted nodes count, with zero pods)."""

from __future__ import annotations

import pytest

from stacks.profile.loader import load_profile
from stacks.targets import decide
from stacks.targets.kubernetes import kubernetes_sizing
from tests.conftest import PROFILES
from tests.k8s_helpers import find

pytestmark = pytest.mark.timeout(120)

NODES = {
    "cpu-a": [],
    "cpu-b": [],
    "gpu-a": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
    "control-plane": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
}


def _tolerates(tolerations: list[dict], taints: list[dict]) -> bool:
    return all(
        any(t.get("key") == taint["key"] and t.get("effect", taint["effect"]) == taint["effect"] for t in tolerations)
        for taint in taints
        if taint["effect"] in ("NoSchedule", "NoExecute")
    )


def schedule(pod: dict, replicas: int, per_node: int) -> dict[str, int]:
    """Place `replicas` pods one by one; return pods per node (a pod that fits nowhere stays Pending)."""
    tolerations = pod.get("tolerations") or []
    placed = dict.fromkeys(NODES, 0)
    for _ in range(replicas):
        candidates = []
        for node, taints in NODES.items():
            if not _tolerates(tolerations, taints) or placed[node] >= per_node:
                continue
            ok = True
            for c in pod.get("topologySpreadConstraints") or []:
                honor_taints = c.get("nodeTaintsPolicy", "Ignore") == "Honor"
                domains = [n for n, t in NODES.items() if not honor_taints or _tolerates(tolerations, t)]
                skew = placed[node] + 1 - min(placed[d] for d in domains)
                ok &= not (c["whenUnsatisfiable"] == "DoNotSchedule" and skew > c["maxSkew"])
            if ok:
                candidates.append(node)
        if not candidates:
            break
        placed[min(candidates, key=lambda n: placed[n])] += 1
    return placed


def test_every_billed_replica_schedules_beside_tainted_gpu_and_control_plane_nodes(kubernetes_objects):
    k = kubernetes_sizing(decide(load_profile(PROFILES / "fraud-scoring.yaml")))
    assert k.spread_across_nodes and k.max_replicas > 2
    pod = find(kubernetes_objects["fraud-scoring"], "Deployment")["spec"]["template"]["spec"]
    placed = schedule(pod, k.max_replicas, k.replicas_per_node)
    assert sum(placed.values()) == k.max_replicas, placed  # none Pending
    assert placed["gpu-a"] == placed["control-plane"] == 0
    assert max(placed["cpu-a"], placed["cpu-b"]) - min(placed["cpu-a"], placed["cpu-b"]) <= 1
