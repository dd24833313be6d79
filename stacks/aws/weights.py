"""Weights on EFS before traffic: a writer access point and a one-shot sync per version."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.aws.platform import LOG_RETENTION, PlatformStack, grant_read_prefix

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
WRITER_UID = 1000  # owns the weights directories
READER_UID = 1001  # the serving function: can read, cannot write (POSIX 0755 owned by WRITER_UID)
SYNC_MOUNT = "/mnt/weights"


def workload_root(name: str) -> str:
    return f"/workloads/{name}"


def access_point(scope: Construct, id: str, fs: efs.IFileSystem, name: str, uid: int) -> efs.AccessPoint:
    return efs.AccessPoint(
        scope,
        id,
        file_system=fs,
        path=workload_root(name),
        # Whichever access point mounts first creates the directory owned by the writer, 0755:
        # the serving function's user can read weights and never change them.
        create_acl=efs.Acl(owner_uid=str(WRITER_UID), owner_gid=str(WRITER_UID), permissions="755"),
        posix_user=efs.PosixUser(uid=str(uid), gid=str(uid)),
    )


def efs_mount(ap: efs.AccessPoint, platform: PlatformStack, path: str, *, write: bool) -> lambda_.FileSystem:
    """Mount one access point, with IAM scoped to this file system through this access point."""
    actions = ["elasticfilesystem:ClientMount"] + (["elasticfilesystem:ClientWrite"] if write else [])
    return lambda_.FileSystem(
        arn=ap.access_point_arn,
        local_mount_path=path,
        connections=ec2.Connections(security_groups=[platform.function_security_group]),
        dependency=[platform.file_system.mount_targets_available],
        policies=[
            iam.PolicyStatement(
                actions=actions,
                resources=[platform.file_system.file_system_arn],
                conditions={"StringEquals": {"elasticfilesystem:AccessPointArn": ap.access_point_arn}},
            )
        ],
    )


class WeightsOnEfs(Construct):
    """Copies the profile's exact weights into /workloads/<name>/<version>/ on the model file system.

    `version` changes when the weights source changes, and the serving function's WEIGHTS_DIR
    includes it, so a new weights version publishes a new function version only after the copy.
    """

    def __init__(
        self, scope: Construct, id: str, *, name: str, weights: str, weights_dir: Path | None, platform: PlatformStack
    ) -> None:
        super().__init__(scope, id)
        if weights_dir is not None:  # local weights: uploaded as a zip asset, extracted on EFS
            asset = s3_assets.Asset(self, "Asset", path=str(weights_dir))
            source = asset.s3_object_url
            self.version = asset.asset_hash[:16]
            reader: s3_assets.Asset | None = asset
        else:
            source = weights
            self.version = hashlib.sha256(weights.encode()).hexdigest()[:16]
            reader = None

        writer = access_point(self, "WriterAccessPoint", platform.file_system, name, WRITER_UID)
        log_group = logs.LogGroup(self, "SyncLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        self.function = lambda_.Function(
            self,
            "SyncFunction",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="weights_sync.on_event",
            code=lambda_.Code.from_asset(str(RUNTIME_DIR)),
            timeout=Duration.minutes(15),
            memory_size=1769,  # one full vCPU for the copy
            vpc=platform.vpc,
            vpc_subnets=platform.subnets,
            security_groups=[platform.function_security_group],
            filesystem=efs_mount(writer, platform, SYNC_MOUNT, write=True),
            environment={"MOUNT": SYNC_MOUNT},
            log_group=log_group,
            reserved_concurrent_executions=1,  # one copy at a time per workload
            tracing=lambda_.Tracing.ACTIVE,
            description=f"Switchyard: copy {name} weights to EFS before traffic",
        )
        if reader is not None:  # exactly this asset object, not the whole assets bucket
            self.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[reader.bucket.arn_for_objects(reader.s3_object_key)]
                )
            )
        else:
            bucket, _, prefix = weights[5:].partition("/")
            grant_read_prefix(self.function, f"arn:aws:s3:::{bucket}", prefix)

        provider_logs = logs.LogGroup(
            self, "ProviderLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        provider = cr.Provider(self, "Provider", on_event_handler=self.function, log_group=provider_logs)
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::SwitchyardWeights",
            properties={"Source": source, "Version": self.version},
        )
        self.provider = provider
