"""cdk-nag acknowledgements: each one a finding a security reviewer would accept, with why.

Acknowledgements are attached to the exact construct a finding is about (one per granular
finding), never to a whole stack, so a new resource with the same problem still fails synthesis.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

BASIC_EXECUTION = "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
VPC_EXECUTION = "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]"

XRAY_WRITE = "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AWSXRayDaemonWriteAccess]"

REASONS = {
    BASIC_EXECUTION: "AWS-managed policy Lambda documents for function logging: CreateLogGroup, CreateLogStream "
    "and PutLogEvents on any log group of the account (not only the function's own). The function logs to its "
    "own retained group; the broader grant is accepted to stay on the policy AWS maintains.",
    VPC_EXECUTION: "AWS-managed policy Lambda documents for VPC functions: create, describe and delete network "
    "interfaces and assign/unassign their private IPs, on any resource of the account (Lambda manages the ENIs "
    "in the function's subnets), plus the same account-wide log writes as the basic execution policy.",
    XRAY_WRITE: "AWS-managed X-Ray write policy (PutTraceSegments, PutTelemetryRecords, sampling reads) for "
    "active tracing; X-Ray has no resource-level permissions. Used instead of CDK's inline Resource '*' "
    "statement so that any Resource '*' in the role's own policy remains an unacknowledged finding.",
    "Serverless::Serverless-LambdaDLQ": "Never invoked asynchronously: it serves synchronous calls (Function URL, "
    "the custom-resource provider) or an SQS event source whose queue has its own dead-letter queue; a Lambda "
    "DLQ only catches failed asynchronous invocations.",
}


def ack(scope: IConstruct, rule: str, reason: str | None = None) -> None:
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason or REASONS[rule]))


def ack_function(fn, *, vpc: bool) -> None:
    """Findings every Switchyard Lambda function shares: managed policies, each by its exact ARN."""
    role = fn.role
    ack(role, BASIC_EXECUTION)
    if vpc:
        ack(role, VPC_EXECUTION)
    ack(role, XRAY_WRITE)
    ack(fn, "Serverless::Serverless-LambdaDLQ")


def ack_weights_sync(weights) -> None:
    ack_function(weights.function, vpc=True)
    for s3_prefix in weights.s3_prefixes:
        ack(
            weights.function.role,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::{s3_prefix}*]",
            "Read access is limited to the objects under one workload's weights prefix; the object names "
            "inside a model version are not known at synthesis.",
        )
    for provider in (weights.provider, weights.legacy_provider):
        if provider is not None:
            _ack_provider(weights, provider)


def _ack_provider(weights, provider) -> None:
    framework = provider.node.find_child("framework-onEvent")
    role = framework.role
    ack(role, BASIC_EXECUTION)
    ack(
        role,
        f"AwsSolutions::AwsSolutions-IAM5[Resource::<{cdk.Stack.of(weights).get_logical_id(weights.function.node.default_child)}.Arn>:*]",
        "CDK's custom-resource provider may invoke any version of the one sync function it fronts.",
    )
    for rule, reason in (
        (
            "Serverless::Serverless-LambdaTracing",
            "CDK's custom-resource provider framework function runs once per "
            "deploy; its behaviour is visible in CloudFormation events and its own log group.",
        ),
        (
            "Serverless::Serverless-LambdaDefaultMemorySize",
            "CDK's provider framework function only relays one "
            "event per deploy; its default memory is ample and it is not configurable.",
        ),
        (
            "Serverless::Serverless-LambdaDLQ",
            "CloudFormation custom-resource events that fail surface as a failed "
            "stack operation and are retried by the provider framework; a DLQ would hide them.",
        ),
    ):
        ack(framework, rule, reason)


def ack_async(ingest, alias) -> None:
    ack(
        ingest.dlq,
        "Serverless::Serverless-SQSRedrivePolicy",
        "This queue is the dead-letter queue; a DLQ for the DLQ would defer the same failure. Its depth is alarmed.",
    )
    for child in alias.node.children:
        if child.node.id.startswith("SqsEventSource"):
            ack(
                child,
                "Serverless::Serverless-LambdaEventSourceMappingDestination",
                "SQS event sources use the queue's redrive policy (DLQ after 5 receives); on-failure "
                "destinations apply only to stream sources.",
            )


def ack_results_prefix(fn, results_arn_logical_id: str, prefix: str) -> None:
    ack(
        fn.role,
        f"AwsSolutions::AwsSolutions-IAM5[Resource::<{results_arn_logical_id}.Arn>/{prefix}*]",
        "Write-only access to the workload's results prefix; object names are the clients' message ids, known only at run time.",
    )


def ack_results_reader(policy, results_arn_logical_id: str, prefix: str) -> None:
    ack(
        policy,
        f"AwsSolutions::AwsSolutions-IAM5[Resource::<{results_arn_logical_id}.Arn>/{prefix}<aws:userid>/*]",
        "Read-only access to the caller's own results prefix, named by the policy variable aws:userid (the "
        "SenderId SQS reports and the handler files results under); object names are the caller's message ids.",
    )
