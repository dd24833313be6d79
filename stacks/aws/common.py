"""Small pieces the platform and workload stacks share."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

LOG_RETENTION = logs.RetentionDays.ONE_YEAR
XRAY_WRITE = "AWSXRayDaemonWriteAccess"


def secure_bucket(
    scope: Construct,
    id: str,
    *,
    access_logs: s3.IBucket | None,
    versioned: bool = True,
    lifecycle_rules: list[s3.LifecycleRule] | None = None,
) -> s3.Bucket:
    """SSE-S3, SSL only, public access blocked, versioned, access-logged, kept on stack deletion."""
    return s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=versioned,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{id.lower()}/" if access_logs else None,
        removal_policy=RemovalPolicy.RETAIN,
        lifecycle_rules=lifecycle_rules,
    )


def expire_after(days: int, prefix: str | None = None) -> s3.LifecycleRule:
    """Current objects expire after `days`; overwritten/deleted versions a day later; stray uploads too."""
    return s3.LifecycleRule(
        id=f"expire-after-{days}-days",
        prefix=prefix,
        expiration=Duration.days(days),
        noncurrent_version_expiration=Duration.days(1),
        abort_incomplete_multipart_upload_after=Duration.days(1),
    )


def grant_read_prefix(grantee: iam.IGrantable, bucket_arn: str, prefix: str) -> None:
    """s3:GetObject on one prefix and s3:ListBucket limited to it: least privilege for weights."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"{bucket_arn}/{prefix}*"])
    )
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket_arn], conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}}
        )
    )


def traced(fn: lambda_.Function) -> None:
    """Active X-Ray tracing with AWS's managed write policy instead of CDK's inline `Resource: *`
    statement, so a `Resource: *` in a function's own policy is always a finding of its own."""
    fn.node.default_child.tracing_config = lambda_.CfnFunction.TracingConfigProperty(mode="Active")
    fn.role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(XRAY_WRITE))
