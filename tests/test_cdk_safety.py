"""The serverless target is safe to deploy and to keep deploying.

- a widened serving role fails synthesis (nag acknowledgements are scoped to what they justify);
- the model file system needs IAM, TLS, mount targets and access points, and only the sync writes;
- interface endpoints synthesize clean (cdk-nag and cfn-lint) behind their own security group;
- no profile change leaves a deployed stack reading a platform value that is gone;
- every taggable resource carries the ownership tags; data has a lifecycle; callers get outputs.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from stacks.k8s import naming
from stacks.profile import Target
from stacks.profile.loader import load_profile
from stacks.profile.names import PLATFORM_STACK
from stacks.targets import decide
from stacks.targets.serverless.installation import workload_stack
from stacks.workloads import load_all
from tests.cdk_helpers import cfn_lint, exports, imports, ssm_published, ssm_reads, synth
from tests.conftest import IN_PROCESS_CDK, copy_profiles

pytestmark = [pytest.mark.timeout(600), IN_PROCESS_CDK]


def with_platform(profiles: Path, text: str) -> Path:
    """platform.yaml with `text`; unless it names an alarm subscriber, the fixture's explicit opt-out
    from one stays (synth refuses alarms nobody hears: stacks/aws/app.alarms_without_subscribers)."""
    if "alarm" not in text:
        text = text.replace("platform:\n", "platform:\n  alarms_without_subscribers: true\n", 1)
    (profiles / "platform.yaml").write_text(text, encoding="utf-8")
    return profiles


def slow_profile(dest: Path, edits: dict[str, str] | None = None) -> Path:
    """The slow test model's profile (tests/runtime_helpers.py), with alarms explicitly unsubscribed."""
    from tests.runtime_helpers import slow_profile as profile

    path = profile(dest, edits)
    with_platform(path.parent, "platform:\n")
    return path


def templates_of(assembly) -> dict[str, dict]:
    return {s.stack_name: s.template for s in assembly.stacks}


# ------------------------------------------------------------------ least privilege, enforced by synthesis


@pytest.mark.parametrize(
    "statement",
    [
        {"actions": ["iam:PassRole"], "resources": ["*"]},
        {"actions": ["s3:GetObject"], "resources": ["*"]},
        {"actions": ["s3:*"], "resources": ["arn:aws:s3:::acme-models"]},
    ],
    ids=["passrole-on-star", "getobject-on-star", "s3-star-action"],
)
def test_a_wildcard_statement_on_a_serving_role_fails_synthesis(tmp_path, statement):
    from aws_cdk import aws_iam as iam

    from stacks.aws.app import build_app

    profiles = copy_profiles(tmp_path)
    app = build_app(
        load_all([profiles]), profiles_dir=profiles, outdir=str(tmp_path / "out"), build_root=tmp_path / "build"
    )
    stack = next(s for s in app.node.children if getattr(s, "stack_name", "") == workload_stack("nightly-embeddings"))
    stack.serving.function.add_to_role_policy(iam.PolicyStatement(**statement))
    with pytest.raises(Exception, match="AwsSolutions-IAM5"):
        app.synth()


def test_the_same_app_without_the_extra_statement_synthesizes(serverless_assembly):
    # the session's synthesis of the same profiles, nag on: it raises on any finding
    assert workload_stack("nightly-embeddings") in templates_of(serverless_assembly)


# ------------------------------------------------------------------ the model file system


@pytest.fixture(scope="session")
def default_templates(serverless_assembly):
    return templates_of(serverless_assembly)


def file_system_policy(templates) -> list[dict]:
    (fs,) = [r for r in templates[PLATFORM_STACK]["Resources"].values() if r["Type"] == "AWS::EFS::FileSystem"]
    return fs["Properties"]["FileSystemPolicy"]["Statement"]


def test_file_system_requires_iam_tls_mount_targets_and_access_points(default_templates):
    statements = file_system_policy(default_templates)
    allows = [s for s in statements if s["Effect"] == "Allow"]
    # No anonymous NFS: nothing is allowed to Principal "*" (which is how EFS treats non-IAM clients).
    assert all(s["Principal"] != {"AWS": "*"} and s["Principal"] != "*" for s in allows)
    denies = {s["Sid"]: s for s in statements if s["Effect"] == "Deny"}
    assert denies["DenyWithoutTls"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert denies["DenyOutsideMountTargets"]["Condition"] == {
        "Bool": {"elasticfilesystem:AccessedViaMountTarget": "false"}
    }
    assert denies["DenyWithoutAccessPoint"]["Condition"] == {"Null": {"elasticfilesystem:AccessPointArn": "true"}}
    assert (
        denies["DenyRoot"]["Action"] == "elasticfilesystem:ClientRootAccess" and "Condition" not in denies["DenyRoot"]
    )


def test_only_the_weights_sync_can_write(default_templates):
    statements = file_system_policy(default_templates)
    resources = default_templates[PLATFORM_STACK]["Resources"]
    sync_role = next(
        k for k, r in resources.items() if k.startswith("WeightsSyncRole") and r["Type"] == "AWS::IAM::Role"
    )
    deny = next(s for s in statements if s["Sid"] == "DenyWritesButTheSync")
    assert deny["Action"] == "elasticfilesystem:ClientWrite"
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [sync_role, "Arn"]}}}
    writers = [s for s in statements if s["Effect"] == "Allow" and "elasticfilesystem:ClientWrite" in s["Action"]]
    assert [w["Principal"] for w in writers] == [{"AWS": {"Fn::GetAtt": [sync_role, "Arn"]}}]


def test_each_efs_workload_has_its_own_security_group_and_nfs_rule(default_templates):
    from aws_cdk.assertions import Match, Template

    t = Template.from_json(default_templates[workload_stack("nightly-embeddings")])
    own = t.find_resources("AWS::EC2::SecurityGroup")
    assert len(own) == 1
    (sg,) = own
    # The file system's group admits this workload's group, declared in (and deleted with) this stack.
    t.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {
            "IpProtocol": "tcp",
            "FromPort": 2049,
            "ToPort": 2049,
            "SourceSecurityGroupId": {"Fn::GetAtt": [sg, "GroupId"]},
            "GroupId": {"Ref": Match.string_like_regexp("efssecuritygroupid")},
        },
    )
    t.has_resource_properties(
        "AWS::Lambda::Function",
        {"VpcConfig": Match.object_like({"SecurityGroupIds": [{"Fn::GetAtt": [sg, "GroupId"]}]})},
    )


# ------------------------------------------------------------------ interface endpoints


@pytest.fixture(scope="module")
def endpoint_assembly(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("endpoints")
    profiles = with_platform(copy_profiles(tmp), "platform:\n  interface_endpoints: [sqs, xray, logs]\n")
    return synth(profiles, tmp / "build", tmp / "out")  # cdk-nag (AwsSolutions + Serverless) on


def test_interface_endpoints_have_their_own_group_open_only_to_function_groups(endpoint_assembly):
    from aws_cdk.assertions import Match, Template

    templates = templates_of(endpoint_assembly)
    platform = Template.from_json(templates[PLATFORM_STACK])
    platform.resource_count_is("AWS::EC2::VPCEndpoint", 4)  # S3 gateway + 3 interface endpoints
    endpoint_sg = next(
        k
        for k, r in templates[PLATFORM_STACK]["Resources"].items()
        if r["Type"] == "AWS::EC2::SecurityGroup" and "interface endpoints" in r["Properties"]["GroupDescription"]
    )
    platform.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"VpcEndpointType": "Interface", "SecurityGroupIds": [{"Fn::GetAtt": [endpoint_sg, "GroupId"]}]},
    )
    ingress = [
        r
        for t in templates.values()
        for r in t["Resources"].values()
        if r["Type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroup")
    ]
    for r in ingress:
        rules = (
            r["Properties"].get("SecurityGroupIngress", [])
            if r["Type"] == "AWS::EC2::SecurityGroup"
            else [r["Properties"]]
        )
        for rule in rules:
            assert "CidrIp" not in rule and "CidrIpv6" not in rule, rule  # security groups only, never CIDRs
    workload = Template.from_json(templates[workload_stack("nightly-embeddings")])
    workload.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {"FromPort": 443, "ToPort": 443, "GroupId": {"Ref": Match.string_like_regexp("endpointsecuritygroupid")}},
    )


def test_nag_and_cfn_lint_pass_with_interface_endpoints(endpoint_assembly):
    report = json.loads((Path(endpoint_assembly.directory) / "validation-report.json").read_text())
    conclusions = {p["pluginName"]: (p["conclusion"], len(p["violations"])) for p in report["pluginReports"]}
    assert conclusions == {"AwsSolutions": ("success", 0), "Serverless": ("success", 0)}  # warnings included
    assert cfn_lint([str(s.template_full_path) for s in endpoint_assembly.stacks]) == []


# ------------------------------------------------------------------ deploys that do not break later deploys

CHANGES = {  # edits, dropped profiles, platform.yaml, an added copy of sentiment-api under this name
    "add a workload": ({}, (), None, "sentiment-two"),
    "remove the last async workload": ({}, ("nightly-embeddings",), None, None),
    "switch a workload to kubernetes": ({"sentiment-api": ("target: auto", "target: kubernetes")}, (), None, None),
    "async to sync": ({"nightly-embeddings": ("mode: async", "mode: sync")}, (), None, None),
    "image weights to efs": ({"sentiment-api": ("weights_gb: 0.4", "weights_gb: 1.5")}, (), None, None),
    "three AZs": ({}, (), "platform:\n  availability_zones: 3\n", None),
    "interface endpoints": ({}, (), "platform:\n  interface_endpoints: [sqs]\n", None),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_no_profile_change_removes_a_value_a_deployed_stack_reads(default_templates, tmp_path, change):
    edit, drop, platform_yaml, added = CHANGES[change]
    before = default_templates
    profiles = copy_profiles(tmp_path, edit=edit, drop=drop)
    if added:
        text = (profiles / "sentiment-api.yaml").read_text().replace("name: sentiment-api", f"name: {added}")
        (profiles / f"{added}.yaml").write_text(text.replace("weights_gb: 0.4", "weights_gb: 1.5"))  # on EFS
    if platform_yaml:
        with_platform(profiles, platform_yaml)
    after = templates_of(synth(profiles, tmp_path / "build", tmp_path / "out"))
    # A stack removed from the app is still deployed until the runbook deletes it, and the
    # platform is deployed first: CloudFormation refuses to drop an export any stack imports.
    available = set().union(*(exports(t) for t in after.values()))
    for name, t in {**before, **after}.items():
        assert imports(t) <= available, f"{change}: {name} imports an export the new platform lacks"
    # What a workload stack reads when it deploys, the new platform publishes.
    published = ssm_published(after[PLATFORM_STACK])
    for name, t in after.items():
        if name != PLATFORM_STACK:
            assert ssm_reads(t) <= published, f"{change}: {name} reads {ssm_reads(t) - published}"
    # Workload stacks split the subnet list into as many subnets as the platform really has.
    subnets = sum(r["Type"] == "AWS::EC2::Subnet" for r in after[PLATFORM_STACK]["Resources"].values())
    for name, t in after.items():
        text = json.dumps(t)
        if name != PLATFORM_STACK and "subnetids" in text:
            assert f'{{"Fn::Select": [{subnets - 1}, {{"Fn::Split"' in text, name
            assert f'{{"Fn::Select": [{subnets}, {{"Fn::Split"' not in text, name
    # The platform's interface does not follow the workload set.
    if platform_yaml is None:
        assert published == ssm_published(before[PLATFORM_STACK]), change


def test_platform_publishes_its_values_under_one_prefix(default_templates):
    from stacks.aws import parameters as params

    published = ssm_published(default_templates[PLATFORM_STACK])
    assert published == {
        params.name(k)
        for k in (
            params.VPC_ID,
            params.SUBNET_IDS,
            params.FILE_SYSTEM_ID,
            params.EFS_SECURITY_GROUP,
            params.WEIGHTS_SYNC_TOKEN,
            params.ACCESS_LOGS_BUCKET,
            params.ALARM_TOPIC_ARN,
        )
    }
    assert not exports(default_templates[PLATFORM_STACK])


# ------------------------------------------------------------------ ownership tags


def _taggable() -> dict[str, str | None]:
    """CloudFormation resource type -> its tag property, from the resource schemas cfn-lint ships."""
    import cfnlint

    root = Path(cfnlint.__file__).parent / "data" / "schemas"
    provider = json.loads((root / "providers" / "us-east-1.json").read_text())
    out: dict[str, str | None] = {}
    for kind, digest in provider.items():
        schema = json.loads((root / "resources" / f"{digest}.json").read_text())
        tagging = schema.get("tagging", {})
        prop = tagging.get("tagProperty", "/properties/Tags").split("/")[-1] if tagging.get("taggable") else None
        out[kind] = prop if prop in schema.get("properties", {}) else None
    return out


def _tags(value) -> dict[str, str]:
    if isinstance(value, list):
        return {t["Key"]: t["Value"] for t in value}
    return dict(value or {})


def test_every_taggable_resource_carries_the_ownership_tags(default_templates):
    """The same labels as the Kubernetes objects (stacks/k8s/naming.py), on every taggable resource."""
    from stacks.commands.lock import entry
    from stacks.profile.loader import load_profile
    from stacks.targets import decide
    from tests.conftest import PROFILES

    taggable = _taggable()
    checked = 0
    for name, t in default_templates.items():
        expected = {naming.MANAGED_BY: "switchyard"}
        if name != PLATFORM_STACK:
            workload = name.removeprefix("Switchyard-")
            revision = naming.plan_revision(entry(decide(load_profile(PROFILES / f"{workload}.yaml"))))
            expected |= {
                naming.WORKLOAD_LABEL: workload,
                naming.PROFILE_LABEL: f"profiles.{workload}.yaml",
                naming.PLAN_LABEL: revision,
            }
        for logical_id, r in t["Resources"].items():
            prop = taggable.get(r["Type"])
            if prop is None:
                continue
            tags = _tags(r.get("Properties", {}).get(prop))
            assert expected.items() <= tags.items(), f"{name}/{logical_id} ({r['Type']}): {tags}"
            checked += 1
    assert checked > 30


# ------------------------------------------------------------------ data that does not grow forever


def test_results_and_access_logs_expire(default_templates):
    from aws_cdk.assertions import Match, Template

    results = Template.from_json(default_templates[workload_stack("nightly-embeddings")])
    results.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "Prefix": "results/",
                            "ExpirationInDays": 30,
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                            "Status": "Enabled",
                        }
                    )
                ]
            }
        },
    )
    platform = Template.from_json(default_templates[PLATFORM_STACK])
    platform.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LoggingConfiguration": Match.absent(),  # the access-log bucket itself
            "LifecycleConfiguration": {"Rules": [Match.object_like({"ExpirationInDays": 365, "Status": "Enabled"})]},
        },
    )


def test_retention_settings_reach_the_templates(tmp_path):
    from aws_cdk.assertions import Match, Template

    profiles = with_platform(
        copy_profiles(tmp_path, drop=("sentiment-api",)),
        "platform:\n  results_retention_days: 7\n  access_log_retention_days: 90\n  queue_retention_days: 2\n",
    )
    t = templates_of(synth(profiles, tmp_path / "build", tmp_path / "out"))
    workload = Template.from_json(t[workload_stack("nightly-embeddings")])
    workload.has_resource_properties(
        "AWS::S3::Bucket",
        {"LifecycleConfiguration": {"Rules": [Match.object_like({"ExpirationInDays": 7})]}},
    )
    workload.has_resource_properties(
        "AWS::SQS::Queue", {"MessageRetentionPeriod": 2 * 86400, "RedrivePolicy": Match.any_value()}
    )
    workload.has_resource_properties(
        "AWS::SQS::Queue", {"MessageRetentionPeriod": 14 * 86400, "RedrivePolicy": Match.absent()}
    )
    Template.from_json(t[PLATFORM_STACK]).has_resource_properties(
        "AWS::S3::Bucket", {"LifecycleConfiguration": {"Rules": [Match.object_like({"ExpirationInDays": 90})]}}
    )


def test_access_log_delivery_is_limited_to_switchyard_buckets_of_the_account(default_templates):
    from aws_cdk.assertions import Match, Template

    Template.from_json(default_templates[PLATFORM_STACK]).has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                                "Condition": {
                                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                                    "ArnLike": {"aws:SourceArn": "arn:aws:s3:::switchyard-*"},
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


# ------------------------------------------------------------------ callers can find what was made


def test_outputs_name_everything_a_caller_or_policy_needs(default_templates):
    sync = default_templates[workload_stack("sentiment-api")]["Outputs"]
    assert {"AliasArn", "FunctionUrl", "FunctionName"} <= set(sync)
    batch = default_templates[workload_stack("nightly-embeddings")]["Outputs"]
    assert {"AliasArn", "QueueUrl", "QueueArn", "ResultsBucketName", "ResultsPrefixArn", "DeadLetterQueueUrl"} <= set(
        batch
    )
    assert "Fn::GetAtt" in batch["QueueArn"]["Value"] and "Ref" in batch["QueueUrl"]["Value"]


# ------------------------------------------------------------------ alarms that reach someone


def test_every_alarm_notifies_the_platform_topic(default_templates):
    from aws_cdk.assertions import Template

    from stacks.aws import parameters as params

    for name in (workload_stack("sentiment-api"), workload_stack("nightly-embeddings")):
        t = default_templates[name]
        alarms = {k: r for k, r in t["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
        topic_param = next(
            p for p, v in t["Parameters"].items() if v.get("Default") == params.name(params.ALARM_TOPIC_ARN)
        )
        for key, alarm in alarms.items():
            assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_param}], key
    kinds = {
        k.removeprefix("Alarms").rstrip("0123456789ABCDEF")
        for k, r in default_templates[workload_stack("nightly-embeddings")]["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert {"ModelErrors", "QueueOldestMessage", "DeadLetters"} <= kinds
    sync_kinds = {
        k.removeprefix("Alarms").rstrip("0123456789ABCDEF")
        for k, r in default_templates[workload_stack("sentiment-api")]["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert {"ModelErrors", "Url5xx"} <= sync_kinds
    Template.from_json(default_templates[workload_stack("sentiment-api")]).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "Switchyard",
            "MetricName": "ModelErrors",
            "Dimensions": [{"Name": "service", "Value": "sentiment-api"}],
        },
    )


def test_created_topic_is_encrypted_with_a_key_cloudwatch_can_use_and_emails_subscribe(tmp_path):
    from aws_cdk.assertions import Match, Template

    profiles = with_platform(copy_profiles(tmp_path), "platform:\n  alarm_emails: [oncall@example.com]\n")
    platform = Template.from_json(templates_of(synth(profiles, tmp_path / "build", tmp_path / "out"))[PLATFORM_STACK])
    platform.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    platform.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"})
    platform.has_resource_properties(
        "AWS::KMS::Key",
        {
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [Match.object_like({"Principal": {"Service": "cloudwatch.amazonaws.com"}})]
                )
            },
        },
    )


def test_an_existing_topic_is_used_as_is(tmp_path):
    from aws_cdk.assertions import Template

    from stacks.aws import parameters as params

    arn = "arn:aws:sns:us-east-1:123456789012:pager"
    profiles = with_platform(copy_profiles(tmp_path), f"platform:\n  alarm_topic_arn: {arn}\n")
    platform = Template.from_json(templates_of(synth(profiles, tmp_path / "build", tmp_path / "out"))[PLATFORM_STACK])
    platform.resource_count_is("AWS::SNS::Topic", 0)
    platform.has_resource_properties("AWS::SSM::Parameter", {"Name": params.name(params.ALARM_TOPIC_ARN), "Value": arn})


def test_http_api_5xx_is_alarmed(tmp_path):
    from aws_cdk.assertions import Template

    profiles = copy_profiles(
        tmp_path,
        drop=("nightly-embeddings",),
        edit={"sentiment-api": ("  timeout_s: 30", "  timeout_s: 29\n  endpoint: http_api")},
    )
    t = Template.from_json(
        templates_of(synth(profiles, tmp_path / "build", tmp_path / "out"))[workload_stack("sentiment-api")]
    )
    t.has_resource_properties("AWS::CloudWatch::Alarm", {"Namespace": "AWS/ApiGateway", "MetricName": "5xx"})
    t.resource_count_is("AWS::Lambda::Url", 0)


# ------------------------------------------------------------------ provisioned concurrency in a time zone


def test_schedule_in_an_iana_time_zone(tmp_path):
    from aws_cdk.assertions import Template

    profiles = copy_profiles(
        tmp_path,
        drop=("nightly-embeddings",),
        edit={"sentiment-api": ('"08:00-18:00 UTC"', '"08:30-18:30 Europe/Berlin"')},
    )
    t = Template.from_json(
        templates_of(synth(profiles, tmp_path / "build", tmp_path / "out"))[workload_stack("sentiment-api")]
    )
    # the floor the plan states (the averages' 1, raised by the simulated burst), in the window's zone
    s = decide(load_profile(profiles / "sentiment-api.yaml")).decision.option(Target.serverless).sizing
    floor = s.pc_min
    assert s.pc_scheduled and 1 <= floor <= s.pc_max == 5
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ScheduledActions": [
                {
                    "ScheduledActionName": "WarmInWindow",
                    "Schedule": "cron(15,30,45 8 * * ? *)",
                    "ScalableTargetAction": {"MinCapacity": floor, "MaxCapacity": 5},
                    "Timezone": "Europe/Berlin",
                },
                {
                    "ScheduledActionName": "HoldInWindow1",
                    "Schedule": "cron(0,15,30,45 9-17 * * ? *)",
                    "ScalableTargetAction": {"MinCapacity": floor, "MaxCapacity": 5},
                    "Timezone": "Europe/Berlin",
                },
                {
                    "ScheduledActionName": "HoldInWindow2",
                    "Schedule": "cron(0,15 18 * * ? *)",
                    "ScalableTargetAction": {"MinCapacity": floor, "MaxCapacity": 5},
                    "Timezone": "Europe/Berlin",
                },
                {
                    "ScheduledActionName": "MinimumOutsideWindow",
                    "Schedule": "cron(30 18 * * ? *)",
                    "ScalableTargetAction": {"MinCapacity": 0, "MaxCapacity": 0},
                    "Timezone": "Europe/Berlin",
                },
            ]
        },
    )


def test_the_schedule_warms_as_early_as_the_platform_bills(tmp_path):
    """platform.pc_prewarm_minutes is what the bill counts; the scheduled action must warm that early."""
    profiles = with_platform(
        copy_profiles(
            tmp_path, drop=("nightly-embeddings",), edit={"sentiment-api": ('"08:00-18:00 UTC"', '"08:30-18:30 UTC"')}
        ),
        "platform:\n  pc_prewarm_minutes: 30\n",
    )
    t = templates_of(synth(profiles, tmp_path / "build", tmp_path / "out"))[workload_stack("sentiment-api")]
    (target,) = [r for r in t["Resources"].values() if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"]
    warm = next(a for a in target["Properties"]["ScheduledActions"] if a["ScheduledActionName"] == "WarmInWindow")
    assert warm["Schedule"] == "cron(0,15,30,45 8-17 * * ? *)"  # from 08:00, 30 min before the window


# ------------------------------------------------------------------ weights under a customer KMS key


def test_weights_under_a_kms_key_are_decrypted_through_s3_only(tmp_path):
    from aws_cdk.assertions import Match, Template

    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    profiles = with_platform(copy_profiles(tmp_path), f"platform:\n  weights_kms_key_arn: {key}\n")
    platform = Template.from_json(templates_of(synth(profiles, tmp_path / "build", tmp_path / "out"))[PLATFORM_STACK])
    platform.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyName": Match.string_like_regexp("^WeightsSyncRoleDefaultPolicy"),
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "kms:Decrypt",
                            "Effect": "Allow",
                            "Resource": key,
                            "Condition": {"StringLike": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
                        }
                    ]
                )
            },
        },
    )


def test_warm_schedule_across_midnight_never_fires_after_the_window():
    from stacks.aws.serving import warm_schedule

    # 22:00-02:00, warmed from 21:45: holds in 22-23 and 0-1 (two ranges: cron hours do not wrap)
    got = [(name, cron.expression_string) for name, cron in warm_schedule(21 * 60 + 45, 2 * 60)]
    assert got == [
        ("WarmInWindow", "cron(45 21 * * ? *)"),
        ("HoldInWindow1", "cron(0,15,30,45 22-23 * * ? *)"),
        ("HoldInWindow2", "cron(0,15,30,45 0-1 * * ? *)"),
    ]
    # a window ending off the quarter: the last hold is before the end
    got = [cron.expression_string for _, cron in warm_schedule(7 * 60 + 50, 9 * 60 + 10)]
    assert got == ["cron(50 7 * * ? *)", "cron(5,20,35,50 8 * * ? *)", "cron(5 9 * * ? *)"]


def test_the_plan_names_outputs_the_stacks_really_have(default_templates):
    """`switchyard plan` tells callers which output to read; each one exists in the synthesized stack,
    and the alarms it lists (for the cost model) are the alarms the stack creates."""
    import re

    from stacks.profile.loader import load_profile
    from stacks.targets import decide
    from stacks.targets.serverless.placement import serverless_placement
    from tests.conftest import PROFILES

    for name in ("sentiment-api", "nightly-embeddings"):
        w = decide(load_profile(PROFILES / f"{name}.yaml"))
        where = serverless_placement(w.profile, w.decision.option(Target.serverless).sizing)
        t = default_templates[where["stacks"][0]]
        named = {
            m for text in where["reachable"].values() for m in re.findall(r"\b([A-Z][A-Za-z]+(?:Url|Name))\b", text)
        }
        assert named and named <= set(t["Outputs"]), (name, named)
        alarms = sorted(k for k, r in t["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm")
        assert len(alarms) == len(where["alarms"])
        assert all(any(a.startswith(f"Alarms{n}") for a in alarms) for n in where["alarms"])


def test_the_vpc_spans_as_many_azs_as_the_platform_asks(tmp_path):
    """CDK caps an account-agnostic VPC at two AZs; `availability_zones: 3` must give three subnets,
    three EFS mount targets and interface endpoints in three AZs (what the cost model bills),
    and the workload stacks must place their functions in all three."""
    # on EFS, in the VPC; explicitly serverless: with an endpoint in 3 AZs its full bill exceeds kubernetes'
    profile = slow_profile(
        tmp_path, {"weights_gb: 0.001": "weights_gb: 1.5", "name: slow-model": "name: slow-model\ntarget: serverless"}
    )
    with_platform(profile.parent, "platform:\n  availability_zones: 3\n  interface_endpoints: [sqs]\n")
    templates = templates_of(synth(profile.parent, tmp_path / "build", tmp_path / "out"))
    resources = templates[PLATFORM_STACK]["Resources"].values()
    subnets = [r for r in resources if r["Type"] == "AWS::EC2::Subnet"]
    assert len(subnets) == 3
    assert {json.dumps(s["Properties"]["AvailabilityZone"], sort_keys=True) for s in subnets} == {
        json.dumps({"Fn::Select": [i, {"Fn::GetAZs": ""}]}, sort_keys=True) for i in range(3)
    }
    assert sum(r["Type"] == "AWS::EFS::MountTarget" for r in resources) == 3
    (endpoint,) = [r for r in resources if r["Properties"].get("VpcEndpointType") == "Interface"]
    assert len(endpoint["Properties"]["SubnetIds"]) == 3
    workload = json.dumps(templates[workload_stack("slow-model")])
    assert '{"Fn::Select": [2, {"Fn::Split"' in workload


@pytest.fixture(scope="module")
def slow_model_template(tmp_path_factory):
    """slow-model's stack template for a p99 (ms; the profile's own is 1000), each synthesized once for
    the module's tests (mode: both, timeout_s: 30)."""

    @functools.cache
    def template(p99_ms: int) -> dict:
        tmp = tmp_path_factory.mktemp(f"slow-model-{p99_ms}")
        profile = slow_profile(tmp, {"p99_latency_ms: 1000": f"p99_latency_ms: {p99_ms}"})
        return templates_of(synth(profile.parent, tmp / "build", tmp / "out"))[workload_stack("slow-model")]

    return template


@pytest.mark.parametrize(("p99_ms", "batch"), [(1000, 10), (7000, 4), (20000, 1)])
def test_an_sqs_batch_at_the_p99_fits_in_the_function_timeout(slow_model_template, p99_ms, batch):
    """The handler works a batch's messages one after another inside one invocation whose timeout
    is one request's (sla.timeout_s). A batch that cannot finish times out whole: every message
    in it, the good ones too, is received again and reaches the DLQ after three timeouts."""
    from aws_cdk.assertions import Template

    Template.from_json(slow_model_template(p99_ms)).has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"BatchSize": batch}
    )


def test_function_url_output_names_both_actions_a_caller_needs(slow_model_template):
    """Function URLs created since October 2025 authorize a SigV4 caller only with both
    lambda:InvokeFunctionUrl and lambda:InvokeFunction; a policy written from the output's
    description must work."""
    template = slow_model_template(1000)
    description = template["Outputs"]["FunctionUrl"]["Description"]
    assert "lambda:InvokeFunctionUrl" in description and "lambda:InvokeFunction " in description


def test_queued_and_dead_lettered_messages_outlive_the_queue_resources(slow_model_template):
    """Switching mode to sync, moving the workload to Kubernetes or deleting its stack removes the
    queues from the template; CloudFormation would delete them with their backlog and their dead
    letters (kept 14 days for inspection and replay). They are retained, like the results bucket."""
    template = slow_model_template(1000)  # mode: both
    queues = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    assert len(queues) == 2
    for key, queue in queues.items():
        assert queue.get("DeletionPolicy") == "Retain" and queue.get("UpdateReplacePolicy") == "Retain", key
