"""The hybrid front's CDK stack: synthesized once with cdk-nag's AwsSolutions and Serverless packs,
linted by cfn-lint, and each grant a platform team relies on asserted exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stacks.targets.serverless.delivery import MAX_RECEIVE_COUNT
from tests.cdk_helpers import cfn_lint
from tests.conftest import IN_PROCESS_CDK

if TYPE_CHECKING:  # aws-cdk-lib is imported where used: only the `cdk` group's worker loads it
    from aws_cdk.assertions import Template

pytestmark = [pytest.mark.timeout(300), IN_PROCESS_CDK]
STACK = "Switchyard-embed"


@pytest.fixture(scope="module")
def assembly(tmp_path_factory):
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks, ServerlessChecks

    from stacks.aws.app import FEATURE_FLAGS
    from stacks.aws.hybrid import HybridFrontStack

    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk")), context=FEATURE_FLAGS)
    HybridFrontStack(
        app,
        STACK,
        workload_name="embed",
        installation="default",
        queue_retention_days=4,
        results_retention_days=7,
        message_max_bytes=262_144,
        oldest_message_alarm_s=900,
        env=cdk.Environment(region="eu-west-1"),
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app.synth()


@pytest.fixture(scope="module")
def template(assembly) -> Template:
    from aws_cdk.assertions import Template

    return Template.from_json(assembly.get_stack_by_name(STACK).template)


def test_nag_and_cfn_lint_pass(assembly):
    report = json.loads((Path(assembly.directory) / "validation-report.json").read_text())
    conclusions = {p["pluginName"]: (p["conclusion"], len(p["violations"])) for p in report["pluginReports"]}
    assert conclusions == {"AwsSolutions": ("success", 0), "Serverless": ("success", 0)}
    assert cfn_lint([str(assembly.get_stack_by_name(STACK).template_full_path)]) == []


def test_the_front_is_the_serverless_async_contract_without_a_lambda(template):
    from aws_cdk.assertions import Match

    template.resource_count_is("AWS::Lambda::Function", 0)
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 0)
    template.resource_count_is("AWS::SQS::Queue", 2)
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "VisibilityTimeout": 60,  # renewed by the worker's heartbeat; a killed worker's message is back in 60 s
            "MaximumMessageSize": 262_144,
            "SqsManagedSseEnabled": True,
            "RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": MAX_RECEIVE_COUNT},
        },
    )
    template.has_resource_properties("AWS::SQS::Queue", {"MessageRetentionPeriod": 14 * 86400})  # the DLQ
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"LifecycleConfiguration": {"Rules": [Match.object_like({"Prefix": "results/", "ExpirationInDays": 7})]}},
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ApproximateAgeOfOldestMessage", "Threshold": 900}
    )
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "ApproximateNumberOfMessagesVisible"})


def _policy(template: Template, description_start: str) -> dict:
    found = [
        r["Properties"]
        for r in template.find_resources("AWS::IAM::ManagedPolicy").values()
        if r["Properties"]["Description"].startswith(description_start)
    ]
    assert len(found) == 1, [
        r["Properties"]["Description"] for r in template.find_resources("AWS::IAM::ManagedPolicy").values()
    ]
    return found[0]


def _ref(template: Template, type_: str) -> list[str]:
    return sorted(template.find_resources(type_))


def test_the_worker_and_the_scaler_get_least_privilege_users(template):
    from stacks.aws.hybrid import SCALER_SQS_ACTIONS, WORKER_SQS_ACTIONS

    queue_id = next(
        k for k, r in template.find_resources("AWS::SQS::Queue").items() if "RedrivePolicy" in r["Properties"]
    )
    bucket_id = next(iter(template.find_resources("AWS::S3::Bucket")))
    queue_arn = {"Fn::GetAtt": [queue_id, "Arn"]}
    worker = _policy(template, "The cluster's SQS worker")
    assert worker["PolicyDocument"]["Statement"] == [
        {"Action": WORKER_SQS_ACTIONS, "Effect": "Allow", "Resource": queue_arn},
        {
            "Action": "s3:PutObject",
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/results/*"]]},
        },
    ]
    scaler = _policy(template, "KEDA's aws-sqs-queue scaler")
    assert scaler["PolicyDocument"]["Statement"] == [
        {"Action": SCALER_SQS_ACTIONS[0], "Effect": "Allow", "Resource": queue_arn}
    ]
    users = _ref(template, "AWS::IAM::User")
    assert len(users) == 2
    assert sorted(u["Ref"] for p in (worker, scaler) for u in p["Users"]) == users  # one policy each
    for user in template.find_resources("AWS::IAM::User").values():
        props = user.get("Properties", {})
        assert "Policies" not in props and "ManagedPolicyArns" not in props  # only the policy above
        assert "UserName" not in props  # no physical names: a second install does not collide
    sender = _policy(template, "Send {id, inputs}")
    assert sender["PolicyDocument"]["Statement"] == [
        {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": queue_arn}
    ]


def test_no_secret_is_created_or_output(assembly, template):
    template.resource_count_is("AWS::IAM::AccessKey", 0)
    template.resource_count_is("AWS::SecretsManager::Secret", 0)
    outputs = assembly.get_stack_by_name(STACK).template["Outputs"]
    assert set(outputs) == {
        "QueueUrl",
        "QueueArn",
        "DeadLetterQueueUrl",
        "Region",
        "ResultsBucketName",
        "QueueSendPolicyArn",
        "ResultsReadPolicyArn",
        "WorkerUserName",
        "ScalerUserName",
    }
    assert outputs["Region"]["Value"] == {"Ref": "AWS::Region"}
    assert "SecretAccessKey" not in json.dumps(outputs)
