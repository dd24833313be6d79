"""The serving function: container image, EFS weights, alias `live`, provisioned concurrency."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Size, TimeZone
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.aws.common import LOG_RETENTION, traced
from stacks.aws.network import PlatformImports
from stacks.aws.weights import efs_mount, reader_access_point
from stacks.decision.workload import Workload
from stacks.packaging import LAMBDA_IMAGE_WEIGHTS_DIR, LAMBDA_WEIGHTS_DIR
from stacks.targets.serverless import serverless_sizing
from stacks.targets.serverless.delivery import HOLD_EVERY_MINUTES
from stacks.targets.serverless.installation import metrics_namespace

ALIAS = "live"


DAY = 24 * 60


def retained_log_group(scope: Construct) -> logs.LogGroup:
    """The function's own log group ("Logs"), kept a year and kept when the stack goes."""
    return logs.LogGroup(scope, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN)


def architecture(name: str) -> lambda_.Architecture:
    return lambda_.Architecture.ARM_64 if name == "arm64" else lambda_.Architecture.X86_64


def image_code(build_context: Path, arch: str) -> lambda_.DockerImageCode:
    """The rendered serving image (stacks/packaging.py), built for the function's architecture."""
    platform = ecr_assets.Platform.LINUX_ARM64 if arch == "arm64" else ecr_assets.Platform.LINUX_AMD64
    return lambda_.DockerImageCode.from_image_asset(str(build_context), platform=platform)


def function_environment(workload_name: str, installation: str, weights_dir: str) -> dict[str, str]:
    """What the rendered handler reads: its weights, and Powertools' service dimension and namespace."""
    return {
        "WEIGHTS_DIR": weights_dir,
        "POWERTOOLS_SERVICE_NAME": workload_name,
        "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace(installation),
    }


class ServingFunction(Construct):
    """DockerImageFunction sized by the decision, with alias `live` and its scaling."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        workload: Workload,
        build_context: Path,
        platform: PlatformImports,
        weights_version: str | None,
    ) -> None:
        super().__init__(scope, id)
        s = serverless_sizing(workload)
        self.log_group = retained_log_group(self)
        network: dict = {}
        if s.weights_in_image:
            weights_dir = LAMBDA_IMAGE_WEIGHTS_DIR
        else:
            assert weights_version is not None
            weights_dir = f"{LAMBDA_WEIGHTS_DIR}/{weights_version}"
            # Its own group: the file system's and the endpoints' ingress name this workload alone.
            self.security_group = platform.function_security_group(
                self, "SecurityGroup", f"Switchyard {workload.name}: NFS to EFS, HTTPS to endpoints"
            )
            reader = reader_access_point(self, "ReaderAccessPoint", platform.file_system, workload.name)
            network = {
                "vpc": platform.vpc,
                "vpc_subnets": platform.subnets,
                "security_groups": [self.security_group],
                "filesystem": efs_mount(
                    reader, platform.file_system, platform.efs_security_group, LAMBDA_WEIGHTS_DIR, write=False
                ),
            }
        self.function = lambda_.DockerImageFunction(
            self,
            "Resource",
            code=image_code(build_context, s.architecture),
            architecture=architecture(s.architecture),
            memory_size=s.memory_mb,
            timeout=Duration.seconds(s.timeout_s),
            ephemeral_storage_size=Size.mebibytes(512),  # weights live on EFS or in the image, not /tmp
            reserved_concurrent_executions=s.reserved_concurrency,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,  # the cold-start metric filter reads JSON reports
            environment=function_environment(workload.name, workload.settings.platform.installation, weights_dir),
            description=f"Switchyard: {workload.name} ({workload.profile.model.preset.value} model)",
            **network,
        )
        traced(self.function)
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
            zone = u.window_timezone()
            time_zone = None if zone == "UTC" else TimeZone.of(zone)
            # Provisioned environments take minutes to initialise: warm up ahead of the window,
            # then repeat the floor through the window, so a deploy inside it (which registers the
            # template's minimum of 0) or a failed action is corrected within minutes; target
            # tracking cannot lift capacity from 0 on its own.
            # The pre-warm is the decision's (platform.pc_prewarm_minutes), which the bill counts.
            prewarm = serverless_sizing(workload).pc_prewarm_minutes
            for name, cron in warm_schedule((start - prewarm) % DAY, end % DAY):
                scaling.scale_on_schedule(
                    name, schedule=cron, min_capacity=pc_min, max_capacity=pc_max, time_zone=time_zone
                )
            scaling.scale_on_schedule(
                "MinimumOutsideWindow",
                schedule=appscaling.Schedule.cron(hour=str(end % DAY // 60), minute=str(end % 60)),
                min_capacity=0,
                max_capacity=0,
                time_zone=time_zone,
            )
        return scaling


def warm_schedule(warm: int, end: int) -> list[tuple[str, appscaling.Schedule]]:
    """Cron schedules at `warm` and every HOLD_EVERY_MINUTES after it until before `end` (minutes of the day).

    Times are grouped by hour into as few cron expressions as their minute sets allow; the one
    that includes `warm` is named WarmInWindow, the others HoldInWindow1..n.
    """
    length = (end - warm) % DAY or DAY
    times = [(warm + k) % DAY for k in range(0, length, HOLD_EVERY_MINUTES)]
    minutes_by_hour: dict[int, tuple[int, ...]] = {}
    for t in times:
        minutes_by_hour[t // 60] = (*minutes_by_hour.get(t // 60, ()), t % 60)
    # consecutive hours (in window order) with the same minutes share one expression
    groups: list[tuple[list[int], tuple[int, ...]]] = []
    for hour, minutes in minutes_by_hour.items():
        minutes = tuple(sorted(minutes))
        if groups and groups[-1][1] == minutes and groups[-1][0][-1] + 1 == hour:
            groups[-1][0].append(hour)
        else:
            groups.append(([hour], minutes))
    out = []
    for hours, minutes in groups:
        hour = str(hours[0]) if len(hours) == 1 else f"{hours[0]}-{hours[-1]}"
        cron = appscaling.Schedule.cron(hour=hour, minute=",".join(map(str, minutes)))
        name = "WarmInWindow" if warm // 60 in hours and warm % 60 in minutes else f"HoldInWindow{len(out)}"
        out.append((name, cron))
    return out
