"""A hand-written CDK app with the resources Switchyard synthesizes for the sentiment-api example.

    python bench/handwritten_app.py BUILD_CONTEXT WEIGHTS_DIR OUTDIR

What a platform engineer would write by hand for one workload: no profiles, no decision, no
templates; the same VPC, EFS (with its policy), buckets (with lifecycle rules), weights sync, alarm topic and
its key, SSM parameters, function (weights baked into the image, as the decision chooses for this
example), alias, scaling with its repeated warm actions, URL, alarms and outputs, with the same
cdk-nag packs (findings acknowledged per stack, as hand-written apps usually do).
bench/vs_handwritten.py times it against `switchyard synth`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from aws_cdk import custom_resources as cr
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

RUNTIME = Path(__file__).resolve().parent.parent / "stacks" / "aws" / "runtime"
RULES = [  # acknowledged at stack level: the findings Switchyard acknowledges construct by construct
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AWSXRayDaemonWriteAccess]",
    "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
    "Serverless::Serverless-LambdaDLQ",
    "Serverless::Serverless-LambdaTracing",
    "Serverless::Serverless-LambdaDefaultMemorySize",
    "AwsSolutions::AwsSolutions-IAM5[Resource::<SyncEC3EAE86.Arn>:*]",
]


def bucket(scope, id, logs_bucket=None, days=None):
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
        lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(days))] if days else None,
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
    del weights  # baked into the image by the build context
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
        allow_anonymous_access=True,
    )
    access_logs = bucket(platform, "AccessLogs", days=365)
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
    role = iam.Role(
        platform,
        "SyncRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        managed_policies=[
            iam.ManagedPolicy.from_aws_managed_policy_name(f"service-role/{n}")
            for n in ("AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole")
        ],
    )
    sync = lambda_.Function(
        platform,
        "Sync",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="weights_sync.on_event",
        code=lambda_.Code.from_asset(str(RUNTIME)),
        timeout=cdk.Duration.minutes(15),
        memory_size=1769,
        role=role,
        vpc=vpc,
        vpc_subnets=subnets,
        security_groups=[fn_sg],
        filesystem=mount(
            writer, fs, fn_sg, "/mnt/weights", ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
        ),
        log_group=logs.LogGroup(platform, "SyncLogs"),
        tracing=lambda_.Tracing.ACTIVE,
    )
    for sid, effect, principal, actions, condition in (
        (
            "Tls",
            iam.Effect.DENY,
            iam.AnyPrincipal(),
            ["elasticfilesystem:*"],
            {"Bool": {"aws:SecureTransport": "false"}},
        ),
        ("Root", iam.Effect.DENY, iam.AnyPrincipal(), ["elasticfilesystem:ClientRootAccess"], None),
        ("Sync", iam.Effect.ALLOW, iam.ArnPrincipal(role.role_arn), ["elasticfilesystem:ClientWrite"], None),
        ("Read", iam.Effect.ALLOW, iam.AccountRootPrincipal(), ["elasticfilesystem:ClientMount"], None),
    ):
        fs.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid, effect=effect, principals=[principal], actions=actions, resources=["*"], conditions=condition
            )
        )
    provider = cr.Provider(platform, "Provider", on_event_handler=sync, log_group=logs.LogGroup(platform, "ProvLogs"))
    key = kms.Key(platform, "TopicKey", enable_key_rotation=True)
    key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
    topic = sns.Topic(platform, "Alarms", master_key=key, enforce_ssl=True)
    for name, value in (
        ("vpc-id", vpc.vpc_id),
        ("subnet-ids", cdk.Fn.join(",", [s.subnet_id for s in vpc.isolated_subnets])),
        ("efs-id", fs.file_system_id),
        ("efs-security-group-id", efs_sg.security_group_id),
        ("weights-sync-service-token", provider.service_token),
        ("access-logs-bucket", access_logs.bucket_name),
        ("alarm-topic-arn", topic.topic_arn),
    ):
        ssm.StringParameter(platform, name, parameter_name=f"/bench/{name}", string_value=value)

    stack = cdk.Stack(app, "SentimentApi", env=env)
    stack.add_stack_dependency(platform)
    alarm_topic = sns.Topic.from_topic_arn(
        stack, "Topic", ssm.StringParameter.value_for_string_parameter(stack, "/bench/alarm-topic-arn")
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
        environment={"WEIGHTS_DIR": "/opt/switchyard/weights", "POWERTOOLS_SERVICE_NAME": "sentiment-api"},
    )
    alias = fn.add_alias("live")
    scaling = alias.add_auto_scaling(min_capacity=0, max_capacity=5)
    scaling.scale_on_utilization(utilization_target=0.7)
    for id_, hour, minute, low, high in (
        ("Warm", "7", "45", 1, 5),
        ("Hold", "8-17", "0,15,30,45", 1, 5),
        ("Cool", "18", "0", 0, 0),
    ):
        scaling.scale_on_schedule(
            id_, schedule=appscaling.Schedule.cron(hour=hour, minute=minute), min_capacity=low, max_capacity=high
        )
    cdk.CfnOutput(stack, "Url", value=alias.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM).url)
    cdk.CfnOutput(stack, "AliasArn", value=alias.function_arn)
    cdk.CfnOutput(stack, "FunctionName", value=fn.function_name)
    five = cdk.Duration.minutes(5)
    gt = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
    by_alias = {"FunctionName": fn.function_name, "Resource": alias.function_name}
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
    for id_, metric, threshold in (
        ("Errors", alias.metric_errors(period=five), 0),
        ("Throttles", alias.metric_throttles(period=five), 0),
        ("P99", alias.metric_duration(period=five, statistic="p99"), 300),
        (
            "Spill",
            cw.Metric(
                namespace="AWS/Lambda",
                metric_name="ProvisionedConcurrencySpilloverInvocations",
                dimensions_map=by_alias,
            ),
            0,
        ),
        (
            "Model",
            cw.Metric(namespace="Switchyard", metric_name="ModelErrors", dimensions_map={"service": "sentiment-api"}),
            0,
        ),
        ("Url5xx", cw.Metric(namespace="AWS/Lambda", metric_name="Url5xxCount", dimensions_map=by_alias), 0),
        ("ColdStart", cold.metric(period=five, statistic="Maximum"), 1000),
    ):
        alarm = metric.create_alarm(stack, id_, threshold=threshold, evaluation_periods=1, comparison_operator=gt)
        alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))
        alarm.add_ok_action(cw_actions.SnsAction(alarm_topic))

    for key_, value in (("app.kubernetes.io/managed-by", "switchyard"), ("switchyard.dev/workload", "sentiment-api")):
        cdk.Tags.of(stack).add(key_, value)
    for s in (platform, stack):
        cdk.Validations.of(s).acknowledge(
            *[cdk.Acknowledgment(id=r, reason="accepted for the benchmark app") for r in RULES]
        )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    app.synth()


if __name__ == "__main__":
    main(*sys.argv[1:4])
