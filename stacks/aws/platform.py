"""The platform stack shared by every serverless workload: network, model storage, logs, alarm topic.

Its resources and parameters do not depend on which workloads exist (only the weights sync's
per-workload grants do, and nothing imports those), so adding, removing or moving a workload
never changes what a deployed workload stack reads from it. Values reach the workload stacks
through SSM parameters (stacks/aws/parameters.py), never CloudFormation exports.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.aws import nag
from stacks.aws import parameters as params
from stacks.aws.common import LOG_RETENTION, expire_after, secure_bucket
from stacks.aws.weights import WeightsSource, WeightsSync
from stacks.pricebook import Platform
from stacks.targets.serverless.installation import bucket_prefix

EFS_CLIENT_ACTIONS = [
    "elasticfilesystem:ClientMount",
    "elasticfilesystem:ClientWrite",
    "elasticfilesystem:ClientRootAccess",
]


def installation_buckets(installation: str) -> str:
    """CFN-generated bucket names start with the lowercased stack name: every bucket of this
    installation's stacks, and no other installation's, matches (names hold no '-' of their own)."""
    return f"arn:aws:s3:::{bucket_prefix(installation)}*"


class PlatformStack(Stack):
    """VPC without NAT (gateway/interface endpoints instead), EFS for weights, buckets, alarm topic."""

    def __init__(
        self, scope: Construct, id: str, *, platform: Platform, weights: list[WeightsSource], **kwargs
    ) -> None:
        super().__init__(
            scope, id, description="Switchyard platform: VPC, EFS for model weights, model bucket", **kwargs
        )

        self.installation = platform.installation
        flow_log_group = logs.LogGroup(self, "FlowLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            # The AZs by index in the region's list, resolved at deploy time: an account-agnostic
            # stack's own AZ list is capped at two by CDK, which would drop `availability_zones: 3`
            # silently (and the cost model bills interface endpoints per configured AZ). With
            # availability_zone_ids, each subnet is pinned to its AZ ID below instead.
            availability_zones=[Fn.select(i, Fn.get_azs()) for i in range(platform.availability_zones)],
            # The default group allows all traffic between its members and out: nothing uses it,
            # so it keeps no rules (CDK strips them with a custom resource at deploy).
            restrict_default_security_group=True,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22),
            ],
            # S3 through a gateway endpoint: free, and all that the serving code and the weights
            # sync talk to. Interface endpoints cost per AZ-hour, so only those the platform lists.
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                        flow_log_group, self._flow_log_role(flow_log_group)
                    ),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self._pin_availability_zones(platform.availability_zone_ids)
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        # What the VPC really spans, which workload stacks split the subnet list by: without an
        # account at synthesis CDK cannot list the region's AZs and caps max_azs at 2.
        self.az_count = len(self.vpc.isolated_subnets)

        # The weights sync has a security group of its own; each workload stack brings its own
        # for its function and opens NFS / HTTPS to itself from there (see stacks/aws/network.py).
        self.sync_security_group = https_only_security_group(
            self, "WeightsSyncSecurityGroup", self.vpc, "Switchyard weights sync: NFS to EFS, HTTPS to endpoints"
        )
        self.efs_security_group = ec2.SecurityGroup(
            self,
            "EfsSecurityGroup",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="Switchyard model file system: NFS from Switchyard functions only",
        )
        self.endpoint_security_group = None
        if platform.interface_endpoints:
            # Not CDK's default endpoint group (ingress from the VPC CIDR): only 443 from the
            # functions' groups, each added by the stack that owns the function.
            self.endpoint_security_group = ec2.SecurityGroup(
                self,
                "EndpointSecurityGroup",
                vpc=self.vpc,
                allow_all_outbound=False,
                description="Switchyard interface endpoints: HTTPS from Switchyard functions only",
            )
            self.endpoint_security_group.add_ingress_rule(
                self.sync_security_group, ec2.Port.tcp(443), "HTTPS from the weights sync"
            )
            for name in platform.interface_endpoints:  # distinct: validated (pricebook._distinct)
                self.vpc.add_interface_endpoint(
                    f"{name.title().replace('-', '').replace('.', '')}Endpoint",
                    service=ec2.InterfaceVpcEndpointAwsService(name),
                    subnets=self.subnets,
                    private_dns_enabled=True,
                    security_groups=[self.endpoint_security_group],
                    open=False,
                )

        self.file_system = efs.FileSystem(
            self,
            "ModelFileSystem",
            vpc=self.vpc,
            vpc_subnets=self.subnets,
            security_group=self.efs_security_group,
            encrypted=True,
            # Elastic: Bursting gives 50 KiB/s per GiB stored, so a few GB of weights would
            # starve a burst of cold starts reading them at once.
            throughput_mode=efs.ThroughputMode.ELASTIC,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            enable_automatic_backups=True,
            removal_policy=RemovalPolicy.RETAIN,
            allow_anonymous_access=True,  # no CDK default statement: the policy below is the whole policy
        )

        self.access_logs = secure_bucket(
            self,
            "AccessLogs",
            access_logs=None,  # the log bucket itself
            lifecycle_rules=[expire_after(platform.access_log_retention_days)],
        )
        self._allow_access_logging()
        # Versioned so overwritten weights can be restored; replaced versions expire after the
        # rollback window instead of being stored (and billed) forever.
        self.model_bucket = secure_bucket(
            self,
            "ModelBucket",
            access_logs=self.access_logs,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id=f"noncurrent-after-{platform.model_bucket_noncurrent_days}-days",
                    noncurrent_version_expiration=Duration.days(platform.model_bucket_noncurrent_days),
                    expired_object_delete_marker=True,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        # One sync function for every workload's weights: it mounts /workloads as their owner.
        self.weights_sync = WeightsSync(
            self,
            "WeightsSync",
            vpc=self.vpc,
            subnets=self.subnets,
            security_group=self.sync_security_group,
            efs_security_group=self.efs_security_group,
            file_system=self.file_system,
            sources=weights,
            kms_key_arn=platform.weights_kms_key_arn,
            installation=platform.installation,
        )
        self._file_system_policy()
        self.alarm_topic_arn = self._alarm_topic(platform)
        self._publish()
        nag.ack_weights_sync(self.weights_sync)

    def _flow_log_role(self, log_group: logs.ILogGroup) -> iam.Role:
        """CDK's own flow-log role trusts the service for any account's flow logs (confused deputy):
        this one only for this account's flow logs in this region."""
        role = iam.Role(
            self,
            "FlowLogRole",
            assumed_by=iam.ServicePrincipal(
                "vpc-flow-logs.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:vpc-flow-log/*"
                    },
                },
            ),
            description="Switchyard VPC flow logs: write to the flow-log group",
        )
        log_group.grant_write(role)
        role.add_to_policy(
            iam.PolicyStatement(actions=["logs:DescribeLogStreams"], resources=[log_group.log_group_arn])
        )
        return role

    def _pin_availability_zones(self, zone_ids: list[str]) -> None:
        """Subnets in the named AZ IDs (validated: supported by Lambda, of this region, one per AZ)."""
        for subnet, zone_id in zip(self.vpc.isolated_subnets, zone_ids, strict=False):
            cfn = subnet.node.default_child
            cfn.add_property_deletion_override("AvailabilityZone")
            cfn.add_property_override("AvailabilityZoneId", zone_id)

    def _file_system_policy(self) -> None:
        """IAM required (no anonymous NFS), TLS, mount targets and access points only; writes only by the sync."""
        fs = self.file_system
        writer_role = self.weights_sync.function.role
        deny = [
            ("DenyWithoutTls", EFS_CLIENT_ACTIONS, {"Bool": {"aws:SecureTransport": "false"}}),
            (
                "DenyOutsideMountTargets",
                EFS_CLIENT_ACTIONS,
                {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "false"}},
            ),
            ("DenyWithoutAccessPoint", EFS_CLIENT_ACTIONS, {"Null": {"elasticfilesystem:AccessPointArn": "true"}}),
            ("DenyRoot", ["elasticfilesystem:ClientRootAccess"], None),
            (
                "DenyWritesButTheSync",
                ["elasticfilesystem:ClientWrite"],
                {"ArnNotEquals": {"aws:PrincipalArn": writer_role.role_arn}},
            ),
        ]
        for sid, actions, condition in deny:
            fs.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=actions,
                    resources=["*"],
                    conditions=condition,
                )
            )
        # The sync role's own policy names its access point (a condition here on the access point
        # would be a cycle: the access point depends on the file system that holds this policy).
        fs.add_to_resource_policy(
            iam.PolicyStatement(
                sid="SyncWrites",
                principals=[iam.ArnPrincipal(writer_role.role_arn)],
                actions=["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                resources=["*"],
                conditions={"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}},
            )
        )
        # Reads: principals of this account whose own policy allows ClientMount. Each serving
        # role's policy names exactly its workload's access point (stacks/aws/weights.py).
        fs.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AccountReadsThroughAccessPoints",
                principals=[iam.AccountRootPrincipal()],
                actions=["elasticfilesystem:ClientMount"],
                resources=["*"],
                conditions={"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}},
            )
        )

    def _allow_access_logging(self) -> None:
        """S3 server access logging into this bucket, from Switchyard's own buckets in this account.

        CDK adds a source-bucket condition only for buckets in this stack; workload buckets log
        here too, so one statement covers them with the account and name conditions.
        """
        self.access_logs.add_to_resource_policy(
            iam.PolicyStatement(
                sid="S3ServerAccessLogsFromSwitchyardBuckets",
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[self.access_logs.arn_for_objects("*")],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": installation_buckets(self.installation)},
                },
            )
        )

    def _alarm_topic(self, platform: Platform) -> str:
        if platform.alarm_topic_arn:
            return platform.alarm_topic_arn
        key = kms.Key(
            self,
            "AlarmTopicKey",
            enable_key_rotation=True,
            description="Switchyard alarm topic: SNS encryption CloudWatch alarms can publish through",
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch publishes to an encrypted topic only if the key lets it (AWS-managed keys do not).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        topic = sns.Topic(self, "AlarmTopic", display_name="Switchyard alarms", master_key=key, enforce_ssl=True)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        for email in platform.alarm_emails:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        for child in topic.node.children:
            if child.node.id in platform.alarm_emails:
                nag.ack(
                    child,
                    "Serverless::Serverless-SNSRedrivePolicy",
                    "An alarm email that cannot be delivered loses no data: the alarm's state and history stay "
                    "in CloudWatch, and a dead-letter queue of undelivered alarm emails would have no reader.",
                )
        return topic.topic_arn

    def _publish(self) -> None:
        subnet_ids = Fn.join(",", [s.subnet_id for s in self.vpc.isolated_subnets])
        values = [
            (params.VPC_ID, self.vpc.vpc_id, "Switchyard VPC"),
            (params.SUBNET_IDS, subnet_ids, "Switchyard isolated subnets, one per AZ, comma-separated"),
            (params.FILE_SYSTEM_ID, self.file_system.file_system_id, "Switchyard model file system"),
            (params.EFS_SECURITY_GROUP, self.efs_security_group.security_group_id, "Model file system's group"),
            # Read by workload stacks of earlier releases only (today's build the fixed ARN): the
            # legacy provider's token while it exists, so such a stack still deploys unchanged.
            (params.WEIGHTS_SYNC_TOKEN, self._published_token(), "Weights copy custom resource"),
            (params.ACCESS_LOGS_BUCKET, self.access_logs.bucket_name, "S3 server access log bucket"),
            (params.ALARM_TOPIC_ARN, self.alarm_topic_arn, "SNS topic every Switchyard alarm notifies"),
        ]
        if self.endpoint_security_group is not None:
            values.append(
                (
                    params.ENDPOINT_SECURITY_GROUP,
                    self.endpoint_security_group.security_group_id,
                    "Interface endpoints' group",
                )
            )
        for key, value, description in values:
            params.publish(self, key, value, description, self.installation)

    def _published_token(self) -> str:
        legacy = self.weights_sync.legacy_provider
        return legacy.service_token if legacy is not None else self.weights_sync.service_token


def https_only_security_group(scope: Construct, id: str, vpc: ec2.IVpc, description: str) -> ec2.SecurityGroup:
    sg = ec2.SecurityGroup(scope, id, vpc=vpc, allow_all_outbound=False, description=description)
    # HTTPS anywhere is safe here: isolated subnets have no route out, so the only reachable
    # HTTPS targets are the S3 gateway endpoint (whose prefix list ID would need a synth-time
    # lookup) and the interface endpoints.
    sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to S3 (gateway endpoint) and interface endpoints")
    return sg
