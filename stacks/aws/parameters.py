"""Platform values handed to workload stacks through SSM parameters, not CloudFormation exports.

An export cannot change or disappear while any stack imports it, so a platform whose outputs
follow the workload set (the last async workload gone, fewer AZs, a replaced security group)
blocks its own next deploy. A parameter is read by each workload stack when it deploys
(`AWS::SSM::Parameter::Value<String>`): the platform can change freely and a workload picks up
the new value on its next deploy. The names are the contract, under one prefix per installation
(stacks/targets/serverless/installation.py: /switchyard/platform for the default one).
"""

from __future__ import annotations

from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.pricebook import DEFAULT_INSTALLATION
from stacks.targets.serverless.installation import parameter_prefix

PREFIX = parameter_prefix()  # the default installation's

VPC_ID = "vpc-id"
SUBNET_IDS = "subnet-ids"  # comma-separated, one per AZ
FILE_SYSTEM_ID = "efs-id"
EFS_SECURITY_GROUP = "efs-security-group-id"
ENDPOINT_SECURITY_GROUP = "endpoint-security-group-id"
WEIGHTS_SYNC_TOKEN = "weights-sync-service-token"
ACCESS_LOGS_BUCKET = "access-logs-bucket"
ALARM_TOPIC_ARN = "alarm-topic-arn"


def name(key: str, installation: str = DEFAULT_INSTALLATION) -> str:
    return f"{parameter_prefix(installation)}/{key}"


def publish(scope: Construct, key: str, value: str, description: str, installation: str) -> ssm.StringParameter:
    return ssm.StringParameter(
        scope, f"Param-{key}", parameter_name=name(key, installation), string_value=value, description=description
    )


def read(scope: Construct, key: str, installation: str) -> str:
    """A token resolved when the reading stack deploys."""
    return ssm.StringParameter.value_for_string_parameter(scope, name(key, installation))
