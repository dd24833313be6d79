"""What a workload stack takes from the platform: read from SSM parameters when it deploys.

Every value is read lazily, so a stack declares a parameter only for what it uses (a workload
with its weights in the image reads neither the VPC nor the file system).
"""

from __future__ import annotations

from functools import cached_property

from aws_cdk import Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.aws import parameters as params
from stacks.aws.platform import https_only_security_group
from stacks.aws.weights import service_token_arn


class PlatformImports(Construct):
    def __init__(
        self, scope: Construct, id: str, *, availability_zones: int, interface_endpoints: bool, installation: str
    ) -> None:
        super().__init__(scope, id)
        self._azs = availability_zones
        self._endpoints = interface_endpoints
        self.installation = installation

    def _read(self, key: str) -> str:
        return params.read(self, key, self.installation)

    @cached_property
    def vpc(self) -> ec2.IVpc:
        # The AZ count is the platform's, from the same app, so the split length is known at synthesis.
        subnet_ids = Fn.split(",", self._read(params.SUBNET_IDS), self._azs)
        return ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id=self._read(params.VPC_ID),
            availability_zones=[Fn.select(i, Fn.get_azs()) for i in range(self._azs)],
            isolated_subnet_ids=[Fn.select(i, subnet_ids) for i in range(self._azs)],
        )

    @property
    def subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnets=self.vpc.isolated_subnets)

    @cached_property
    def efs_security_group(self) -> ec2.ISecurityGroup:
        return ec2.SecurityGroup.from_security_group_id(
            self, "EfsSecurityGroup", self._read(params.EFS_SECURITY_GROUP), allow_all_outbound=False
        )

    @cached_property
    def endpoint_security_group(self) -> ec2.ISecurityGroup | None:
        if not self._endpoints:
            return None
        return ec2.SecurityGroup.from_security_group_id(
            self, "EndpointSecurityGroup", self._read(params.ENDPOINT_SECURITY_GROUP), allow_all_outbound=False
        )

    @cached_property
    def file_system(self) -> efs.IFileSystem:
        return efs.FileSystem.from_file_system_attributes(
            self,
            "FileSystem",
            file_system_id=self._read(params.FILE_SYSTEM_ID),
            security_group=self.efs_security_group,
        )

    @cached_property
    def weights_sync_token(self) -> str:
        # Built from the provider's fixed name, not read from the platform: nothing the platform
        # does to the function can change the token this stack's custom resource was created with.
        return service_token_arn(self, self.installation)

    @cached_property
    def access_logs(self) -> s3.IBucket:
        return s3.Bucket.from_bucket_name(self, "AccessLogs", self._read(params.ACCESS_LOGS_BUCKET))

    @cached_property
    def alarm_topic(self) -> sns.ITopic:
        return sns.Topic.from_topic_arn(self, "AlarmTopic", self._read(params.ALARM_TOPIC_ARN))

    def function_security_group(self, scope: Construct, id: str, description: str) -> ec2.SecurityGroup:
        """A workload's own group: HTTPS out, and in on the interface endpoints' group when there is one."""
        sg = https_only_security_group(scope, id, self.vpc, description)
        if self.endpoint_security_group is not None:
            self.endpoint_security_group.add_ingress_rule(sg, ec2.Port.tcp(443), "HTTPS from a Switchyard function")
        return sg
