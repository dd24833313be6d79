"""The caller-facing part every Lambda-family workload stack shares: the SQS queue, DLQ and results
bucket for async work, the Function URL or HTTP API for sync callers, their outputs and the alarms.

Its constructs are created in the workload stack itself (not under a construct of their own), with
the IDs the serverless stack always had ("Async", "HttpApi", "Alarms", the output names): the
serverless templates do not change because this code moved.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from stacks.aws import nag
from stacks.aws.alarms import WorkloadAlarms
from stacks.aws.http_api import HttpEndpoint
from stacks.aws.network import PlatformImports
from stacks.aws.queue import MAX_RECEIVE_COUNT, RESULTS_PREFIX, AsyncIngest
from stacks.decision.workload import Workload
from stacks.errors import SwitchyardError
from stacks.profile import Endpoint, Mode


@dataclass(frozen=True)
class QueueShape:
    """The SQS event source as the target's sizing sets it."""

    function_timeout_s: int
    batch_size: int
    batch_window_s: int
    max_concurrency: int


@dataclass
class Front:
    ingest: AsyncIngest | None
    http_api: HttpEndpoint | None
    function_url: lambda_.FunctionUrl | None
    alarms: WorkloadAlarms


def build_front(
    stack: Stack,
    *,
    workload: Workload,
    function: lambda_.Function,
    invoke: lambda_.IFunction,
    ingest_target: lambda_.IFunction,
    log_group: logs.ILogGroup,
    platform: PlatformImports,
    queue: QueueShape,
    managed_instances: bool = False,
) -> Front:
    """Build the front of `function` in `stack`: sync callers reach `invoke` (an alias, or the function
    itself), the queue feeds `ingest_target`. `managed_instances` selects that target's alarms and
    refuses a Function URL (its rules refuse it first: URLs attach to aliases and $LATEST only)."""
    settings = workload.settings.platform
    mode = workload.profile.sla.mode
    ingest = None
    if mode is not Mode.sync:
        ingest = AsyncIngest(
            stack,
            "Async",
            alias=ingest_target,
            function_timeout_s=queue.function_timeout_s,
            batch_size=queue.batch_size,
            batch_window_s=queue.batch_window_s,
            max_concurrency=queue.max_concurrency,
            access_logs=platform.access_logs,
            queue_retention_days=settings.queue_retention_days,
            results_retention_days=settings.results_retention_days,
            message_max_bytes=settings.async_message_max_kb * 1024,
        )
        function.add_environment("RESULTS_URI", f"s3://{ingest.results.bucket_name}/{RESULTS_PREFIX}")
        # The handler writes a crashing message's error result at its last receive, and hands
        # unstarted messages back at once (the event source's grant includes ChangeMessageVisibility).
        function.add_environment("MAX_RECEIVE_COUNT", str(MAX_RECEIVE_COUNT))
        function.add_environment("QUEUE_URL", ingest.queue.queue_url)
        # Write on its results prefix only: no read, no delete, no other prefix.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[ingest.results.arn_for_objects(f"{RESULTS_PREFIX}*")]
            )
        )
        CfnOutput(stack, "QueueUrl", value=ingest.queue.queue_url, description="Send {id, inputs} here")
        CfnOutput(stack, "QueueArn", value=ingest.queue.queue_arn, description="For sqs:SendMessage grants")
        CfnOutput(stack, "DeadLetterQueueUrl", value=ingest.dlq.queue_url)
        CfnOutput(stack, "ResultsBucketName", value=ingest.results.bucket_name)
        CfnOutput(
            stack,
            "ResultsPrefixArn",
            value=ingest.results.arn_for_objects(f"{RESULTS_PREFIX}*"),
            description="Every caller's results: results/<caller>/<id>.json (for operators, not callers)",
        )
        CfnOutput(
            stack,
            "ResultsReadPolicyArn",
            value=ingest.results_reader.managed_policy_arn,
            description="Attach to a caller's role or user: it reads results/<its SenderId>/ only",
        )
    http_api = None
    function_url = None
    if mode is not Mode.async_ and workload.profile.sla.endpoint is Endpoint.http_api:
        http_api = HttpEndpoint(
            stack, "HttpApi", name=workload.name, alias=invoke, peak_rps=workload.profile.utilization.peak_rps
        )
        CfnOutput(stack, "HttpApiUrl", value=http_api.url, description="POST {inputs}, SigV4 (execute-api)")
        CfnOutput(
            stack,
            "HttpApiInvokeArn",
            value=stack.format_arn(
                service="execute-api", resource=http_api.api.api_id, resource_name=f"{http_api.stage.stage_name}/*"
            ),
            description="For execute-api:Invoke grants",
        )
    elif mode is not Mode.async_:
        if managed_instances:
            raise SwitchyardError(
                f"{workload.file}: sla.endpoint function_url: a Lambda Managed Instances function serves "
                "$LATEST.PUBLISHED, and a Function URL attaches only to an alias or $LATEST; use sla.endpoint: "
                "http_api (the plan's limit.endpoint says the same)"
            )
        # A Function URL, not API Gateway: no 29 s cap on a slow model, and no per-request fee.
        function_url = invoke.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        CfnOutput(
            stack,
            "FunctionUrl",
            value=function_url.url,
            # Function URLs created since October 2025 need both actions from an IAM caller.
            description="POST {inputs}, SigV4 (lambda:InvokeFunctionUrl and lambda:InvokeFunction on AliasArn)",
        )
    alarms = WorkloadAlarms(
        stack,
        "Alarms",
        workload=workload,
        alias=invoke,
        log_group=log_group,
        topic=platform.alarm_topic,
        queue=ingest.queue if ingest else None,
        dlq=ingest.dlq if ingest else None,
        function_url=function_url is not None,
        http_stage=http_api.stage if http_api else None,
        managed_instances=managed_instances,
    )
    return Front(ingest=ingest, http_api=http_api, function_url=function_url, alarms=alarms)


def acknowledge_front(stack: Stack, front: Front, function: lambda_.Function, ingest_target: lambda_.IFunction) -> None:
    """cdk-nag's findings on the queue, the event source and the results bucket, with their reasons."""
    if front.ingest is not None:
        nag.ack_async(front.ingest, ingest_target)
        results_id = stack.get_logical_id(front.ingest.results.node.default_child)
        nag.ack_results_prefix(function, results_id, RESULTS_PREFIX)
        nag.ack_results_reader(front.ingest.results_reader, results_id, RESULTS_PREFIX)
