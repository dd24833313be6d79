"""The platform stack shared by every serverless workload: network, model storage, logs."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.aws import nag
from stacks.aws.common import LOG_RETENTION, secure_bucket
from stacks.aws.weights import WeightsSource, WeightsSync
from stacks.pricebook import Platform


class PlatformStack(Stack):
    """VPC without NAT (gateway/interface endpoints instead), EFS for weights, the model bucket."""

    def __init__(
        self, scope: Construct, id: str, *, platform: Platform, weights: list[WeightsSource], **kwargs
    ) -> None:
        super().__init__(
            scope, id, description="Switchyard platform: VPC, EFS for model weights, model bucket", **kwargs
        )

        flow_log_group = logs.LogGroup(self, "FlowLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=platform.availability_zones,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22),
            ],
            # S3 through a gateway endpoint: free, and all that the serving code and the weights
            # sync talk to. Interface endpoints cost per AZ-hour, so only those the platform lists.
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.function_security_group = ec2.SecurityGroup(
            self,
            "FunctionSecurityGroup",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="Switchyard functions: NFS to EFS and HTTPS to VPC endpoints only",
        )
        # HTTPS anywhere is safe here: isolated subnets have no route out, so the only reachable
        # HTTPS targets are the S3 gateway endpoint (whose prefix list ID would need a synth-time
        # lookup) and the interface endpoints.
        self.function_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to S3 (gateway endpoint) and interface endpoints"
        )
        for name in platform.interface_endpoints:
            self.vpc.add_interface_endpoint(
                f"{name.title().replace('-', '')}Endpoint",
                service=ec2.InterfaceVpcEndpointAwsService(name),
                subnets=self.subnets,
                private_dns_enabled=True,
            )

        efs_security_group = ec2.SecurityGroup(
            self,
            "EfsSecurityGroup",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="Switchyard model file system: NFS from Switchyard functions only",
        )
        efs_security_group.add_ingress_rule(self.function_security_group, ec2.Port.tcp(2049), "NFS from functions")
        self.function_security_group.add_egress_rule(
            efs_security_group, ec2.Port.tcp(2049), "NFS to the model file system"
        )
        self.file_system = efs.FileSystem(
            self,
            "ModelFileSystem",
            vpc=self.vpc,
            vpc_subnets=self.subnets,
            security_group=efs_security_group,
            encrypted=True,
            # Elastic: Bursting gives 50 KiB/s per GiB stored, so a few GB of weights would
            # starve a burst of cold starts reading them at once.
            throughput_mode=efs.ThroughputMode.ELASTIC,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            enable_automatic_backups=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.access_logs = secure_bucket(self, "AccessLogs", access_logs=None)  # the log bucket itself
        self.model_bucket = secure_bucket(self, "ModelBucket", access_logs=self.access_logs)
        # One sync function for every workload's weights: it mounts /workloads as their owner.
        self.weights_sync = WeightsSync(
            self,
            "WeightsSync",
            vpc=self.vpc,
            subnets=self.subnets,
            security_group=self.function_security_group,
            file_system=self.file_system,
            sources=weights,
        )
        nag.ack_weights_sync(self.weights_sync)
