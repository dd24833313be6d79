"""One stack per serverless workload: it wires the constructs together and nothing else."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.aws.alarms import WorkloadAlarms
from stacks.aws.http_api import HttpEndpoint
from stacks.aws.platform import PlatformStack
from stacks.aws.queue import AsyncIngest
from stacks.aws.serving import ServingFunction
from stacks.aws.weights import WeightsVersion
from stacks.decide import Workload
from stacks.profile import Endpoint, Mode
from stacks.weights import weights_version

RESULTS_PREFIX = "results/"


def stack_name(workload_name: str) -> str:
    return f"Switchyard-{workload_name}"


class WorkloadStack(Stack):
    def __init__(
        self, scope: Construct, id: str, *, workload: Workload, build_context: Path, platform: PlatformStack, **kwargs
    ) -> None:
        d = workload.decision
        super().__init__(
            scope,
            id,
            description=(
                f"Switchyard workload {workload.name}: serverless, "
                f"~${d.serverless_cost.total:,.0f}/month by the price book"
            ),
            **kwargs,
        )
        mode = workload.profile.sla.mode
        weights = WeightsVersion(
            self, "Weights", sync=platform.weights_sync, workload=workload.name, version=weights_version(workload)
        )
        serving = ServingFunction(
            self,
            "Serving",
            workload=workload,
            build_context=build_context,
            platform=platform,
            weights_version=weights.version,
        )
        # The version that serves must not exist before its weights do.
        serving.function.node.add_dependency(weights.resource)

        self.ingest = None
        if mode is not Mode.sync:
            self.ingest = AsyncIngest(
                self,
                "Async",
                alias=serving.alias,
                function_timeout_s=d.serverless.timeout_s,
                max_concurrency=d.serverless.queue_max_concurrency,
                access_logs=platform.access_logs,
            )
            serving.function.add_environment("RESULTS_URI", f"s3://{self.ingest.results.bucket_name}/{RESULTS_PREFIX}")
            # Write on its results prefix only: no read, no delete, no other prefix.
            serving.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:PutObject"], resources=[self.ingest.results.arn_for_objects(f"{RESULTS_PREFIX}*")]
                )
            )
            CfnOutput(self, "QueueUrl", value=self.ingest.queue.queue_url)
            CfnOutput(self, "ResultsBucketName", value=self.ingest.results.bucket_name)
        self.http_api = None
        if mode is not Mode.async_ and workload.profile.sla.endpoint is Endpoint.http_api:
            self.http_api = HttpEndpoint(
                self,
                "HttpApi",
                name=workload.name,
                alias=serving.alias,
                peak_rps=workload.profile.utilization.peak_rps,
            )
            CfnOutput(self, "HttpApiUrl", value=self.http_api.url)
        elif mode is not Mode.async_:
            # A Function URL, not API Gateway: no 29 s cap on a slow model, and no per-request fee.
            url = serving.alias.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
            CfnOutput(self, "FunctionUrl", value=url.url)
        WorkloadAlarms(
            self,
            "Alarms",
            workload=workload,
            alias=serving.alias,
            log_group=serving.log_group,
            dlq=self.ingest.dlq if self.ingest else None,
        )
        self.serving = serving
        self.weights = weights
        self._acknowledge(workload)

    def _acknowledge(self, workload: Workload) -> None:
        from stacks.aws import nag

        nag.ack_function(self.serving.function, vpc=True)
        if self.ingest is not None:
            nag.ack_async(self.ingest, self.serving.alias)
            nag.ack_results_prefix(
                self.serving.function, self.get_logical_id(self.ingest.results.node.default_child), RESULTS_PREFIX
            )
