"""One stack per managed-instances workload: the capacity provider and its function
(stacks/aws/managed_instances.py) behind the serverless target's front (stacks/aws/front.py)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.aws.front import QueueShape, acknowledge_front, build_front
from stacks.aws.managed_instances import ManagedInstancesFunction
from stacks.aws.network import PlatformImports
from stacks.decision.workload import Workload
from stacks.packaging import LAMBDA_IMAGE_WEIGHTS_DIR
from stacks.profile import Target
from stacks.targets.managed_instances import managed_instances_sizing


class ManagedInstancesStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        workload: Workload,
        build_context: Path,
        availability_zones: int,
        interface_endpoints: bool,
        **kwargs,
    ) -> None:
        d, o = workload.decision, managed_instances_sizing(workload)
        e = o.environment
        super().__init__(
            scope,
            id,
            description=(
                f"Switchyard workload {workload.name}: managed-instances, "
                f"~${d.option(Target.managed_instances).bill.total:,.0f}/month by the price book"
            ),
            **kwargs,
        )
        settings = workload.settings.platform
        platform = PlatformImports(
            self,
            "Platform",
            availability_zones=availability_zones,
            interface_endpoints=interface_endpoints,
            installation=settings.installation,
        )
        serving = ManagedInstancesFunction(
            self,
            "Serving",
            build_context=build_context,
            architecture=e.architecture,
            environment_vcpus=e.environment_vcpus,
            memory_gib_per_vcpu=e.memory_gib_per_vcpu,
            max_concurrency=e.max_concurrency,
            min_environments=e.min_environments,
            max_environments=e.max_environments,
            instance_types=[e.instance_type],
            max_vcpus=e.max_vcpus,
            platform=platform,
            workload_name=workload.name,
            installation=settings.installation,
            weights_dir=LAMBDA_IMAGE_WEIGHTS_DIR,
            timeout_s=o.timeout_s,
            description=f"Switchyard: {workload.name} ({workload.profile.model.preset.value} model, managed instances)",
            accelerator=workload.profile.model.accelerator if o.gpu else None,
        )
        CfnOutput(self, "FunctionName", value=serving.function.function_name, description="The serving function")
        CfnOutput(
            self,
            "FunctionArn",
            value=serving.invoke_arn,
            description="Unqualified: Lambda invokes $LATEST.PUBLISHED, the version each deploy publishes",
        )
        CfnOutput(self, "CapacityProviderArn", value=serving.capacity_provider.capacity_provider_arn)
        # Sync callers and the queue both reach the unqualified function: there is one published
        # version and no provisioned concurrency to keep a backlog away from.
        self.front = build_front(
            self,
            workload=workload,
            function=serving.function,
            invoke=serving.function,
            ingest_target=serving.function,
            log_group=serving.log_group,
            platform=platform,
            queue=QueueShape(
                function_timeout_s=o.timeout_s,
                batch_size=o.queue_batch_size,
                batch_window_s=o.queue_batch_window_s,
                max_concurrency=o.queue_max_concurrency,
            ),
            managed_instances=True,
        )
        self.serving = serving
        acknowledge_front(self, self.front, serving.function, serving.function)
