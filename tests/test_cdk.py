"""The serverless target: the CDK app synthesized once per session, with cdk-nag on.

Precise assertions (Match/Capture) for each property a platform team relies on, JSON snapshots
for change detection, cfn-lint on every template. The session's app is the one the real pinned
CLI synthesized (tests/test_cdk_cli.py).
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from stacks.profile import Target
from stacks.profile.loader import load_profile
from stacks.profile.names import PLATFORM_STACK
from stacks.targets import decide
from stacks.targets.serverless.installation import workload_stack
from stacks.weights import weights_version
from stacks.workloads import load_all
from tests.cdk_helpers import cfn_lint, normalised, synth
from tests.conftest import IN_PROCESS_CDK, PROFILES, copy_profiles

if TYPE_CHECKING:  # aws-cdk-lib is imported where used: only the `cdk` group's worker loads it
    from aws_cdk.assertions import Template

pytestmark = [pytest.mark.timeout(300), IN_PROCESS_CDK]
SERVERLESS = ["sentiment-api", "nightly-embeddings"]


@pytest.fixture(scope="session")
def assembly(serverless_assembly):
    return serverless_assembly


@pytest.fixture(scope="session")
def templates(assembly):
    return {s.stack_name: s.template for s in assembly.stacks}


def template(templates, name: str) -> Template:
    from aws_cdk.assertions import Template

    return Template.from_json(templates[workload_stack(name)])


def sentiment_api_edited(tmp_path, old: str, new: str) -> Template:
    """The sentiment-api stack synthesized alone, from a copy of its profile with one edit."""
    from aws_cdk.assertions import Template

    drop = ("llm-chat", "fraud-scoring", "nightly-embeddings")
    profiles = copy_profiles(tmp_path, drop=drop, edit={"sentiment-api": (old, new)})
    assembly = synth(profiles, tmp_path / "build", tmp_path / "out")
    return Template.from_json(assembly.get_stack_by_name(workload_stack("sentiment-api")).template)


def decision(name: str):
    return decide(load_profile(PROFILES / f"{name}.yaml")).decision


def test_one_stack_per_serverless_workload_plus_the_platform(templates):
    assert set(templates) == {PLATFORM_STACK, *(workload_stack(n) for n in SERVERLESS)}


# ------------------------------------------------------------------ platform


def test_vpc_is_isolated_without_nat(templates):
    from aws_cdk.assertions import Match, Template

    t = Template.from_json(templates[PLATFORM_STACK])
    t.resource_count_is("AWS::EC2::NatGateway", 0)
    t.resource_count_is("AWS::EC2::InternetGateway", 0)
    t.resource_count_is("AWS::EC2::Subnet", 2)
    t.has_resource_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": False})
    t.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Gateway",
            "ServiceName": Match.object_like({"Fn::Join": Match.array_with([Match.array_with([".s3"])])}),
        },
    )
    t.resource_count_is("AWS::EC2::VPCEndpoint", 1)  # no interface endpoints unless the platform lists them
    t.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"})


def test_efs_is_encrypted_and_elastic(templates):
    from aws_cdk.assertions import Template

    t = Template.from_json(templates[PLATFORM_STACK])
    t.has_resource_properties("AWS::EFS::FileSystem", {"Encrypted": True, "ThroughputMode": "elastic"})
    t.resource_count_is("AWS::EFS::MountTarget", 2)
    t.has_resource_properties("AWS::EC2::SecurityGroupIngress", {"FromPort": 2049, "ToPort": 2049, "IpProtocol": "tcp"})


def test_model_bucket_is_locked_down(templates):
    from aws_cdk.assertions import Match, Template

    t = Template.from_json(templates[PLATFORM_STACK])
    t.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "modelbucket/"}),
        },
    )
    t.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )

    # ------------------------------------------------------------------ function

    # Replaced weights versions expire after the rollback window; current ones never do.
    t.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "modelbucket/"}),
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                            "ExpiredObjectDeleteMarker": True,
                            "Status": "Enabled",
                        }
                    )
                ]
            },
        },
    )
    (model_bucket,) = [
        r
        for r in templates[PLATFORM_STACK]["Resources"].values()
        if r["Type"] == "AWS::S3::Bucket"
        and r["Properties"].get("LoggingConfiguration", {}).get("LogFilePrefix") == "modelbucket/"
    ]
    assert "ExpirationInDays" not in json.dumps(model_bucket)


def test_default_security_group_is_stripped_of_its_rules(templates):
    from aws_cdk.assertions import Match, Template

    t = Template.from_json(templates[PLATFORM_STACK])
    t.has_resource_properties(
        "Custom::VpcRestrictDefaultSG",
        {"DefaultSecurityGroupId": {"Fn::GetAtt": [Match.string_like_regexp("^Vpc"), "DefaultSecurityGroup"]}},
    )


def test_flow_log_role_trusts_only_this_accounts_flow_logs(templates):
    from aws_cdk.assertions import Capture, Template

    t = Template.from_json(templates[PLATFORM_STACK])
    role = Capture()
    t.has_resource_properties("AWS::EC2::FlowLog", {"DeliverLogsPermissionArn": {"Fn::GetAtt": [role, "Arn"]}})
    (statement,) = templates[PLATFORM_STACK]["Resources"][role.as_string()]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "vpc-flow-log/*" in json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])


@pytest.mark.parametrize("name", SERVERLESS)
def test_function_is_sized_by_the_decision(templates, name):
    from aws_cdk.assertions import Match

    s = decision(name).option(Target.serverless).sizing
    weights_dir = r"^/opt/switchyard/weights$" if s.weights_in_image else r"^/mnt/models/[0-9a-f]{16}$"
    template(templates, name).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "PackageType": "Image",
            "MemorySize": s.memory_mb,
            "Timeout": s.timeout_s,
            "Architectures": ["x86_64" if s.architecture == "x86_64" else "arm64"],
            "EphemeralStorage": {"Size": 512},
            "ReservedConcurrentExecutions": s.reserved_concurrency,
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": Match.object_like({"LogFormat": "JSON"}),
            "FileSystemConfigs": Match.absent()
            if s.weights_in_image
            else [Match.object_like({"LocalMountPath": "/mnt/models"})],
            "VpcConfig": Match.absent() if s.weights_in_image else Match.object_like({"SubnetIds": Match.any_value()}),
            "Environment": {
                "Variables": Match.object_like(
                    {"WEIGHTS_DIR": Match.string_like_regexp(weights_dir), "POWERTOOLS_SERVICE_NAME": name}
                )
            },
        },
    )


def test_small_local_weights_are_baked_into_the_image(templates, tmp_path):
    """sentiment-api's 0.4 GB of local weights: in the image, so no VPC, EFS access point or weights copy."""
    assert decision("sentiment-api").option(Target.serverless).sizing.weights_in_image
    t = template(templates, "sentiment-api")
    for kind in ("Custom::SwitchyardWeights", "AWS::EFS::AccessPoint", "AWS::EC2::SecurityGroup"):
        t.resource_count_is(kind, 0)
    assert not [p for p in templates[workload_stack("sentiment-api")].get("Parameters", {}) if "efs" in p or "vpc" in p]


@pytest.mark.parametrize("name", ["nightly-embeddings"])
def test_weights_are_on_efs_before_the_version_is_published(templates, name):
    from aws_cdk.assertions import Match, Template

    t = template(templates, name)
    resources = templates[workload_stack(name)]["Resources"]
    (weights_id,) = t.find_resources("Custom::SwitchyardWeights")
    props = resources[weights_id]["Properties"]
    version = props["Version"]
    assert props["Workload"] == name
    assert version == weights_version(decide(load_profile(PROFILES / f"{name}.yaml")))
    serving = next(
        r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("PackageType") == "Image"
    )
    assert weights_id in serving["DependsOn"]
    assert serving["Properties"]["Environment"]["Variables"]["WEIGHTS_DIR"] == f"/mnt/models/{version}"
    # the shared sync writes as the owner of /workloads; the serving function reads through its own
    # access point as a user that does not own the files
    Template.from_json(templates[PLATFORM_STACK]).has_resource_properties(
        "AWS::EFS::AccessPoint",
        {"PosixUser": {"Uid": "1000", "Gid": "1000"}, "RootDirectory": Match.object_like({"Path": "/workloads"})},
    )
    t.has_resource_properties(
        "AWS::EFS::AccessPoint",
        {
            "PosixUser": {"Uid": "1001", "Gid": "1001"},
            "RootDirectory": {
                "Path": f"/workloads/{name}",
                "CreationInfo": {"OwnerUid": "1000", "OwnerGid": "1000", "Permissions": "755"},
            },
        },
    )


@pytest.mark.parametrize("name", SERVERLESS)
def test_serving_role_is_least_privilege(templates, name):
    resources = templates[workload_stack(name)]["Resources"]
    policies = [r for k, r in resources.items() if k.startswith("ServingServiceRoleDefaultPolicy")]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    if decision(name).option(Target.serverless).sizing.weights_in_image and not statements:
        return  # a sync workload with its weights in the image needs no permission beyond logs and traces
    actions = [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert ("elasticfilesystem:ClientMount" in actions) is not decision(name).option(
        Target.serverless
    ).sizing.weights_in_image
    assert "elasticfilesystem:ClientWrite" not in actions  # read-only weights
    assert not [a for a in actions if a.startswith("s3:") and a != "s3:PutObject"]
    for s in statements:
        if s["Action"] == "s3:PutObject":
            assert json.dumps(s["Resource"]).endswith('"/results/*"]]}')


def test_weights_sync_reads_only_the_workloads_weights(tmp_path):
    # sentiment-api with local weights above the image threshold: copied from an asset to EFS. Kept on
    # serverless: its 9.9 s cold starts raise the simulated floor until Kubernetes is cheaper.
    profiles = copy_profiles(tmp_path, edit={"sentiment-api": ("weights_gb: 0.4", "weights_gb: 1.5")})
    path = profiles / "sentiment-api.yaml"
    path.write_text(path.read_text().replace("target: auto", "target: serverless"))
    platform = synth(profiles, tmp_path / "build", tmp_path / "out").get_stack_by_name(PLATFORM_STACK).template
    resources = platform["Resources"]
    policy = next(r for k, r in resources.items() if k.startswith("WeightsSyncRoleDefaultPolicy"))
    s3 = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if str(s["Action"]).startswith("s3:")]
    granted = [json.dumps(s["Resource"]) for s in s3]
    assert len(s3) == 3
    assert '"arn:aws:s3:::acme-models/embeddings/v7/*"' in granted  # nightly-embeddings' prefix
    assert '"arn:aws:s3:::acme-models"' in granted  # listing, conditioned below
    # sentiment-api's local weights: exactly its asset object, not the whole assets bucket
    (asset,) = [r for r in granted if "cdk-hnb659fds-assets" in r]
    assert asset.endswith('.zip"]]}') and "*" not in asset
    listing = next(s for s in s3 if s["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["embeddings/v7/*"]}}


# ------------------------------------------------------------------ alias and scaling


def test_alias_live_with_scheduled_provisioned_concurrency(templates):
    from aws_cdk.assertions import Match

    s = decision("sentiment-api").option(Target.serverless).sizing
    # the averages' 1-5, the floor raised by the simulated burst (tests/test_simulate_decision.py): the
    # template holds the floor the plan states
    assert s.provisioned and s.pc_scheduled and 1 <= s.pc_min <= s.pc_max == 5
    t = template(templates, "sentiment-api")
    t.has_resource_properties("AWS::Lambda::Alias", {"Name": "live"})
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "MinCapacity": 0,
            "MaxCapacity": 5,
            "ScalableDimension": "lambda:function:ProvisionedConcurrency",
            "ScheduledActions": [
                # 08:00-18:00 UTC, warmed 15 minutes ahead, the floor repeated every 15 minutes
                # inside the window so a deploy (which registers MinCapacity 0) cannot leave it cold
                {
                    "ScalableTargetAction": {"MinCapacity": s.pc_min, "MaxCapacity": 5},
                    "Schedule": "cron(45 7 * * ? *)",
                    "ScheduledActionName": "WarmInWindow",
                },
                {
                    "ScalableTargetAction": {"MinCapacity": s.pc_min, "MaxCapacity": 5},
                    "Schedule": "cron(0,15,30,45 8-17 * * ? *)",
                    "ScheduledActionName": "HoldInWindow1",
                },
                {
                    "ScalableTargetAction": {"MinCapacity": 0, "MaxCapacity": 0},
                    "Schedule": "cron(0 18 * * ? *)",
                    "ScheduledActionName": "MinimumOutsideWindow",
                },
            ],
        },
    )
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "TargetValue": 0.7,
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "LambdaProvisionedConcurrencyUtilization"
                    },
                }
            ),
        },
    )


def test_no_provisioned_concurrency_when_the_budget_covers_the_cold_start(templates):
    from aws_cdk.assertions import Match

    assert not decision("nightly-embeddings").option(Target.serverless).sizing.provisioned
    t = template(templates, "nightly-embeddings")
    t.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    t.has_resource_properties("AWS::Lambda::Alias", {"Name": "live", "ProvisionedConcurrencyConfig": Match.absent()})


def test_always_on_provisioned_concurrency_is_set_on_the_alias(tmp_path):
    from aws_cdk.assertions import Match

    t = sentiment_api_edited(tmp_path, '  active_window: "08:00-18:00 UTC"\n', "")
    # the floor the plan states (the averages' 1, raised by the simulated burst), held around the clock
    s = decide(load_profile(tmp_path / "profiles" / "sentiment-api.yaml")).decision.option(Target.serverless).sizing
    assert not s.pc_scheduled and 1 <= s.pc_min <= s.pc_max == 5
    t.has_resource_properties(
        "AWS::Lambda::Alias", {"ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": s.pc_min}}
    )
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": s.pc_min, "MaxCapacity": 5, "ScheduledActions": Match.absent()},
    )


# ------------------------------------------------------------------ sync and async


def test_sync_gets_an_iam_function_url_on_the_alias(templates):
    t = template(templates, "sentiment-api")
    t.has_resource_properties("AWS::Lambda::Url", {"AuthType": "AWS_IAM", "Qualifier": "live"})
    t.resource_count_is("AWS::SQS::Queue", 0)


def test_async_queue_dlq_and_event_source(templates):
    from aws_cdk.assertions import Capture, Match

    d = decision("nightly-embeddings")
    t = template(templates, "nightly-embeddings")
    t.resource_count_is("AWS::Lambda::Url", 0)
    dlq = Capture()
    t.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "VisibilityTimeout": 6 * d.option(Target.serverless).sizing.timeout_s,
            "SqsManagedSseEnabled": True,
            "MessageRetentionPeriod": 4 * 24 * 3600,  # platform queue_retention_days
            # AWS advises at least 5 with batches: a crash-class failure spends every record's receive.
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]}, "maxReceiveCount": 5},
            "MaximumMessageSize": 256 * 1024,  # platform async_message_max_kb, the Kubernetes queue's limit too
        },
    )
    # SQS ages a dead letter from its first enqueue: the DLQ must keep messages longer than the queue
    assert (
        templates[workload_stack("nightly-embeddings")]["Resources"][dlq.as_string()]["Properties"][
            "MessageRetentionPeriod"
        ]
        == 14 * 24 * 3600
    )
    t.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )
    t.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": d.option(Target.serverless).sizing.queue_max_concurrency},
            "FunctionName": {"Fn::Join": ["", [Match.any_value(), ":live"]]},
        },
    )
    t.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "RESULTS_URI": {
                            "Fn::Join": ["", ["s3://", {"Ref": Match.string_like_regexp("^AsyncResults")}, "/results/"]]
                        },
                        "MAX_RECEIVE_COUNT": "5",  # the handler's last receive is the queue's
                        "QUEUE_URL": {"Ref": Match.string_like_regexp("^AsyncQueue")},
                    }
                )
            }
        },
    )
    # A caller reads its own results only: results/<its aws:userid (SQS's SenderId)>/*
    policy = t.find_resources("AWS::IAM::ManagedPolicy")
    (reader,) = policy.values()
    (statement,) = reader["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "s3:GetObject" and statement["Effect"] == "Allow"
    assert json.dumps(statement["Resource"]).endswith('"/results/${aws:userid}/*"]]}')
    outputs = templates[workload_stack("nightly-embeddings")]["Outputs"]
    assert outputs["ResultsReadPolicyArn"]["Value"] == {"Ref": next(iter(policy))}


def test_mode_both_queue_never_takes_the_provisioned_environments(tmp_path):
    """The queue polls $LATEST (no qualifier): provisioned concurrency lives on alias `live` only,
    so a backlog neither occupies the warm environments of sync callers nor scales them up."""
    from aws_cdk.assertions import Capture, Match

    t = sentiment_api_edited(tmp_path, "mode: sync", "mode: both")
    function = Capture()
    t.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": function},
            "ScalingConfig": Match.object_like({"MaximumConcurrency": Match.any_value()}),
        },
    )
    assert t.to_json()["Resources"][function.as_string()]["Type"] == "AWS::Lambda::Function"
    # the HTTP side still calls the alias that the scheduled provisioned concurrency scales
    t.has_resource_properties("AWS::Lambda::Url", {"Qualifier": "live"})
    (target,) = t.find_resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert ":live" in json.dumps(target["Properties"]["ResourceId"])


def test_http_api_endpoint_when_the_profile_asks_for_one(tmp_path):
    from aws_cdk.assertions import Match

    t = sentiment_api_edited(tmp_path, "  timeout_s: 30", "  timeout_s: 29\n  endpoint: http_api")
    t.resource_count_is("AWS::Lambda::Url", 0)
    t.has_resource_properties("AWS::ApiGatewayV2::Route", {"AuthorizationType": "AWS_IAM", "RouteKey": "$default"})
    t.has_resource_properties(
        "AWS::ApiGatewayV2::Integration",
        {"IntegrationType": "AWS_PROXY", "IntegrationUri": {"Ref": Match.string_like_regexp("^ServingAliaslive")}},
    )
    t.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "AutoDeploy": True,
            "AccessLogSettings": {"DestinationArn": Match.any_value(), "Format": Match.string_like_regexp("requestId")},
            "DefaultRouteSettings": Match.object_like({"ThrottlingRateLimit": 80, "ThrottlingBurstLimit": 160}),
        },
    )


# ------------------------------------------------------------------ alarms


def test_alarms(templates):
    from aws_cdk.assertions import Match

    sync = template(templates, "sentiment-api")
    for alarm, props in {
        "Errors": {"MetricName": "Errors", "Threshold": 0},
        "Throttles": {"MetricName": "Throttles", "Threshold": 0},
        "DurationP99": {"MetricName": "Duration", "ExtendedStatistic": "p99", "Threshold": 300},
    }.items():
        found = sync.find_resources(
            "AWS::CloudWatch::Alarm",
            {"Properties": {**props, "AlarmDescription": Match.string_like_regexp("^sentiment-api: ")}},
        )
        assert [k for k in found if k.startswith(f"Alarms{alarm}")], alarm
    # The cold starts over the 1,000 ms budget, counted from the REPORT records, as a share of the
    # invocations: the sizing accepts a burst's spill (up to 1 % of its requests), so the alarm pages only
    # when more than that goes cold for 15 minutes.
    sync.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "FilterPattern": '{ ($.type = "platform.report") && ($.record.metrics.initDurationMs > 1000) }',
            "MetricTransformations": [
                Match.object_like({"MetricName": "sentiment-api-ColdStartsOverBudget", "MetricValue": "1"})
            ],
        },
    )
    # Bursts spill past the provisioned floor by design: the spillover alarm pages on a share above what
    # the plan's simulated burst spills (half again), lasting 15 minutes.
    (spill,) = [a for k, a in sync.find_resources("AWS::CloudWatch::Alarm").items() if "ProvisionedSpillover" in k]
    s = decision("sentiment-api").option(Target.serverless).sizing
    assert spill["Properties"]["EvaluationPeriods"] == 3
    assert spill["Properties"]["Threshold"] == math.ceil(s.burst_on_demand_share * 1.5 * 100) > 0
    (spilled,) = [q for q in spill["Properties"]["Metrics"] if q["Id"] == "spill"]
    assert spilled["MetricStat"]["Metric"]["MetricName"] == "ProvisionedConcurrencySpilloverInvocations"
    assert f"the plan's simulated burst spills {s.burst_on_demand_share:.1%}" in spill["Properties"]["AlarmDescription"]
    (cold,) = [a for k, a in sync.find_resources("AWS::CloudWatch::Alarm").items() if "ColdStartOverBudget" in k]
    props = cold["Properties"]
    assert (props["Threshold"], props["EvaluationPeriods"]) == (1, 3)
    queries = {q["Id"]: q for q in props["Metrics"]}
    assert queries["expr_1"]["Expression"] == "100 * FILL(over, 0) / FILL(invocations, 1)"
    assert queries["over"]["MetricStat"]["Metric"]["MetricName"] == "sentiment-api-ColdStartsOverBudget"
    assert queries["invocations"]["MetricStat"]["Metric"]["MetricName"] == "Invocations"
    assert re.search(
        r"more than 1\.0% of invocations paid a cold start over the 1,000 ms budget for 15 minutes; "
        r"the plan accepts 0\.\d\d% of a simulated burst's requests",
        props["AlarmDescription"],
    )
    batch = template(templates, "nightly-embeddings")
    batch.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 0}
    )
    # The handler's EMF count of results it could not store: paged at the first, not when the DLQ fills.
    batch.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ResultWriteFailures",
            "Namespace": "Switchyard",
            "Dimensions": [{"Name": "service", "Value": "nightly-embeddings"}],
            "Threshold": 0,
        },
    )


# ------------------------------------------------------------------ nag, lint, snapshots, CLI


def test_every_nag_acknowledgement_is_granular_and_has_a_reason(tmp_path):
    import aws_cdk as cdk

    from stacks.aws.app import build_app

    app = build_app(
        load_all([PROFILES]), profiles_dir=PROFILES, outdir=str(tmp_path / "out"), build_root=tmp_path / "build"
    )
    ours = []
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                ours += [
                    (construct.node.path, rule, reason)
                    for rule, reason in entry.data.items()
                    if rule.startswith(("AwsSolutions::", "Serverless::"))
                ]
    assert ours, "cdk-nag findings are acknowledged on the constructs they concern"
    for path, rule, reason in ours:
        assert "/" in path, f"{rule} acknowledged on a whole stack ({path}): acknowledge the construct"
        assert len(reason) > 60, f"{path}: {rule}: reason too thin for a security review"
    app.synth()  # and with them, synthesis passes the AwsSolutions and Serverless packs


def test_cfn_lint_passes_on_every_template(assembly):
    assert cfn_lint([str(s.template_full_path) for s in assembly.stacks]) == []


@pytest.mark.parametrize("name", [PLATFORM_STACK, *(workload_stack(n) for n in SERVERLESS)])
def test_template_snapshot(templates, name, snapshot):
    assert normalised(templates[name]) == snapshot.use_extension(JSONSnapshotExtension)


def test_switching_a_profile_to_kubernetes_removes_its_stack(tmp_path):
    profiles = copy_profiles(tmp_path, edit={"sentiment-api": ("target: auto", "target: kubernetes")})
    names = {s.stack_name for s in synth(profiles, tmp_path / "build", tmp_path / "out").stacks}
    assert names == {PLATFORM_STACK, workload_stack("nightly-embeddings")}


@pytest.mark.parametrize("name", SERVERLESS)
def test_the_bill_counts_the_alarms_and_metrics_the_stack_creates(templates, name):
    # The cost model lists what the stack creates; a new alarm or metric filter must reach the bill.
    w = next(w for w in load_all([PROFILES]).workloads if w.name == name)
    lines = {x.name: x for x in w.decision.option(Target.serverless).bill.lines}
    t = template(templates, name)
    # CloudWatch bills an alarm per metric it reads: one, or each metric of a metric-math expression
    read = sum(
        len([q for q in a["Properties"]["Metrics"] if "MetricStat" in q]) if "Metrics" in a["Properties"] else 1
        for a in t.find_resources("AWS::CloudWatch::Alarm").values()
    )
    assert lines["alarms"].quantity == read
    stages = t.find_resources("AWS::ApiGatewayV2::Stage")
    detailed = sum(
        6 for s in stages.values() if s["Properties"].get("DefaultRouteSettings", {}).get("DetailedMetricsEnabled")
    )
    # + Powertools' ColdStart metric, which the handler emits as EMF (no resource)
    assert lines["custom_metrics"].quantity == len(t.find_resources("AWS::Logs::MetricFilter")) + 1 + detailed
