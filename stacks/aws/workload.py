"""One stack per serverless workload: it wires the constructs together and nothing else."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.aws import nag
from stacks.aws.alarms import WorkloadAlarms
from stacks.aws.http_api import HttpEndpoint
from stacks.aws.network import PlatformImports
from stacks.aws.queue import MAX_RECEIVE_COUNT, RESULTS_PREFIX, AsyncIngest
from stacks.aws.serving import ServingFunction
from stacks.aws.weights import WEIGHTS_RESOURCE_ID, WeightsVersion
from stacks.decision.workload import Workload
from stacks.pricebook import DEFAULT_INSTALLATION
from stacks.profile import Endpoint, Mode, Target
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

        self.ingest = None
        # mode both: the queue polls $LATEST (the function, unqualified), which never holds
        # provisioned concurrency: a backlog cannot take the warm environments kept for sync
        # callers, nor drive their target tracking (and bill) up. It runs the code and
        # configuration this stack deployed, as the alias does once the deploy ends.
        self.ingest_target = serving.function if mode is Mode.both else serving.alias
        if mode is not Mode.sync:
            self.ingest = AsyncIngest(
                self,
                "Async",
                alias=self.ingest_target,
                function_timeout_s=s.timeout_s,
                batch_size=s.queue_batch_size,
                batch_window_s=s.queue_batch_window_s,
                max_concurrency=s.queue_max_concurrency,
                access_logs=platform.access_logs,
                queue_retention_days=settings.queue_retention_days,
                results_retention_days=settings.results_retention_days,
                message_max_bytes=settings.async_message_max_kb * 1024,
            )
            serving.function.add_environment("RESULTS_URI", f"s3://{self.ingest.results.bucket_name}/{RESULTS_PREFIX}")
            # The handler writes a crashing message's error result at its last receive, and hands
            # unstarted messages back at once (the event source's grant includes ChangeMessageVisibility).
            serving.function.add_environment("MAX_RECEIVE_COUNT", str(MAX_RECEIVE_COUNT))
            serving.function.add_environment("QUEUE_URL", self.ingest.queue.queue_url)
            # Write on its results prefix only: no read, no delete, no other prefix.
            serving.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:PutObject"], resources=[self.ingest.results.arn_for_objects(f"{RESULTS_PREFIX}*")]
                )
            )
            CfnOutput(self, "QueueUrl", value=self.ingest.queue.queue_url, description="Send {id, inputs} here")
            CfnOutput(self, "QueueArn", value=self.ingest.queue.queue_arn, description="For sqs:SendMessage grants")
            CfnOutput(self, "DeadLetterQueueUrl", value=self.ingest.dlq.queue_url)
            CfnOutput(self, "ResultsBucketName", value=self.ingest.results.bucket_name)
            CfnOutput(
                self,
                "ResultsPrefixArn",
                value=self.ingest.results.arn_for_objects(f"{RESULTS_PREFIX}*"),
                description="Every caller's results: results/<caller>/<id>.json (for operators, not callers)",
            )
            CfnOutput(
                self,
                "ResultsReadPolicyArn",
                value=self.ingest.results_reader.managed_policy_arn,
                description="Attach to a caller's role or user: it reads results/<its SenderId>/ only",
            )
        self.http_api = None
        self.function_url = None
        if mode is not Mode.async_ and workload.profile.sla.endpoint is Endpoint.http_api:
            self.http_api = HttpEndpoint(
                self,
                "HttpApi",
                name=workload.name,
                alias=serving.alias,
                peak_rps=workload.profile.utilization.peak_rps,
            )
            CfnOutput(self, "HttpApiUrl", value=self.http_api.url, description="POST {inputs}, SigV4 (execute-api)")
            CfnOutput(
                self,
                "HttpApiInvokeArn",
                value=self._api_invoke_arn(),
                description="For execute-api:Invoke grants",
            )
        elif mode is not Mode.async_:
            # A Function URL, not API Gateway: no 29 s cap on a slow model, and no per-request fee.
            self.function_url = serving.alias.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
            CfnOutput(
                self,
                "FunctionUrl",
                value=self.function_url.url,
                # Function URLs created since October 2025 need both actions from an IAM caller.
                description="POST {inputs}, SigV4 (lambda:InvokeFunctionUrl and lambda:InvokeFunction on AliasArn)",
            )
        self.alarms = WorkloadAlarms(
            self,
            "Alarms",
            workload=workload,
            alias=serving.alias,
            log_group=serving.log_group,
            topic=platform.alarm_topic,
            queue=self.ingest.queue if self.ingest else None,
            dlq=self.ingest.dlq if self.ingest else None,
            function_url=self.function_url is not None,
            http_stage=self.http_api.stage if self.http_api else None,
        )
        self.serving = serving
        self._acknowledge(workload)

    def _api_invoke_arn(self) -> str:
        assert self.http_api is not None
        return self.format_arn(
            service="execute-api",
            resource=self.http_api.api.api_id,
            resource_name=f"{self.http_api.stage.stage_name}/*",
        )

    def _acknowledge(self, workload: Workload) -> None:
        nag.ack_function(self.serving.function, vpc=not serverless_sizing(workload).weights_in_image)
        if self.ingest is not None:
            nag.ack_async(self.ingest, self.ingest_target)
            results_id = self.get_logical_id(self.ingest.results.node.default_child)
            nag.ack_results_prefix(self.serving.function, results_id, RESULTS_PREFIX)
            nag.ack_results_reader(self.ingest.results_reader, results_id, RESULTS_PREFIX)
