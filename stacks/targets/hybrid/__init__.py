"""target: hybrid: the serverless front on AWS (SQS queue + DLQ, results bucket keyed per caller,
the worker's and the scaler's IAM users) and the model on the bare-metal GPU cluster as an SQS
worker, scaled by KEDA's aws-sqs-queue scaler (to zero when the cold-start budget allows).

    keda.py     KEDA's and SQS's timing (wake-up from zero, queueLength, cooldown, visibility)
    sizing.py   the kubernetes target's worker sizing without Redis + the front's SQS traffic
    bill.py     the front's lines (SQS, results bucket, access logs, alarms) + the worker's (kubernetes)
    rules.py    async only, a worker for the model, scale to zero, the middle band, bursts, GPU share
Built by both builders: the front by the CDK app (stacks/aws/hybrid.py, in stacks/aws/app.py), the
worker by the Pulumi program (stacks/k8s/hybrid.py, in stacks/k8s/program.py), which reads the
front's outputs from stack config.
"""

from __future__ import annotations

from stacks.decision.cost import Cost
from stacks.decision.option import Facts, Option
from stacks.decision.reason import Reason
from stacks.decision.workload import Workload
from stacks.k8s.naming import placement as cluster_placement
from stacks.pricebook import Platform, Settings
from stacks.profile import Profile, Target
from stacks.targets.base import BaseTarget, Builder, LockValue, MoveEnd
from stacks.targets.hybrid.bill import hybrid_cost
from stacks.targets.hybrid.config import FRONTS_CONFIG
from stacks.targets.hybrid.moves import hybrid_end
from stacks.targets.hybrid.rules import LIMITS, RULES
from stacks.targets.hybrid.sizing import HybridSizing, hybrid, hybrid_sizing
from stacks.targets.kubernetes import replicas_line
from stacks.targets.serverless.installation import front_stack, platform_stack

__all__ = ["FRONTS_CONFIG", "HYBRID", "Hybrid", "HybridSizing", "hybrid_sizing"]


class Hybrid(BaseTarget):
    target = Target.hybrid
    label = "Hybrid"
    # On equal bills the single-platform targets win: the hybrid runs on two (AWS and the cluster).
    tie_rank = 3
    builder = Builder(
        tool="cdk+pulumi",
        module="stacks.aws.app, stacks.k8s.program",
        outputs="cdk.out/Switchyard-Front-<name>.template.json, k8s.out/<name>.yaml, build/<name>/",
        deploy="npx cdk deploy Switchyard-Platform Switchyard-Front-<name>, then pulumi up",
    )

    def size(self, p: Profile, settings: Settings) -> HybridSizing:
        return hybrid(p, settings.platform)

    def bill(self, p: Profile, sizing: HybridSizing, settings: Settings) -> Cost:
        return hybrid_cost(p, sizing, settings.prices, settings.platform)

    def limits(self, f: Facts[HybridSizing]) -> list[Reason]:
        return [r for rule in LIMITS for r in rule(f)]

    def rules(self, f: Facts[HybridSizing]) -> list[Reason]:
        return [r for rule in RULES for r in rule(f)]

    def when_chosen(self, option: Option) -> list[str]:
        return [
            "hybrid: deploy the CDK stack first, then set its outputs (QueueUrl, Region, ResultsBucketName) as "
            f"Pulumi config switchyard:{FRONTS_CONFIG}.<name> and the IAM users' access keys as secret config "
            "switchyard:hybridCredentials.<name> before `pulumi up` (README, hybrid)"
        ]

    def describe(self, w: Workload) -> str:
        h = hybrid_sizing(w)
        return (
            f"front SQS + DLQ + results bucket; workers {replicas_line(h.worker, w.settings.platform)}; "
            f"queueLength {h.queue_length}, wake-up from zero <= {h.wake_up_s:,.0f} s"
        )

    def placement(self, w: Workload) -> dict[str, object]:
        installation = w.settings.platform.installation
        stack = front_stack(w.name, installation)
        cluster = cluster_placement(w.name, w.settings.platform.k8s_namespace_prefix)
        return {
            "stacks": [stack],
            "shared": platform_stack(installation),
            "namespaces": cluster["namespaces"],
            "reachable": {
                "queue": f"{stack} QueueUrl output (sqs:SendMessage, QueueSendPolicyArn)",
                "results": f"{stack} ResultsBucketName output, results/<caller>/<id>.json",
            },
        }

    def owns(self, w: Workload) -> str:
        where = self.placement(w)
        reachable: dict[str, str] = where["reachable"]  # type: ignore[assignment]
        stacks: list[str] = where["stacks"]  # type: ignore[assignment]
        namespaces: list[str] = where["namespaces"]  # type: ignore[assignment]
        return (
            f"stack {stacks[0]} (shares {where['shared']}) and namespace {', '.join(namespaces)}; "
            "reachable at " + "; ".join(reachable.values())
        )

    def key_figures(self, w: Workload) -> dict[str, LockValue]:
        h = hybrid_sizing(w)
        k = h.worker
        return {
            "min_replicas": k.min_replicas,
            "max_replicas": k.max_replicas,
            "gpu_type": k.gpu_type,
            "gpus_per_replica": k.gpus_per_replica,
            "cpu_millicores": k.cpu_millicores,
            "memory_mb": k.memory_mb,
            "queue_length": h.queue_length,
        }

    def move_end(self, name: str, platform: Platform) -> MoveEnd:
        return hybrid_end(name, platform)


HYBRID = Hybrid()
