"""The Lambda Managed Instances construct: synthesized with cdk-nag's packs on, checked by cfn-lint.

The stack holds only the construct and the platform imports a workload stack has, sized by the
managed-instances sizing (stacks/managed_instances_facts.py) so that the two agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stacks.errors import SwitchyardError
from stacks.pricebook import Platform, PriceBook
from stacks.targets.managed_instances.sizing import Demand, size_managed_instances
from tests.cdk_helpers import cfn_lint
from tests.conftest import IN_PROCESS_CDK

if TYPE_CHECKING:  # aws-cdk-lib is imported where used: only the `cdk` group's worker loads it
    from aws_cdk.assertions import Template

pytestmark = [pytest.mark.timeout(300), IN_PROCESS_CDK]

SIZING = size_managed_instances(
    Demand(
        peak_rps=200.0, avg_rps=105.0, active_hours_per_day=24, inference_ms=100, memory_gb=1.5, architecture="arm64"
    ),
    PriceBook(),
    Platform(),
)


def props(build_context: Path, **overrides) -> dict:
    values = dict(
        build_context=build_context,
        architecture=SIZING.architecture,
        environment_vcpus=SIZING.environment_vcpus,
        memory_gib_per_vcpu=SIZING.memory_gib_per_vcpu,
        max_concurrency=SIZING.max_concurrency,
        min_environments=SIZING.min_environments,
        max_environments=SIZING.max_environments,
        instance_types=[SIZING.instance_type],
        max_vcpus=SIZING.max_vcpus,
        workload_name="steady-cpu",
        installation="Switchyard",
        weights_dir="/var/task/weights",
        timeout_s=30,
        description="Switchyard: steady-cpu (custom model)",
    )
    return {**values, **overrides}


def image_dir(tmp: Path) -> Path:
    context = tmp / "image"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text("FROM public.ecr.aws/lambda/python:3.13\n")
    return context


def stack(tmp: Path, *, nag: bool = True, endpoints: bool = False, widen=None, **overrides):
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks, ServerlessChecks

    from stacks.aws.app import FEATURE_FLAGS
    from stacks.aws.managed_instances import ManagedInstancesFunction
    from stacks.aws.network import PlatformImports

    app = cdk.App(outdir=str(tmp / "out"), context=FEATURE_FLAGS)
    st = cdk.Stack(app, "Switchyard-steady-cpu", env=cdk.Environment(region="us-east-1"))
    platform = PlatformImports(
        st, "Platform", availability_zones=2, interface_endpoints=endpoints, installation="Switchyard"
    )
    construct = ManagedInstancesFunction(st, "Serving", platform=platform, **props(image_dir(tmp), **overrides))
    if widen:
        widen(construct)
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app, construct


@pytest.fixture(scope="module")
def assembly(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lmi")
    app, _ = stack(tmp)
    return app.synth()  # cdk-nag (AwsSolutions + Serverless) on: a finding fails synthesis


@pytest.fixture(scope="module")
def template(assembly) -> Template:
    from aws_cdk.assertions import Template

    return Template.from_json(assembly.get_stack_by_name("Switchyard-steady-cpu").template)


def test_sizing_used_here_scales_from_the_average_to_the_peak():
    # The numbers the assertions below rely on: the floor for the average, 105 rps x 0.1 s / 0.7 = 15
    # one-vCPU environments; the peak, 200 x 0.1 / 0.7 = 28.6 -> 29 on 15 c7g.large (30 vCPUs).
    assert (SIZING.instance_type, SIZING.environment_vcpus, SIZING.memory_gib_per_vcpu) == ("c7g.large", 1, 2)
    assert (SIZING.min_environments, SIZING.max_environments, SIZING.max_vcpus) == (15, 29, 30)


def test_capacity_provider_runs_the_allowed_type_in_the_platform_subnets(template):
    from aws_cdk.assertions import Match

    template.resource_count_is("AWS::Lambda::CapacityProvider", 1)
    template.has_resource_properties(
        "AWS::Lambda::CapacityProvider",
        {
            "InstanceRequirements": {"AllowedInstanceTypes": ["c7g.large"], "Architectures": ["arm64"]},
            "CapacityProviderScalingConfig": {"MaxVCpuCount": 30, "ScalingMode": "Auto"},
            "VpcConfig": {
                # the platform's two isolated subnets, read from its SSM parameter when the stack deploys
                "SubnetIds": [
                    {"Fn::Select": [0, Match.any_value()]},
                    {"Fn::Select": [1, Match.any_value()]},
                ],
                "SecurityGroupIds": [{"Fn::GetAtt": [Match.string_like_regexp("ServingSecurityGroup"), "GroupId"]}],
            },
            "PermissionsConfig": {
                "CapacityProviderOperatorRoleArn": {"Fn::GetAtt": [Match.string_like_regexp("OperatorRole"), "Arn"]}
            },
        },
    )
    # Its own group: HTTPS out only (isolated subnets have no other route).
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "SecurityGroupEgress": [Match.object_like({"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443})],
            "VpcId": Match.any_value(),
        },
    )


def test_function_runs_on_the_provider_with_the_sized_environments(template):
    from aws_cdk.assertions import Match

    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "PackageType": "Image",
            "Architectures": ["arm64"],
            "MemorySize": 2048,  # 1 vCPU x 2 GiB
            "CapacityProviderConfig": {
                "LambdaManagedInstancesCapacityProviderConfig": {
                    "CapacityProviderArn": {"Fn::GetAtt": [Match.string_like_regexp("ServingCapacityProvider"), "Arn"]},
                    "ExecutionEnvironmentMemoryGiBPerVCpu": 2,
                    "PerExecutionEnvironmentMaxConcurrency": 1,
                }
            },
            "FunctionScalingConfig": {"MinExecutionEnvironments": 15, "MaxExecutionEnvironments": 29},
            "PublishToLatestPublished": True,
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": Match.object_like({"LogFormat": "JSON"}),
            "Environment": {
                "Variables": {
                    "WEIGHTS_DIR": "/var/task/weights",
                    "POWERTOOLS_SERVICE_NAME": "steady-cpu",
                    "POWERTOOLS_METRICS_NAMESPACE": Match.any_value(),
                }
            },
        },
    )
    # No VpcConfig on the function (its network is the provider's), no numbered version or alias
    # (a published version starts environments of its own).
    function = next(iter(template.find_resources("AWS::Lambda::Function").values()))
    assert "VpcConfig" not in function["Properties"]
    template.resource_count_is("AWS::Lambda::Version", 0)
    template.resource_count_is("AWS::Lambda::Alias", 0)
    template.has_resource("AWS::Logs::LogGroup", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})


def test_operator_role_is_lambdas_managed_policy_only(template):
    from aws_cdk.assertions import Match

    roles = template.find_resources(
        "AWS::IAM::Role",
        {"Properties": {"ManagedPolicyArns": Match.array_with([Match.object_like({"Fn::Join": Match.any_value()})])}},
    )
    operator = [r for k, r in roles.items() if "OperatorRole" in k]
    assert len(operator) == 1
    assert "AWSLambdaManagedEC2ResourceOperator" in json.dumps(operator[0]["Properties"]["ManagedPolicyArns"])
    assert operator[0]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }


def test_cfn_lint_passes(assembly):
    assert cfn_lint([str(s.template_full_path) for s in assembly.stacks]) == []


def test_a_widened_function_role_fails_cdk_nag(tmp_path):
    # The acknowledgements are scoped to the managed policies: a Resource '*' statement is a finding.
    from aws_cdk import aws_iam as iam

    from stacks.aws.managed_instances import ManagedInstancesFunction

    def widen(construct: ManagedInstancesFunction) -> None:
        construct.function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))

    app, _ = stack(tmp_path, widen=widen)
    with pytest.raises(Exception, match="AwsSolutions-IAM5"):
        app.synth()


def test_interface_endpoints_let_the_instances_in(tmp_path):
    from aws_cdk.assertions import Match, Template

    app, _ = stack(tmp_path, endpoints=True)
    t = Template.from_stack(app.node.find_child("Switchyard-steady-cpu"))
    t.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "SourceSecurityGroupId": {"Fn::GetAtt": [Match.string_like_regexp("ServingSecurityGroup"), "GroupId"]},
        },
    )


def test_manual_scaling_sets_a_cpu_target(tmp_path):
    from aws_cdk.assertions import Match, Template

    app, _ = stack(tmp_path, nag=False, scaling_cpu_target_percent=60)
    t = Template.from_stack(app.node.find_child("Switchyard-steady-cpu"))
    t.has_resource_properties(
        "AWS::Lambda::CapacityProvider",
        {
            "CapacityProviderScalingConfig": Match.object_like(
                {
                    "ScalingMode": "Manual",
                    "ScalingPolicies": [Match.object_like({"TargetValue": 60})],
                }
            )
        },
    )


def test_a_gpu_is_refused_naming_the_cdk_version(tmp_path):
    from stacks.aws.managed_instances import GPU_CDK_VERSION

    with pytest.raises(SwitchyardError) as exc:
        stack(tmp_path, nag=False, accelerator="L4:1")
    message = str(exc.value)
    assert f"aws-cdk-lib {GPU_CDK_VERSION}" in message and "'L4:1'" in message and "steady-cpu" in message
    assert "target: kubernetes" in message


@pytest.mark.parametrize(
    ("overrides", "field", "allowed"),
    [
        ({"memory_gib_per_vcpu": 3}, "memory_gib_per_vcpu is 3", "2, 4 or 8"),
        ({"environment_vcpus": 16, "memory_gib_per_vcpu": 4}, "environment size", "2-32 GB"),
        ({"max_concurrency": 0}, "max_concurrency is 0", "1-1600"),
        ({"min_environments": 30}, "min/max execution environments", "0 <= min <= max"),
        ({"instance_types": ["m7i.large"]}, "instance_types is 'm7i.large'", "arm64 types"),
        ({"instance_types": ["t4g.large"]}, "'t4g.large' is not an instance type", "c, m or r families"),
        ({"max_vcpus": 8}, "max_vcpus is 8", "at least 29"),
        ({"min_environments": 3, "max_environments": 6, "max_vcpus": 6}, "max_vcpus is 6", "12-15000"),
        ({"timeout_s": 901}, "timeout_s is 901", "1-900"),
    ],
)
def test_bad_props_are_refused_before_any_resource(tmp_path, overrides, field, allowed):
    with pytest.raises(SwitchyardError) as exc:
        stack(tmp_path, nag=False, **overrides)
    assert field in str(exc.value) and allowed in str(exc.value)
