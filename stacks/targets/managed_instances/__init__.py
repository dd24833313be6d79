"""target: managed-instances: the serving image as a Lambda function on Lambda Managed Instances (EC2
instances Lambda runs in the platform VPC, many requests per execution environment, no per-request
cold start; billed per instance-hour + 15 % + requests), fronted like the serverless target
(Function URL or HTTP API, SQS + DLQ and S3 results for async work).

    sizing.py     the environment shape, its concurrency, the floor, the instance type; break-even,
                  burst and scale-to-zero facts
    accelerator.py  GPU instances with AcceleratorConfig (platform.lmi_gpu): modelled and billed,
                  refused at synth until aws-cdk-lib 2.278 (`unbuildable`)
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
from stacks.decision.option import Facts, Option
from stacks.decision.reason import Reason
from stacks.decision.workload import Workload
from stacks.errors import DecisionError, SwitchyardError
from stacks.pricebook import Platform, Settings
from stacks.profile import Endpoint, Mode, Profile, Target
from stacks.profile.safe_yaml import parse, read_text
from stacks.targets.base import BaseTarget, Builder, LockValue, MoveEnd
from stacks.targets.managed_instances.accelerator import (
    GPU_CDK_VERSION,
    AcceleratorSizing,
    has_accelerator_config,
    installed_cdk,
)
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

    def when_chosen(self, option: Option) -> list[str]:
        a = option.sizing.accelerator if isinstance(option.sizing, ManagedInstancesOption) else None
        if a is None:
            return []
        return [f"managed-instances with a GPU is modelled for planning only: {_not_built(a)}"]

    def unbuildable(self, w: Workload) -> DecisionError | None:
        """A GPU option (platform.lmi_gpu) is planned, never synthesized: aws-cdk-lib 2.278 is not installable."""
        a = managed_instances_sizing(w).accelerator
        if a is None:
            return None
        explicit = w.profile.target is Target.managed_instances
        line = _line(w, ("target",) if explicit else ("model", "gpu"))
        how = "target: managed-instances" if explicit else "target: auto chose managed-instances"
        others = [t.value for t, o in w.decision.options.items() if o.feasible and t is not self.target]
        instead = (
            f"target: {' or '.join(others)} for this workload (`switchyard plan` shows their bills)"
            if others
            else "another target, once the profile lets one run it"
        )
        return DecisionError(
            f"{w.file}:{line}" if line else w.file,
            f"{how} with a GPU cannot be synthesized: {_not_built(a)}.\n"
            f"    allowed: {instead}, or platform.lmi_gpu: false so auto chooses among targets that synthesize",
        )

    def describe(self, w: Workload) -> str:
        o = managed_instances_sizing(w)
        e, a = o.environment, o.accelerator
        gpu = f", {a.memory_gib} GiB of {a.gpu_product}" if a is not None else ""
        return (
            f"{e.min_environments}-{e.max_environments} environments x ({e.environment_vcpus} vCPU, "
            f"{e.environment_memory_gb} GB{gpu}, {e.max_concurrency} concurrent) on {e.always_on_instances}-"
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
        o = managed_instances_sizing(w)
        e = o.environment
        figures: dict[str, LockValue] = {
            "instance_type": e.instance_type,
            "environment_vcpus": e.environment_vcpus,
            "memory_gib_per_vcpu": e.memory_gib_per_vcpu,
            "max_concurrency": e.max_concurrency,
            "min_environments": e.min_environments,
            "max_environments": e.max_environments,
        }
        if o.accelerator is not None:
            figures["accelerator_memory_gib"] = o.accelerator.memory_gib
        return figures

    def move_end(self, name: str, platform: Platform) -> MoveEnd:
        return managed_instances_end(name, platform)


def _not_built(a: AcceleratorSizing) -> str:
    installed = installed_cdk()
    if has_accelerator_config(installed):
        return (
            f"its function needs AcceleratorConfig (AcceleratorMemorySize {a.memory_gib} GiB on {a.gpu_product}), "
            f"which aws-cdk-lib {installed} has but Switchyard does not build yet"
        )
    return (
        f"its function needs AcceleratorConfig (AcceleratorMemorySize {a.memory_gib} GiB on {a.gpu_product}), which "
        f"aws-cdk-lib {GPU_CDK_VERSION} adds; this installation has aws-cdk-lib {installed}, and Switchyard writes no "
        "unvalidated property override in its place"
    )


def _line(w: Workload, loc: tuple[str, ...]) -> int | None:
    """The profile line of `loc` (Workload keeps no lines; the file was validated moments ago)."""
    try:
        _, lines, _ = parse(read_text(w.file), str(w.file), empty_allowed="a profile")
    except SwitchyardError:  # gone or replaced since: the refusal names the file alone
        return None
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc)


MANAGED_INSTANCES = ManagedInstances()
