"""The serving function: container image, EFS weights, alias `live`, provisioned concurrency."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.aws.common import LOG_RETENTION
from stacks.aws.platform import PlatformStack
from stacks.aws.weights import efs_mount, reader_access_point
from stacks.decide import Workload
from stacks.packaging import LAMBDA_WEIGHTS_DIR

ALIAS = "live"
PREWARM_MINUTES = 15


class ServingFunction(Construct):
    """DockerImageFunction sized by the decision, with alias `live` and its scaling."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        workload: Workload,
        build_context: Path,
        platform: PlatformStack,
        weights_version: str,
    ) -> None:
        super().__init__(scope, id)
        s = workload.decision.serverless
        arm = s.architecture == "arm64"
        reader = reader_access_point(self, "ReaderAccessPoint", platform.file_system, workload.name)
        filesystem = efs_mount(
            reader, platform.file_system, platform.function_security_group, LAMBDA_WEIGHTS_DIR, write=False
        )
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN)
        self.function = lambda_.DockerImageFunction(
            self,
            "Resource",
            code=lambda_.DockerImageCode.from_image_asset(
                str(build_context),
                platform=ecr_assets.Platform.LINUX_ARM64 if arm else ecr_assets.Platform.LINUX_AMD64,
            ),
            architecture=lambda_.Architecture.ARM_64 if arm else lambda_.Architecture.X86_64,
            memory_size=s.memory_mb,
            timeout=Duration.seconds(s.timeout_s),
            ephemeral_storage_size=Size.mebibytes(512),  # weights live on EFS, not /tmp
            reserved_concurrent_executions=s.reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,  # the cold-start metric filter reads JSON reports
            vpc=platform.vpc,
            vpc_subnets=platform.subnets,
            security_groups=[platform.function_security_group],
            filesystem=filesystem,
            environment={"WEIGHTS_DIR": f"{LAMBDA_WEIGHTS_DIR}/{weights_version}"},
            description=f"Switchyard: {workload.name} ({workload.profile.model.preset.value} model)",
        )
        if s.provisioned and not s.pc_scheduled:
            # Warm around the clock: the alias holds the floor, target tracking adds to it.
            self.alias = self.function.add_alias(ALIAS, provisioned_concurrent_executions=s.pc_min)
        else:
            # Scheduled or none: the scheduled actions own provisioned concurrency, so a deploy
            # outside the window does not fight them by setting a static value.
            self.alias = self.function.add_alias(ALIAS)
        self.scaling = None
        if s.provisioned:
            self.scaling = self._scaling(workload, s.pc_min, s.pc_max, s.pc_scheduled)

    def _scaling(self, workload: Workload, pc_min: int, pc_max: int, scheduled: bool):
        u = workload.profile.utilization
        platform = workload.settings.platform
        scaling = self.alias.add_auto_scaling(min_capacity=0 if scheduled else pc_min, max_capacity=pc_max)
        scaling.scale_on_utilization(utilization_target=platform.pc_target_utilization)
        if scheduled:
            window = u.window_minutes()
            assert window is not None, "sizing schedules provisioned concurrency only for an active window"
            start, end = window
            # Provisioned environments take minutes to initialise: warm up ahead of the window.
            warm = (start - PREWARM_MINUTES) % (24 * 60)
            stop = end % (24 * 60)
            scaling.scale_on_schedule(
                "WarmInWindow",
                schedule=appscaling.Schedule.cron(hour=str(warm // 60), minute=str(warm % 60)),
                min_capacity=pc_min,
                max_capacity=pc_max,
            )
            scaling.scale_on_schedule(
                "MinimumOutsideWindow",
                schedule=appscaling.Schedule.cron(hour=str(stop // 60), minute=str(stop % 60)),
                min_capacity=0,
                max_capacity=0,
            )
        return scaling
