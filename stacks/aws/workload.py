"""One stack per serverless workload: it wires the constructs together and nothing else."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.aws import nag
from stacks.aws.front import QueueShape, acknowledge_front, build_front
from stacks.aws.network import PlatformImports
from stacks.aws.serving import ServingFunction
from stacks.aws.weights import WEIGHTS_RESOURCE_ID, WeightsVersion
from stacks.decision.workload import Workload
from stacks.pricebook import DEFAULT_INSTALLATION
from stacks.profile import Mode, Target
from stacks.targets.serverless import serverless_sizing
from stacks.targets.serverless.installation import workload_stack
from stacks.weights import weights_version


def stack_name(workload_name: str, installation: str = DEFAULT_INSTALLATION) -> str:
    return workload_stack(workload_name, installation)


class WorkloadStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        workload: Workload,
        build_context: Path,
        availability_zones: int,
        interface_endpoints: bool,
        weights_source: str | None,
        **kwargs,
    ) -> None:
        d, s = workload.decision, serverless_sizing(workload)
        super().__init__(
            scope,
            id,
            description=(
                f"Switchyard workload {workload.name}: serverless, "
                f"~${d.option(Target.serverless).bill.total:,.0f}/month by the price book"
            ),
            **kwargs,
        )
        settings = workload.settings.platform
        # What this stack takes from the platform, read from SSM parameters when it deploys.
        platform = PlatformImports(
            self,
            "Platform",
            availability_zones=availability_zones,
            interface_endpoints=interface_endpoints,
            installation=settings.installation,
        )
        mode = workload.profile.sla.mode
        self.weights = None
        version = None
        if not s.weights_in_image:
            assert weights_source is not None, "the platform's weights sync has a source for every EFS workload"
            self.weights = WeightsVersion(
                self,
                WEIGHTS_RESOURCE_ID,
                service_token=platform.weights_sync_token,
                source=weights_source,
                workload=workload.name,
                version=weights_version(workload),
            )
            version = self.weights.version
        serving = ServingFunction(
            self,
            "Serving",
            workload=workload,
            build_context=build_context,
            platform=platform,
            weights_version=version,
        )
        if self.weights is not None:
            # The version that serves must not exist before its weights do.
            serving.function.node.add_dependency(self.weights.resource)
        CfnOutput(self, "FunctionName", value=serving.function.function_name, description="The serving function")
        CfnOutput(self, "AliasArn", value=serving.alias.function_arn, description="Alias live: invoke this ARN")

        # mode both: the queue polls $LATEST (the function, unqualified), which never holds
        # provisioned concurrency: a backlog cannot take the warm environments kept for sync
        # callers, nor drive their target tracking (and bill) up. It runs the code and
        # configuration this stack deployed, as the alias does once the deploy ends.
        self.ingest_target = serving.function if mode is Mode.both else serving.alias
        front = build_front(
            self,
            workload=workload,
            function=serving.function,
            invoke=serving.alias,
            ingest_target=self.ingest_target,
            log_group=serving.log_group,
            platform=platform,
            queue=QueueShape(
                function_timeout_s=s.timeout_s,
                batch_size=s.queue_batch_size,
                batch_window_s=s.queue_batch_window_s,
                max_concurrency=s.queue_max_concurrency,
            ),
        )
        self.front = front
        self.ingest, self.http_api, self.function_url, self.alarms = (
            front.ingest,
            front.http_api,
            front.function_url,
            front.alarms,
        )
        self.serving = serving
        self._acknowledge(workload)

    def _acknowledge(self, workload: Workload) -> None:
        nag.ack_function(self.serving.function, vpc=not serverless_sizing(workload).weights_in_image)
        acknowledge_front(self, self.front, self.serving.function, self.ingest_target)
