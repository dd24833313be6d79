"""The CDK app: one platform stack plus one stack per workload resolved to serverless or
managed-instances, and one front stack (queue, DLQ, results bucket, worker and scaler users) per
workload resolved to hybrid.

    npx cdk synth          (cdk.json runs this module)

Profiles come from the context key `switchyard:profiles` (default: profiles). Synthesis is
offline: no context lookups, account left to deploy time, region from the platform settings.
"""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from stacks.aws.hybrid import HybridFrontStack
from stacks.aws.managed_instances_stack import ManagedInstancesStack
from stacks.aws.platform import PlatformStack
from stacks.aws.weights import WeightsSource
from stacks.aws.workload import WorkloadStack, stack_name
from stacks.commands.lock import entry as lock_entry
from stacks.decision.workload import Workload
from stacks.errors import Problem, ProfileError, SwitchyardError
from stacks.k8s import naming
from stacks.packaging import BUILD_ROOT, render
from stacks.pricebook import Platform
from stacks.profile.loader import PLATFORM_FILE, load_settings
from stacks.profile.names import PLATFORM_STACK  # noqa: F401  (the default installation's; tests import it here)
from stacks.targets.hybrid import hybrid_sizing
from stacks.targets.serverless import serverless_sizing
from stacks.targets.serverless.installation import front_stack, instances_stack, platform_stack
from stacks.weights import local_weights_dir, weights_version
from stacks.workloads import Batch, buildable, load_all

PROFILES_CONTEXT = "switchyard:profiles"
# Feature flags, set here (not in cdk.json) so the CLI and in-process synthesis agree.
FEATURE_FLAGS = {
    # Keep CloudFormation exports protected while a workload stack imports them.
    "@aws-cdk/core:defaultCrossStackReferences": "strong",
    # Grant S3 server access logging by bucket policy, not the legacy LogDeliveryWrite ACL, so
    # every bucket can enforce bucket-owner object ownership (ACLs off).
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


def build_app(
    batch: Batch,
    *,
    profiles_dir: Path,
    outdir: str | None = None,
    build_root: Path = BUILD_ROOT,
    nag: bool = True,
    template_validation: bool = True,
) -> cdk.App:
    """Construct (not synthesize) the app for the serverless workloads of `batch` and the hybrids' fronts.

    `template_validation`: CDK's built-in CloudFormation template validation at synth, which only
    warns (on stderr) and costs seconds (a WASM rule engine started per process, then each stack);
    off where nobody reads its warnings (`switchyard snapshot`). cdk-nag runs either way (`nag`)."""
    platform_settings = load_settings(profiles_dir).platform
    serverless = batch.by_target("serverless")
    managed = batch.by_target("managed-instances")
    hybrid = batch.by_target("hybrid")  # their AWS fronts; the workers are the Pulumi program's
    if serverless or managed or hybrid:
        unheard = alarms_without_subscribers(platform_settings, profiles_dir)
        if unheard is not None:
            raise unheard
    app = cdk.App(outdir=outdir, context=FEATURE_FLAGS, builtin_cloud_formation_validation=template_validation)
    env = cdk.Environment(region=platform_settings.region)
    installation = platform_settings.installation
    on_efs = [w for w in serverless if not serverless_sizing(w).weights_in_image]
    weights = [
        WeightsSource(
            workload=w.name,
            version=weights_version(w),
            s3_uri=w.profile.model.weights if w.profile.model.weights_in_s3 else None,
            local_dir=local_weights_dir(w),
        )
        for w in on_efs
    ]
    platform = PlatformStack(app, platform_stack(installation), platform=platform_settings, weights=weights, env=env)
    # The same ownership labels as the Kubernetes objects (stacks/k8s/naming.py), as tags.
    root = profiles_dir.resolve().parent
    ownership = naming.addon_ownership("serverless-platform")
    for key, value in ownership.items():
        cdk.Tags.of(platform).add(key, value)
    _tag_raw_resources(platform, ownership)
    for w in serverless:
        context = render(w, build_root)
        stack = WorkloadStack(
            app,
            stack_name(w.name, installation),
            workload=w,
            build_context=context.resolve(),
            availability_zones=platform.az_count,
            interface_endpoints=platform.endpoint_security_group is not None,
            weights_source=platform.weights_sync.source_urls.get(w.name),
            env=env,
        )
        _belongs(stack, platform, w, root)
    for w in managed:
        stack = ManagedInstancesStack(
            app,
            instances_stack(w.name, installation),
            workload=w,
            build_context=render(w, build_root).resolve(),
            availability_zones=platform.az_count,
            interface_endpoints=platform.endpoint_security_group is not None,
            env=env,
        )
        _belongs(stack, platform, w, root)
    for w in hybrid:
        p = w.settings.platform
        front = HybridFrontStack(
            app,
            front_stack(w.name, installation),
            workload_name=w.name,
            installation=installation,
            queue_retention_days=p.queue_retention_days,
            results_retention_days=p.results_retention_days,
            message_max_bytes=p.async_message_max_kb * 1024,
            oldest_message_alarm_s=p.queue_oldest_message_alarm_s,
            visibility_timeout_s=hybrid_sizing(w).visibility_timeout_s,
            env=env,
        )
        _belongs(front, platform, w, root)  # the access-log bucket and alarm topic, by SSM parameter
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app


def _belongs(stack: cdk.Stack, platform: cdk.Stack, w: Workload, root: Path) -> None:
    """A workload stack deploys after the platform and carries the workload's ownership tags."""
    # Parameters, not exports, carry platform values: the order is explicit.
    stack.add_stack_dependency(platform)
    revision = naming.plan_revision(lock_entry(w))
    for key, value in naming.ownership(w.name, w.file, revision, root).items():
        cdk.Tags.of(stack).add(key, value)


def _tag_raw_resources(stack: cdk.Stack, tags: dict[str, str]) -> None:
    """Tags on the role and function of CDK's own custom-resource providers (the default security
    group's restriction): they are plain CfnResources, which cdk.Tags does not reach."""
    for construct in stack.node.find_all():
        if (
            isinstance(construct, cdk.CfnResource)
            and not cdk.TagManager.is_taggable(construct)
            and construct.cfn_resource_type in ("AWS::IAM::Role", "AWS::Lambda::Function")
        ):
            construct.add_property_override("Tags", [{"Key": k, "Value": v} for k, v in sorted(tags.items())])


def alarms_without_subscribers(platform: Platform, profiles_dir: Path) -> ProfileError | None:
    """The refusal to synthesize alarms whose topic nobody subscribes to, unless the user said so.

    A created topic with no alarm_emails delivers every alarm to nobody, and nothing else would
    ever say so. An existing topic (alarm_topic_arn) is the user's: its subscriptions are theirs.
    """
    if platform.alarm_topic_arn or platform.alarm_emails or platform.alarms_without_subscribers:
        return None
    file = profiles_dir / PLATFORM_FILE
    return ProfileError(
        [
            Problem(
                file=str(file),
                line=None,
                path="platform.alarm_emails",
                message="the serverless alarms would notify an SNS topic with no subscriber: nobody would hear them",
                allowed=(
                    "platform.alarm_emails: [oncall@example.com] (each address confirms by email), "
                    "platform.alarm_topic_arn: an existing topic in the platform region, or "
                    "platform.alarms_without_subscribers: true (alarms change state in CloudWatch only)"
                ),
                hint=f"add one of them under platform: in {file}" + ("" if file.exists() else " (create the file)"),
            )
        ]
    )


def main() -> int:
    probe = cdk.App()
    profiles_dir = Path(probe.node.try_get_context(PROFILES_CONTEXT) or "profiles")
    batch = buildable(load_all([profiles_dir]))
    if batch.failures:
        for failure in batch.failures:
            print(f"error: {failure.error}", file=sys.stderr)
        return 1
    try:
        build_app(batch, profiles_dir=profiles_dir).synth()
    except SwitchyardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
