"""Weights on EFS before traffic.

The platform stack holds one `WeightsSync`: a function that mounts /workloads on the model file
system as the owner of every workload's weights, behind a custom-resource provider. Each workload
stack holds a `WeightsVersion` custom resource asking it to copy one exact version to
/workloads/<name>/<version>/; the serving function's version depends on it, so no cold start ever
waits on a download, and its WEIGHTS_DIR names the version, so new weights publish a new version.

CloudFormation refuses to change a custom resource's ServiceToken ("Modifying service token is
not allowed"), so the token must outlive the provider function: the provider's function has a
fixed name per installation and the workload stacks build its ARN from that name
(`service_token_arn`), never from the function's generated name. A replaced provider function
(new construct path, CDK upgrade) comes back under the same name and ARN.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import ArnFormat, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.aws.common import LOG_RETENTION, grant_read_prefix, traced
from stacks.pricebook import DEFAULT_INSTALLATION
from stacks.targets.serverless.installation import weights_sync_provider

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
WORKLOADS_ROOT = "/workloads"
WRITER_UID = 1000  # owns the weights directories
READER_UID = 1001  # the serving functions: can read, cannot write (POSIX 0755 owned by WRITER_UID)
SYNC_MOUNT = "/mnt/weights"
OWNER_ACL = efs.Acl(owner_uid=str(WRITER_UID), owner_gid=str(WRITER_UID), permissions="755")
PROVIDER_ID = "StableProvider"  # the provider whose function has the installation's fixed name
# Before the fixed name, the provider's function had a generated name, and custom resources created
# then carry its ARN as their token: it stays to answer their Delete when a workload stack moves to
# the stable token (a new custom resource, WEIGHTS_RESOURCE_ID). Remove it once every workload stack
# of the installation has been deployed once with this release.
LEGACY_PROVIDER_ID = "Provider"
WEIGHTS_RESOURCE_ID = "WeightsCopy"  # was "Weights" with the legacy token: a new ID, not a token change


def service_token_arn(scope: Construct, installation: str) -> str:
    """The provider's ARN from its fixed name: the same string whatever replaced the function."""
    return Stack.of(scope).format_arn(
        service="lambda",
        resource="function",
        resource_name=weights_sync_provider(installation),
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


@dataclass(frozen=True)
class WeightsSource:
    workload: str
    version: str
    s3_uri: str | None = None  # s3://bucket/prefix/
    local_dir: Path | None = None  # uploaded as a zip asset and extracted on EFS


def reader_access_point(scope: Construct, id: str, fs: efs.IFileSystem, name: str) -> efs.AccessPoint:
    return efs.AccessPoint(
        scope,
        id,
        file_system=fs,
        path=f"{WORKLOADS_ROOT}/{name}",
        # If it mounts before the first sync, the directory is still created owned by the writer.
        create_acl=OWNER_ACL,
        posix_user=efs.PosixUser(uid=str(READER_UID), gid=str(READER_UID)),
    )


def efs_mount(
    ap: efs.AccessPoint, fs: efs.IFileSystem, efs_security_group: ec2.ISecurityGroup, path: str, *, write: bool
) -> lambda_.FileSystem:
    """Mount one access point, with IAM scoped to this file system through this access point.

    The function opens NFS from its own security group to the file system's (CDK adds the
    ingress on the EFS group and the egress on the function's, in the function's stack).
    """
    actions = ["elasticfilesystem:ClientMount"] + (["elasticfilesystem:ClientWrite"] if write else [])
    return lambda_.FileSystem(
        arn=ap.access_point_arn,
        local_mount_path=path,
        connections=ec2.Connections(security_groups=[efs_security_group], default_port=ec2.Port.tcp(2049)),
        dependency=[fs.mount_targets_available],
        policies=[
            iam.PolicyStatement(
                actions=actions,
                resources=[fs.file_system_arn],
                conditions={"StringEquals": {"elasticfilesystem:AccessPointArn": ap.access_point_arn}},
            )
        ],
    )


class WeightsSync(Construct):
    """The shared copier, with read access to exactly the weights the serverless workloads name."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        efs_security_group: ec2.ISecurityGroup,
        file_system: efs.IFileSystem,
        sources: list[WeightsSource],
        kms_key_arn: str | None = None,
        installation: str = DEFAULT_INSTALLATION,
    ) -> None:
        super().__init__(scope, id)
        self.writer = writer = efs.AccessPoint(
            self,
            "WriterAccessPoint",
            file_system=file_system,
            path=WORKLOADS_ROOT,
            create_acl=OWNER_ACL,
            posix_user=efs.PosixUser(uid=str(WRITER_UID), gid=str(WRITER_UID)),
        )
        # A role of its own, outside the function construct: the function waits for the mount
        # targets, and the file system's policy names this role, so a role inside the function
        # (inheriting that wait) would make a cycle.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(f"service-role/{name}")
                for name in ("AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole")
            ],
            description="Switchyard weights sync: writes weights to EFS through its access point",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            role=self.role,
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="weights_sync.on_event",
            code=lambda_.Code.from_asset(str(RUNTIME_DIR)),
            timeout=Duration.minutes(15),
            memory_size=1769,  # one full vCPU for the copy
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[security_group],
            filesystem=efs_mount(writer, file_system, efs_security_group, SYNC_MOUNT, write=True),
            environment={"MOUNT": SYNC_MOUNT},
            log_group=logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY),
            description="Switchyard: copy workloads' weights to EFS before traffic",
        )
        traced(self.function)
        if kms_key_arn:
            # SSE-KMS weights: S3 decrypts on the caller's behalf, so Decrypt through S3 only.
            self.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt"],
                    resources=[kms_key_arn],
                    conditions={"StringLike": {"kms:ViaService": f"s3.{Stack.of(self).region}.amazonaws.com"}},
                )
            )
        self.source_urls: dict[str, str] = {}
        self.s3_prefixes: list[str] = []
        for src in sources:
            if src.local_dir is not None:
                asset = s3_assets.Asset(self, f"Asset-{src.workload}", path=str(src.local_dir))
                # exactly this asset object, not the whole assets bucket
                self.function.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["s3:GetObject"], resources=[asset.bucket.arn_for_objects(asset.s3_object_key)]
                    )
                )
                self.source_urls[src.workload] = asset.s3_object_url
            else:
                assert src.s3_uri is not None
                bucket, _, prefix = src.s3_uri[5:].partition("/")
                grant_read_prefix(self.function, f"arn:aws:s3:::{bucket}", prefix)
                self.s3_prefixes.append(f"arn:aws:s3:::{bucket}/{prefix}")
                self.source_urls[src.workload] = src.s3_uri
        self.provider = cr.Provider(
            self,
            PROVIDER_ID,
            on_event_handler=self.function,
            provider_function_name=weights_sync_provider(installation),
            log_group=logs.LogGroup(
                self, f"{PROVIDER_ID}Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
            ),
        )
        self.service_token = service_token_arn(self, installation)
        self.legacy_provider = None
        if installation == DEFAULT_INSTALLATION:
            # Only the default installation existed before the fixed name.
            self.legacy_provider = cr.Provider(
                self,
                LEGACY_PROVIDER_ID,
                on_event_handler=self.function,
                log_group=logs.LogGroup(
                    self, "ProviderLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
                ),
            )


class WeightsVersion(Construct):
    """A workload's request to have one weights version on EFS (a custom resource)."""

    def __init__(
        self, scope: Construct, id: str, *, service_token: str, source: str, workload: str, version: str
    ) -> None:
        super().__init__(scope, id)
        self.version = version
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=service_token,
            resource_type="Custom::SwitchyardWeights",
            properties={"Workload": workload, "Source": source, "Version": version},
        )
