"""A hand-written CDK app with the resources Switchyard synthesizes for the sentiment-api example.

    python bench/handwritten_app.py BUILD_CONTEXT WEIGHTS_DIR OUTDIR

What a platform engineer would write by hand for one workload: no profiles, no decision, no
templates; the same VPC, EFS, buckets, weights sync, function, alias, scaling, URL and alarms,
with the same cdk-nag packs (findings acknowledged per stack, as hand-written apps usually do).
bench/vs_handwritten.py times it against `switchyard synth`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import custom_resources as cr
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

RUNTIME = Path(__file__).resolve().parent.parent / "stacks" / "aws" / "runtime"
RULES = [  # acknowledged at stack level: the findings Switchyard acknowledges construct by construct
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
    "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
    "Serverless::Serverless-LambdaDLQ",
    "Serverless::Serverless-LambdaTracing",
    "Serverless::Serverless-LambdaDefaultMemorySize",
    "AwsSolutions::AwsSolutions-IAM5[Resource::<SyncEC3EAE86.Arn>:*]",
]


def bucket(scope, id, logs_bucket=None):
    return s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=logs_bucket,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


def mount(ap, fs, sg, path, actions):
    return lambda_.FileSystem(
        arn=ap.access_point_arn,
        local_mount_path=path,
        connections=ec2.Connections(security_groups=[sg]),
        dependency=[fs.mount_targets_available],
        policies=[iam.PolicyStatement(actions=actions, resources=[fs.file_system_arn])],
    )


def main(context: str, weights: str, outdir: str) -> None:
    app = cdk.App(
        outdir=outdir,
        context={
            "@aws-cdk/core:defaultCrossStackReferences": "strong",
            "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
        },
    )
    env = cdk.Environment(region="us-east-1")
    platform = cdk.Stack(app, "Platform", env=env)
    vpc = ec2.Vpc(
        platform,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
        gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        flow_logs={
            "All": ec2.FlowLogOptions(
                destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                    logs.LogGroup(platform, "FlowLogs", retention=logs.RetentionDays.ONE_YEAR)
                )
            )
        },
    )
    subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
    fn_sg = ec2.SecurityGroup(platform, "FnSg", vpc=vpc, allow_all_outbound=False)
    fn_sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443))
    efs_sg = ec2.SecurityGroup(platform, "EfsSg", vpc=vpc, allow_all_outbound=False)
    efs_sg.add_ingress_rule(fn_sg, ec2.Port.tcp(2049))
    fn_sg.add_egress_rule(efs_sg, ec2.Port.tcp(2049))
    fs = efs.FileSystem(
        platform,
        "Fs",
        vpc=vpc,
        vpc_subnets=subnets,
        security_group=efs_sg,
        encrypted=True,
        throughput_mode=efs.ThroughputMode.ELASTIC,
        enable_automatic_backups=True,
    )
    access_logs = bucket(platform, "AccessLogs")
    bucket(platform, "Models", access_logs)
    acl = efs.Acl(owner_uid="1000", owner_gid="1000", permissions="755")
    writer = efs.AccessPoint(
        platform,
        "Writer",
        file_system=fs,
        path="/workloads",
        create_acl=acl,
        posix_user=efs.PosixUser(uid="1000", gid="1000"),
    )
    sync = lambda_.Function(
        platform,
        "Sync",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="weights_sync.on_event",
        code=lambda_.Code.from_asset(str(RUNTIME)),
        timeout=cdk.Duration.minutes(15),
        memory_size=1769,
        vpc=vpc,
        vpc_subnets=subnets,
        security_groups=[fn_sg],
        filesystem=mount(
            writer, fs, fn_sg, "/mnt/weights", ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
        ),
        log_group=logs.LogGroup(platform, "SyncLogs"),
        tracing=lambda_.Tracing.ACTIVE,
    )
    asset = s3_assets.Asset(platform, "Weights", path=weights)
    sync.add_to_role_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[asset.bucket.arn_for_objects(asset.s3_object_key)])
    )
    provider = cr.Provider(platform, "Provider", on_event_handler=sync, log_group=logs.LogGroup(platform, "ProvLogs"))

    stack = cdk.Stack(app, "SentimentApi", env=env)
    reader = efs.AccessPoint(
        stack,
        "Reader",
        file_system=fs,
        path="/workloads/sentiment-api",
        create_acl=acl,
        posix_user=efs.PosixUser(uid="1001", gid="1001"),
    )
    weights_cr = cdk.CustomResource(
        stack,
        "WeightsVersion",
        service_token=provider.service_token,
        properties={"Workload": "sentiment-api", "Source": asset.s3_object_url, "Version": "v"},
    )
    log_group = logs.LogGroup(stack, "Logs", retention=logs.RetentionDays.ONE_YEAR)
    fn = lambda_.DockerImageFunction(
        stack,
        "Fn",
        code=lambda_.DockerImageCode.from_image_asset(context),
        memory_size=2048,
        timeout=cdk.Duration.seconds(30),
        reserved_concurrent_executions=7,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        vpc=vpc,
        vpc_subnets=subnets,
        security_groups=[fn_sg],
        environment={"WEIGHTS_DIR": "/mnt/models/v"},
        filesystem=mount(reader, fs, fn_sg, "/mnt/models", ["elasticfilesystem:ClientMount"]),
    )
    fn.node.add_dependency(weights_cr)
    alias = fn.add_alias("live")
    scaling = alias.add_auto_scaling(min_capacity=0, max_capacity=5)
    scaling.scale_on_utilization(utilization_target=0.7)
    scaling.scale_on_schedule(
        "Warm", schedule=appscaling.Schedule.cron(hour="7", minute="45"), min_capacity=1, max_capacity=5
    )
    scaling.scale_on_schedule(
        "Cool", schedule=appscaling.Schedule.cron(hour="18", minute="0"), min_capacity=0, max_capacity=0
    )
    cdk.CfnOutput(stack, "Url", value=alias.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM).url)
    five = cdk.Duration.minutes(5)
    gt = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
    for id_, metric, threshold in (
        ("Errors", alias.metric_errors(period=five), 0),
        ("Throttles", alias.metric_throttles(period=five), 0),
        ("P99", alias.metric_duration(period=five, statistic="p99"), 300),
        (
            "Spill",
            cw.Metric(
                namespace="AWS/Lambda",
                metric_name="ProvisionedConcurrencySpilloverInvocations",
                dimensions_map={"FunctionName": fn.function_name, "Resource": alias.function_name},
            ),
            0,
        ),
    ):
        metric.create_alarm(stack, id_, threshold=threshold, evaluation_periods=1, comparison_operator=gt)
    cold = logs.MetricFilter(
        stack,
        "Cold",
        log_group=log_group,
        metric_namespace="Switchyard",
        metric_name="sentiment-api-InitDuration",
        metric_value="$.record.metrics.initDurationMs",
        filter_pattern=logs.FilterPattern.literal(
            '{ ($.type = "platform.report") && ($.record.metrics.initDurationMs > 0) }'
        ),
    )
    cold.metric(period=five, statistic="Maximum").create_alarm(
        stack, "ColdStart", threshold=1000, evaluation_periods=1, comparison_operator=gt
    )

    for s in (platform, stack):
        cdk.Validations.of(s).acknowledge(
            *[cdk.Acknowledgment(id=r, reason="accepted for the benchmark app") for r in RULES]
        )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    app.synth()


if __name__ == "__main__":
    main(*sys.argv[1:4])
