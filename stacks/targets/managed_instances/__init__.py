"""target: managed-instances: the serving image as a Lambda function on Lambda Managed Instances (EC2
instances Lambda runs in the platform VPC, many requests per execution environment, no per-request
cold start; billed per instance-hour + 15 % + requests), fronted like the serverless target
(Function URL or HTTP API, SQS + DLQ and S3 results for async work).

    sizing.py     the environment shape, its concurrency, the floor, the instance type; break-even,
                  burst and scale-to-zero facts
    workload.py   from a profile to the option's sizing (ManagedInstancesOption)
    bill.py       instances + fee + requests, and the serverless bill's shared lines
    rules.py      limits (gpu, memory, image, timeout, weights, endpoint, latency) and rules (environment,
                  break-even, burst, scale to zero)
    alarms.py     the alarms its stack creates
    moves.py      its end of a move (its own stack, <installation>-Instances-<name>)
Built by stacks/aws (stacks/aws/managed_instances_stack.py: ManagedInstancesStack, its capacity provider
and function in stacks/aws/managed_instances.py, the front shared with serverless in stacks/aws/front.py).
"""

from __future__ import annotations

from stacks.decision.cost import Cost
from stacks.decision.option import Facts
from stacks.decision.reason import Reason
from stacks.decision.workload import Workload
from stacks.pricebook import Platform, Settings
from stacks.profile import Endpoint, Mode, Profile, Target
from stacks.targets.base import BaseTarget, Builder, LockValue, MoveEnd
from stacks.targets.managed_instances.alarms import managed_instances_alarms
from stacks.targets.managed_instances.bill import managed_instances_cost
from stacks.targets.managed_instances.moves import managed_instances_end
from stacks.targets.managed_instances.rules import LIMITS, RULES
from stacks.targets.managed_instances.workload import (
    ManagedInstancesOption,
    managed_instances,
    managed_instances_sizing,
)
from stacks.targets.serverless.installation import instances_stack, platform_stack

__all__ = ["MANAGED_INSTANCES", "ManagedInstances", "ManagedInstancesOption", "managed_instances_sizing"]


class ManagedInstances(BaseTarget):
    target = Target.managed_instances
    label = "Lambda Managed Instances"
    # On equal bills the established targets win: this one adds a capacity provider and
    # instances in the VPC to what serverless runs.
    tie_rank = 2
    builder = Builder(
        tool="cdk",
        module="stacks.aws.app",
        outputs="cdk.out/Switchyard-Instances-<name>.template.json, build/<name>/",
        deploy="npx cdk deploy Switchyard-Platform Switchyard-Instances-<name>",
    )

    def size(self, p: Profile, settings: Settings) -> ManagedInstancesOption:
        return managed_instances(p, settings)

    def bill(self, p: Profile, sizing: ManagedInstancesOption, settings: Settings) -> Cost:
        return managed_instances_cost(p, sizing, settings)

    def variant(self, sizing: ManagedInstancesOption) -> str:
        return sizing.environment.instance_type

    def limits(self, f: Facts[ManagedInstancesOption]) -> list[Reason]:
        return [r for rule in LIMITS for r in rule(f)]

    def rules(self, f: Facts[ManagedInstancesOption]) -> list[Reason]:
        return [r for rule in RULES for r in rule(f)]

    def describe(self, w: Workload) -> str:
        e = managed_instances_sizing(w).environment
        return (
            f"{e.min_environments}-{e.max_environments} environments x ({e.environment_vcpus} vCPU, "
            f"{e.environment_memory_gb} GB, {e.max_concurrency} concurrent) on {e.always_on_instances}-"
            f"{e.peak_instances} {e.instance_type}"
        )

    def placement(self, w: Workload) -> dict[str, object]:
        p, installation = w.profile, w.settings.platform.installation
        stack = instances_stack(p.name, installation)
        reachable: dict[str, str] = {}
        if p.sla.mode is not Mode.async_:
            output = "HttpApiUrl" if p.sla.endpoint is Endpoint.http_api else "FunctionUrl"
            reachable["sync"] = f"{stack} output {output} (POST, SigV4-signed)"
        if p.sla.mode is not Mode.sync:
            reachable["async"] = (
                f"{stack} output QueueUrl; results in ResultsBucketName under results/<caller>/<id>.json "
                "(attach ResultsReadPolicyArn)"
            )
        return {
            "stacks": [stack],
            "shared": platform_stack(installation),
            "reachable": reachable,
            "alarms": managed_instances_alarms(p),
            "weights": "in the image",
        }

    def owns(self, w: Workload) -> str:
        where = self.placement(w)
        reachable: dict[str, str] = where["reachable"]  # type: ignore[assignment]
        stacks: list[str] = where["stacks"]  # type: ignore[assignment]
        return f"stack {stacks[0]} (shares {where['shared']}); reachable at " + "; ".join(reachable.values())

    def key_figures(self, w: Workload) -> dict[str, LockValue]:
        e = managed_instances_sizing(w).environment
        return {
            "instance_type": e.instance_type,
            "environment_vcpus": e.environment_vcpus,
            "memory_gib_per_vcpu": e.memory_gib_per_vcpu,
            "max_concurrency": e.max_concurrency,
            "min_environments": e.min_environments,
            "max_environments": e.max_environments,
        }

    def move_end(self, name: str, platform: Platform) -> MoveEnd:
        return managed_instances_end(name, platform)


MANAGED_INSTANCES = ManagedInstances()
