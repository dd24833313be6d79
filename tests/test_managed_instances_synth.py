"""target: managed-instances end to end: a steady CPU profile (tests/fixtures/steady_cpu) planned,
packaged on a Python 3.13 Lambda base, synthesized into its own stack (capacity provider, function,
the serverless front) with cdk-nag's AwsSolutions and Serverless packs on, cfn-lint clean, and
`switchyard synth` naming the target and its files.

Why the fixture sets `target: managed-instances` rather than `auto`: under the default price book a
steady CPU workload is cheapest on a share of the Kubernetes cluster's CPU nodes (test below).
Among the Lambda targets, managed instances win it: on a platform without a cluster
(`platform.targets`), auto chooses them (tests/test_platform_targets.py).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from stacks.commands import lock
from stacks.packaging import IMAGES, LAMBDA_IMAGE_WEIGHTS_DIR, render
from stacks.profile import Target
from stacks.profile.names import PLATFORM_STACK
from stacks.targets.managed_instances import managed_instances_sizing
from stacks.targets.managed_instances.alarms import managed_instances_alarms
from stacks.targets.serverless.installation import instances_stack, workload_stack
from stacks.workloads import load_all
from tests.cdk_helpers import cfn_lint, normalised, synth
from tests.cli_helpers import switchyard
from tests.conftest import FIXTURES, IN_PROCESS_CDK

if TYPE_CHECKING:  # aws-cdk-lib is imported where used: only the `cdk` group's worker loads it
    from aws_cdk.assertions import Template

pytestmark = [pytest.mark.timeout(300), IN_PROCESS_CDK]
STEADY = FIXTURES / "steady_cpu"
NAME = "steady-scoring"


def steady_copy(dest: Path, old: str | None = None, new: str | None = None) -> Path:
    profiles = dest / "profiles"
    shutil.copytree(STEADY, profiles)
    if old is not None:
        path = profiles / f"{NAME}.yaml"
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new or ""), encoding="utf-8")
    return profiles


@pytest.fixture(scope="module")
def workload():
    batch = load_all([STEADY])
    assert not batch.failures, batch.failures
    (w,) = batch.workloads
    return w


@pytest.fixture(scope="module")
def assembly(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lmi-synth")
    return synth(STEADY, tmp / "build", tmp / "cdk.out")  # cdk-nag on: a finding fails synthesis


@pytest.fixture(scope="module")
def templates(assembly):
    return {s.stack_name: s.template for s in assembly.stacks}


@pytest.fixture(scope="module")
def template(templates) -> Template:
    from aws_cdk.assertions import Template

    return Template.from_json(templates[instances_stack(NAME)])


# ------------------------------------------------------------------ the decision


def test_steady_profile_prices_managed_instances_below_lambda_but_above_a_cluster_share(tmp_path):
    w = load_all([steady_copy(tmp_path, "target: managed-instances", "target: auto")]).workloads[0]
    bills = {
        t: w.decision.option(t).bill.total for t in (Target.serverless, Target.kubernetes, Target.managed_instances)
    }
    assert all(w.decision.option(t).feasible for t in bills)
    # The middle band: always-on instances beat paying per GB-second around the clock ...
    assert bills[Target.managed_instances] < bills[Target.serverless]
    # ... but the price book's CPU node share is cheaper still, so auto does not choose LMI.
    assert w.target is Target.kubernetes


def test_explicit_target_builds_the_sized_environments(workload):
    assert workload.target is Target.managed_instances
    e = managed_instances_sizing(workload).environment
    assert e.min_environments * e.max_concurrency / 0.08 >= 150  # the floor serves the average


def test_a_function_url_is_refused_with_the_reason(tmp_path):
    profiles = steady_copy(tmp_path, "  mode: both\n  endpoint: http_api\n", "  mode: sync\n")
    batch = load_all([profiles])
    assert not batch.workloads and batch.failures
    text = str(batch.failures[0].error)
    assert "endpoint" in text and "$LATEST.PUBLISHED" in text


# ------------------------------------------------------------------ packaging


def test_build_context_is_the_lambda_handler_on_python_3_13_with_weights_baked(workload, tmp_path):
    context = render(workload, tmp_path)
    dockerfile = (context / "Dockerfile").read_text(encoding="utf-8")
    assert f"FROM {IMAGES['lambda-managed']}\n" in dockerfile
    assert IMAGES["lambda-managed"].startswith("public.ecr.aws/lambda/python:3.13")
    assert f"COPY weights/ {LAMBDA_IMAGE_WEIGHTS_DIR}/" in dockerfile
    assert (context / "weights" / "weights.npz").read_bytes() == (
        STEADY / "models" / "sentiment" / "weights" / "weights.npz"
    ).read_bytes()
    assert (context / "app" / "handler.py").is_file()
    assert "aws-lambda-powertools" in (context / "requirements.txt").read_text(encoding="utf-8")


# ------------------------------------------------------------------ the stack


def test_one_stack_for_the_workload_beside_the_platform(templates):
    assert set(templates) == {PLATFORM_STACK, instances_stack(NAME)}


def test_capacity_provider_and_function_follow_the_sizing(template, workload):
    from aws_cdk.assertions import Match

    e = managed_instances_sizing(workload).environment
    template.resource_count_is("AWS::Lambda::CapacityProvider", 1)
    template.has_resource_properties(
        "AWS::Lambda::CapacityProvider",
        {
            "InstanceRequirements": {"AllowedInstanceTypes": [e.instance_type], "Architectures": [e.architecture]},
            "CapacityProviderScalingConfig": Match.object_like({"MaxVCpuCount": e.max_vcpus}),
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "MemorySize": e.function_memory_mb,
            "CapacityProviderConfig": {
                "LambdaManagedInstancesCapacityProviderConfig": Match.object_like(
                    {"PerExecutionEnvironmentMaxConcurrency": e.max_concurrency}
                )
            },
            "FunctionScalingConfig": {
                "MinExecutionEnvironments": e.min_environments,
                "MaxExecutionEnvironments": e.max_environments,
            },
            "Environment": {"Variables": Match.object_like({"WEIGHTS_DIR": LAMBDA_IMAGE_WEIGHTS_DIR})},
        },
    )
    # One published version serves: no alias, no provisioned concurrency, no Function URL, no EFS.
    for kind in ("AWS::Lambda::Alias", "AWS::Lambda::Url", "AWS::EFS::AccessPoint"):
        template.resource_count_is(kind, 0)


def test_front_reaches_the_unqualified_function(template):
    (function,) = template.find_resources("AWS::Lambda::Function", {"Properties": {"PackageType": "Image"}})
    # Unqualified name and ARN: Lambda runs $LATEST.PUBLISHED for both.
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {"FunctionName": {"Ref": function}})
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Integration", {"IntegrationUri": {"Fn::GetAtt": [function, "Arn"]}}
    )
    outputs = template.to_json()["Outputs"]
    for key in ("HttpApiUrl", "QueueUrl", "DeadLetterQueueUrl", "ResultsBucketName", "FunctionArn"):
        assert key in outputs, key


def test_alarms_are_the_ones_the_bill_charges(template, workload):
    logical = template.find_resources("AWS::CloudWatch::Alarm")
    built = {re.fullmatch(r"Alarms(\w+)[0-9A-F]{8}", name).group(1) for name in logical}
    billed = managed_instances_alarms(workload.profile)
    assert built == set(billed) and len(logical) == len(billed)
    assert {"ColdStartOverBudget", "ProvisionedSpillover", "Url5xx"}.isdisjoint(built)
    template.resource_count_is("AWS::Logs::MetricFilter", 0)  # no cold start on a request's path to count
    bill = workload.decision.option(Target.managed_instances).bill
    line = next(line for line in bill.lines if line.name == "alarms")
    assert (line.quantity, line.basis) == (len(billed), ", ".join(billed))


def test_the_runbooks_name_what_the_template_declares(templates, workload):
    """A move to or from managed-instances names this stack and outputs it really has: the same naming
    function builds both, and the stack is not the serverless one a move runs beside it."""
    stack = instances_stack(NAME)
    assert stack != workload_stack(NAME)
    template = templates[stack]
    platform = workload.settings.platform
    moves = [("serverless", "managed-instances"), ("managed-instances", "kubernetes")]
    text = "\n".join(step for old, new in moves for step in lock.runbook(NAME, old, new, platform))
    named = set(re.findall(rf"{stack} ([A-Z]\w+)", text)) | set(re.findall(r"OutputKey=='(\w+)'", text))
    # sync callers and their grant, producers, the queue's depth, its dead letters, results, the function
    expected = {"HttpApiUrl", "HttpApiInvokeArn", "QueueUrl", "QueueArn", "DeadLetterQueueUrl", "ResultsBucketName"}
    assert expected | {"FunctionName"} <= named
    assert named <= set(template["Outputs"]), named - set(template["Outputs"])
    assert f"npx cdk deploy {PLATFORM_STACK} {stack}" in text and f"delete-stack --stack-name {stack} " in text
    # the dead letters it moves are the queue the main queue's redrive policy sends them to
    queues = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    (main,) = [r for r in queues.values() if "RedrivePolicy" in r["Properties"]]
    dead = main["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert template["Outputs"]["DeadLetterQueueUrl"]["Value"] == {"Ref": dead}


def test_cfn_lint_passes(assembly):
    assert cfn_lint([str(s.template_full_path) for s in assembly.stacks]) == []


def test_template_snapshot(templates, snapshot):
    assert normalised(templates[instances_stack(NAME)]) == snapshot.use_extension(JSONSnapshotExtension)


# ------------------------------------------------------------------ the command


def test_switchyard_synth_prints_the_target_and_its_files(tmp_path):
    profiles = steady_copy(tmp_path)
    r = switchyard("synth", str(profiles), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith(NAME))
    stack = instances_stack(NAME)
    assert "managed-instances" in row and f"cdk.out/{stack}.template.json" in row and f"build/{NAME}/" in row
    assert (tmp_path / "cdk.out" / f"{stack}.template.json").is_file()
    assert (tmp_path / "build" / NAME / "Dockerfile").is_file()
    assert f"managed-instances: `npx cdk deploy {PLATFORM_STACK} {stack}`" in r.stdout


def test_a_light_workload_on_the_three_instance_floor_synthesizes(tmp_path):
    """20 rps on three c7i.large: the sizing's own ceiling is 3 x 2 = 6 vCPUs, which aws-cdk-lib's
    CapacityProvider refuses (MaxVCpuCount 12-15,000) with a jsii traceback; the cap is raised to 12."""
    profiles = steady_copy(tmp_path, "avg_rps: 150\n  peak_rps: 200", "avg_rps: 20\n  peak_rps: 40")
    w = load_all([profiles]).workloads[0]
    e = managed_instances_sizing(w).environment
    assert e.peak_instances * e.instance_vcpus < 12  # the case: a floor below aws-cdk-lib's minimum cap
    r = switchyard("synth", str(profiles), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    doc = json.loads((tmp_path / "cdk.out" / f"{instances_stack(NAME)}.template.json").read_text())
    (provider,) = [r for r in doc["Resources"].values() if r["Type"] == "AWS::Lambda::CapacityProvider"]
    cap = provider["Properties"]["CapacityProviderScalingConfig"]["MaxVCpuCount"]
    assert cap == 12 and cap >= e.max_environments * e.environment_vcpus
