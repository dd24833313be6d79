"""Day two on AWS: the second install, the replaced provider, the account that is not default.

- replacing the weights-sync provider function leaves every workload's ServiceToken as it was
  (CloudFormation refuses to modify one: "Modifying service token is not allowed");
- two installations synthesize into one account and region with no shared global name;
- the VPC's subnets go to the AZ IDs the platform names, never to one Lambda cannot use;
- alarms nobody would hear are refused at synthesis unless the user opts out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.targets.serverless.installation import platform_stack, workload_stack
from stacks.workloads import load_all
from tests.cdk_helpers import exports, ssm_published, ssm_reads, synth
from tests.cli_helpers import switchyard
from tests.conftest import IN_PROCESS_CDK, ROOT, copy_profiles

pytestmark = [pytest.mark.timeout(600), IN_PROCESS_CDK]

# Two workloads cover every kind of stack: weights on EFS + async (nightly-embeddings), weights in
# the image + sync with provisioned concurrency (sentiment-api).
DROP = ("llm-chat", "fraud-scoring")


def templates(tmp_path: Path, platform: str | None = None, *, edit=None) -> dict[str, dict]:
    profiles = copy_profiles(tmp_path, drop=DROP, edit=edit)
    if platform is not None:
        (profiles / "platform.yaml").write_text(f"platform:\n{platform}", encoding="utf-8")
    return {s.stack_name: s.template for s in synth(profiles, tmp_path / "build", tmp_path / "out").stacks}


def _custom_weights(template: dict) -> dict:
    (found,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::SwitchyardWeights"]
    return found


def resolved_service_token(platform: dict, workload: dict) -> str:
    """The ServiceToken the workload's custom resource is created with, as CloudFormation will see it.

    Through an SSM parameter (`{Ref: <SSM parameter type>}`), the value the platform publishes
    under that name. A GetAtt names the platform's logical ID, i.e. the generated physical name:
    a replaced function gets a new one.
    """
    token: Any = _custom_weights(workload)["Properties"]["ServiceToken"]
    if isinstance(token, dict) and "Ref" in token and token["Ref"] in workload.get("Parameters", {}):
        name = workload["Parameters"][token["Ref"]]["Default"]
        (token,) = [
            r["Properties"]["Value"]
            for r in platform["Resources"].values()
            if r["Type"] == "AWS::SSM::Parameter" and r["Properties"]["Name"] == name
        ]
    return json.dumps(token, sort_keys=True)


# ------------------------------------------------------------------ the weights-sync ServiceToken


def test_replacing_the_provider_function_keeps_the_service_token_workloads_use(tmp_path, monkeypatch):
    from aws_cdk import custom_resources as cr

    from stacks.aws import weights

    before = templates(tmp_path / "before")
    # A replacement: the provider under a new construct path (a refactor, a CDK upgrade), so its
    # function is a new resource.
    original = cr.Provider

    def moved(scope, id, **kwargs):
        return original(scope, f"{id}Moved", **kwargs)

    monkeypatch.setattr(weights.cr, "Provider", moved)
    after = templates(tmp_path / "after")
    platform, workload = platform_stack(), workload_stack("nightly-embeddings")
    assert resolved_service_token(after[platform], after[workload]) == resolved_service_token(
        before[platform], before[workload]
    )
    # ... and that token names a function the platform really has, under that fixed name.
    token = resolved_service_token(after[platform], after[workload])
    assert token.endswith(':function:Switchyard-weights-sync-provider"]]}'), token
    names = [
        r["Properties"].get("FunctionName")
        for r in after[platform]["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    assert names.count("Switchyard-weights-sync-provider") == 1


def test_custom_resources_created_before_the_stable_token_can_still_be_deleted(tmp_path):
    """Upgrading: the workload's custom resource has a new logical ID (a new resource, not a token
    change); the old one's Delete goes to the provider its token names, which the default
    installation keeps, and whose token the old SSM parameter still publishes."""
    t = templates(tmp_path)
    platform = t[platform_stack()]
    workload = t[workload_stack("nightly-embeddings")]
    assert any(k.startswith("WeightsCopy") for k in workload["Resources"])
    assert not any(k.startswith("Weights") and not k.startswith("WeightsCopy") for k in workload["Resources"])
    legacy = [
        k
        for k, r in platform["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and k.startswith("WeightsSyncProviderframeworkonEvent")
    ]
    assert len(legacy) == 1, "the pre-upgrade provider keeps its logical ID (and so its generated name)"
    (published,) = [
        r["Properties"]["Value"]
        for r in platform["Resources"].values()
        if r["Type"] == "AWS::SSM::Parameter" and r["Properties"]["Name"].endswith("weights-sync-service-token")
    ]
    assert published == {"Fn::GetAtt": [legacy[0], "Arn"]}


# ------------------------------------------------------------------ a second installation


def _global_names(ts: dict[str, dict]) -> dict[str, set[str]]:
    """Names that must be unique in one account and region, by kind."""
    out: dict[str, set[str]] = {"stacks": set(ts), "parameters": set(), "functions": set(), "exports": set()}
    out["namespaces"] = set()
    for t in ts.values():
        out["parameters"] |= ssm_published(t)
        out["exports"] |= exports(t)
        for r in t["Resources"].values():
            props = r.get("Properties", {})
            if r["Type"] == "AWS::Lambda::Function":
                if "FunctionName" in props:
                    out["functions"].add(props["FunctionName"])
                ns = props.get("Environment", {}).get("Variables", {}).get("POWERTOOLS_METRICS_NAMESPACE")
                if ns:
                    out["namespaces"].add(ns)
            if r["Type"] == "AWS::Logs::MetricFilter":
                out["namespaces"] |= {m["MetricNamespace"] for m in props["MetricTransformations"]}
            if r["Type"] == "AWS::CloudWatch::Alarm" and not props.get("Namespace", "AWS/").startswith("AWS/"):
                out["namespaces"].add(props["Namespace"])  # our own metrics: AWS/* are per resource
            for key in ("BucketName", "QueueName", "TopicName", "LogGroupName", "RoleName", "AlarmName"):
                if isinstance(props.get(key), str):
                    out.setdefault(key, set()).add(props[key])
    return out


@pytest.fixture(scope="module")
def two_installations(tmp_path_factory):
    first = templates(tmp_path_factory.mktemp("first"), "  alarms_without_subscribers: true\n")
    second = templates(
        tmp_path_factory.mktemp("second"), "  installation: Staging\n  alarms_without_subscribers: true\n"
    )
    return first, second


def test_two_installations_share_no_global_name(two_installations):
    first, second = (_global_names(t) for t in two_installations)
    for kind in first.keys() | second.keys():
        assert not first.get(kind, set()) & second.get(kind, set()), kind
    assert second["stacks"] == {"Staging-Platform", "Staging-nightly-embeddings", "Staging-sentiment-api"}
    assert second["functions"] == {"Staging-weights-sync-provider"}
    assert all(p.startswith("/staging/platform/") for p in second["parameters"])
    assert second["namespaces"] == {"Staging"}


def test_the_default_installation_keeps_the_names_deployed_stacks_have(two_installations):
    first, _ = two_installations
    assert set(first) == {"Switchyard-Platform", "Switchyard-nightly-embeddings", "Switchyard-sentiment-api"}
    assert "/switchyard/platform/vpc-id" in ssm_published(first["Switchyard-Platform"])
    assert _global_names(first)["namespaces"] == {"Switchyard"}


def test_each_installation_reads_only_its_own_platform(two_installations):
    for ts, prefix in zip(two_installations, ("/switchyard/platform/", "/staging/platform/"), strict=True):
        published = ssm_published(ts[next(n for n in ts if n.endswith("-Platform"))])
        for name, t in ts.items():
            assert all(p.startswith(prefix) for p in ssm_reads(t)), name
            assert ssm_reads(t) <= published, name
        # access logging accepted from this installation's buckets only
        policy = json.dumps(ts[next(n for n in ts if n.endswith("-Platform"))])
        assert f'"arn:aws:s3:::{prefix.split("/")[1]}-*"' in policy


def test_a_profile_cannot_move_itself_to_another_installation(tmp_path):
    profiles = copy_profiles(tmp_path, drop=DROP)
    path = profiles / "sentiment-api.yaml"
    path.write_text(path.read_text() + "overrides:\n  platform:\n    installation: Other\n")
    (failure,) = load_all([profiles]).failures
    assert "overrides.platform.installation" in str(failure.error)


@pytest.mark.parametrize("bad", ["switch-yard", "9lives", "a" * 25])
def test_an_installation_name_that_would_break_the_stack_names_is_refused(tmp_path, bad):
    profiles = copy_profiles(tmp_path, drop=DROP)
    (profiles / "platform.yaml").write_text(f"platform:\n  installation: {bad}\n")
    (failure,) = load_all([profiles]).failures
    assert "platform.yaml:2: platform.installation" in str(failure.error)


# ------------------------------------------------------------------ availability zones


def test_subnets_go_to_the_named_az_ids(tmp_path):
    t = templates(tmp_path, "  alarms_without_subscribers: true\n  availability_zone_ids: [use1-az1, use1-az4]\n")
    subnets = [r["Properties"] for r in t[platform_stack()]["Resources"].values() if r["Type"] == "AWS::EC2::Subnet"]
    assert sorted(s["AvailabilityZoneId"] for s in subnets) == ["use1-az1", "use1-az4"]
    assert not any("AvailabilityZone" in s for s in subnets)  # one or the other: CloudFormation refuses both


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ("[use1-az1, use1-az3]", "'use1-az3' is an AZ where Lambda cannot place VPC functions"),
        ("[euw1-az1, euw1-az2]", "'euw1-az1' is not in us-east-1, whose AZ IDs are use1-az<N>"),
        ("[us-east-1a, us-east-1b]", "'us-east-1a' is not an AZ ID"),
        ("[use1-az1]", "names 1 AZ ID(s) but availability_zones is 2"),
        ("[use1-az1, use1-az1]", "lists use1-az1 more than once"),
    ],
)
def test_an_unusable_az_id_is_a_located_validation_error(tmp_path, ids, message):
    profiles = copy_profiles(tmp_path, drop=DROP)
    (profiles / "platform.yaml").write_text(f"platform:\n  availability_zone_ids: {ids}\n")
    (failure,) = load_all([profiles]).failures
    assert "platform.yaml:2: platform.availability_zone_ids" in str(failure.error)
    assert message in str(failure.error)


def test_az_ids_of_another_region_fit_that_region(tmp_path):
    profiles = copy_profiles(tmp_path, drop=DROP)
    (profiles / "platform.yaml").write_text(
        "platform:\n  region: ap-northeast-1\n  availability_zones: 3\n"
        "  availability_zone_ids: [apne1-az1, apne1-az2, apne1-az4]\n"
    )
    assert not load_all([profiles]).failures


# ------------------------------------------------------------------ alarms somebody hears


def test_synth_refuses_alarms_with_no_subscriber_and_writes_nothing(tmp_path):
    profiles = copy_profiles(tmp_path, drop=DROP)
    (profiles / "platform.yaml").unlink()
    out = tmp_path / "cdk.out"
    r = switchyard(
        "synth", str(profiles), "--cdk-out", str(out),
        "--k8s-out", str(tmp_path / "k8s.out"), "--build", str(tmp_path / "build"), cwd=ROOT,
    )  # fmt: skip
    assert r.returncode != 0, r.stdout
    assert f"{profiles / 'platform.yaml'}: platform.alarm_emails: the serverless alarms would notify" in r.stderr
    assert "alarms_without_subscribers: true" in r.stderr and "alarm_topic_arn" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "setting",
    [
        "  alarm_emails: [oncall@example.com]\n",
        "  alarm_topic_arn: arn:aws:sns:us-east-1:123456789012:pager\n",
        "  alarms_without_subscribers: true\n",
    ],
)
def test_a_subscriber_or_an_explicit_opt_out_synthesizes(tmp_path, setting):
    from stacks.aws.app import alarms_without_subscribers
    from stacks.profile.loader import load_settings

    profiles = copy_profiles(tmp_path, drop=DROP)
    (profiles / "platform.yaml").write_text(f"platform:\n{setting}")
    assert alarms_without_subscribers(load_settings(profiles).platform, profiles) is None
