"""target: kubernetes: replicas on a bare-metal GPU (or CPU) cluster with the GPU Operator and
KEDA, sized for the peak, the availability target and the cold-start budget.

    sizing.py   replicas, GPUs and their sharing (time-slicing, MIG), pod start, bin-packing
    queue.py    an async workload's Redis: what it holds, its memory bound, its volume
    bill.py     the monthly bill (the share of nodes held, the model cache, the weights, the queue's Redis)
    rules.py    what explains the sizing (min replicas, availability, GPU sharing, node packing)
Built by stacks/k8s (the Pulumi program in stacks/k8s/program.py).
"""

from __future__ import annotations

from stacks.decision.cost import Cost
from stacks.decision.option import Facts
from stacks.decision.reason import Reason
from stacks.decision.workload import Workload
from stacks.k8s.naming import placement
from stacks.pricebook import Platform, Settings
from stacks.profile import Profile, Target
from stacks.targets.base import BaseTarget, Builder, LockValue, MoveEnd
from stacks.targets.kubernetes.bill import kubernetes_cost
from stacks.targets.kubernetes.moves import kubernetes_end
from stacks.targets.kubernetes.rules import RULES
from stacks.targets.kubernetes.sizing import KubernetesSizing, kubernetes, kubernetes_sizing

__all__ = ["KUBERNETES", "Kubernetes", "KubernetesSizing", "kubernetes_sizing", "replicas_line"]


class Kubernetes(BaseTarget):
    target = Target.kubernetes
    label = "Kubernetes"
    tie_rank = 0  # on equal bills, held capacity wins: no cold starts, no per-request limits
    builder = Builder(
        tool="pulumi",
        module="stacks.k8s.program",
        outputs="k8s.out/<name>.yaml, build/<name>/",
        deploy="pulumi up",
    )

    def size(self, p: Profile, settings: Settings) -> KubernetesSizing:
        return kubernetes(p, settings.platform)

    def bill(self, p: Profile, sizing: KubernetesSizing, settings: Settings) -> Cost:
        return kubernetes_cost(p, sizing, settings.prices, settings.platform)

    def limits(self, f: Facts[KubernetesSizing]) -> list[Reason]:
        return []  # the cluster is sized to the workload; what no node can hold is a profile error

    def rules(self, f: Facts[KubernetesSizing]) -> list[Reason]:
        return [r for rule in RULES for r in rule(f)]

    def describe(self, w: Workload) -> str:
        return replicas_line(kubernetes_sizing(w), w.settings.platform)

    def placement(self, w: Workload) -> dict[str, object]:
        return placement(w.name, w.settings.platform.k8s_namespace_prefix)

    def owns(self, w: Workload) -> str:
        where = self.placement(w)
        namespaces: list[str] = where["namespaces"]  # type: ignore[assignment]
        return f"namespace {', '.join(namespaces)}; reachable at {where['service']}"

    def key_figures(self, w: Workload) -> dict[str, LockValue]:
        k = kubernetes_sizing(w)
        return {
            "min_replicas": k.min_replicas,
            "max_replicas": k.max_replicas,
            "gpu_type": k.gpu_type,
            "gpus_per_replica": k.gpus_per_replica,
            "cpu_millicores": k.cpu_millicores,
            "memory_mb": k.memory_mb,
        }

    def move_end(self, name: str, platform: Platform) -> MoveEnd:
        return kubernetes_end(name, platform)


def replicas_line(k: KubernetesSizing, platform: Platform) -> str:
    """Replicas and one replica's share of the cluster, as `plan` prints them (the hybrid's workers too)."""
    unit = f"{k.cpu_millicores / 1000:g} vCPU"
    if k.gpu_type:
        unit = f"{k.gpus_per_replica}x {k.gpu_type}"
        if k.gpu_sharing == "time-slicing":
            unit = f"1/{round(1 / k.gpu_share)} {k.gpu_type} time-sliced"
        elif k.gpu_sharing == "mig":
            unit = f"{k.gpu_type} MIG {k.mig_profile} (1/{round(1 / k.gpu_share)} GPU)"
    return (
        f"{k.min_replicas}-{k.max_replicas} replicas x ({unit}, {k.memory_mb:,} MB), "
        f"{k.replica_rps:.1f} rps each at {platform.k8s_target_utilization:.0%}"
    )


KUBERNETES = Kubernetes()
