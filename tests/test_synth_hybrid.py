"""`switchyard synth` for target: hybrid: the front in the CDK app (queue, DLQ, results bucket,
worker and scaler users, alarms), the SQS worker in the Pulumi program (Deployment, Secrets,
TriggerAuthentication, aws-sqs-queue ScaledObject), wired through the front's outputs set as stack
config; snapshots of both, cdk-nag and cfn-lint clean, KEDA objects valid against the vendored CRDs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema
import kubernetes_validate
import pulumi
import pytest
import yaml
from syrupy.extensions.json import JSONSnapshotExtension

from stacks.errors import SwitchyardError
from stacks.k8s import mocks, program
from stacks.k8s.hybrid import HybridQueue
from stacks.k8s.hybrid_workloads import fronts_from_config
from stacks.profile import Target
from stacks.profile.loader import load_profile
from stacks.targets import decide
from stacks.targets.hybrid import hybrid_sizing
from stacks.targets.hybrid.bill import FRONT_ALARMS
from stacks.targets.serverless.installation import front_stack
from stacks.workloads import load_all
from tests.cdk_helpers import cfn_lint, synth
from tests.cdk_helpers import normalised as normalised_template
from tests.conftest import FIXTURES, IN_PROCESS_CDK, UPSTREAM
from tests.k8s_helpers import CLUSTER, find, manifests
from tests.k8s_helpers import normalised as normalised_objects

if TYPE_CHECKING:  # aws-cdk-lib is imported where used: only the `cdk` group's worker loads it
    from aws_cdk.assertions import Template

pytestmark = [pytest.mark.timeout(300), IN_PROCESS_CDK]
PROFILES = FIXTURES / "hybrid"
NAME = "image-tagging"
STACK = front_stack(NAME)


@pytest.fixture(scope="module")
def assembly(tmp_path_factory):
    out = tmp_path_factory.mktemp("hybrid-cdk")
    return synth(PROFILES, out / "build", out / "cdk.out")


@pytest.fixture(scope="module")
def front(assembly) -> Template:
    from aws_cdk.assertions import Template

    return Template.from_json(assembly.get_stack_by_name(STACK).template)


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    return manifests(PROFILES, tmp_path_factory.mktemp("hybrid-k8s"), CLUSTER)


def workload():
    return decide(load_profile(PROFILES / f"{NAME}.yaml"))


# ------------------------------------------------------------------ the AWS front (CDK app)


def test_the_cdk_app_holds_the_platform_and_the_front_and_no_function(assembly, front):
    from aws_cdk.assertions import Match

    assert sorted(s.stack_name for s in assembly.stacks) == sorted(["Switchyard-Platform", STACK])
    front.resource_count_is("AWS::Lambda::Function", 0)
    front.resource_count_is("AWS::Lambda::EventSourceMapping", 0)
    front.resource_count_is("AWS::SQS::Queue", 2)  # the queue and its dead-letter queue
    front.has_resource_properties(
        "AWS::SQS::Queue",
        {"VisibilityTimeout": hybrid_sizing(workload()).visibility_timeout_s, "RedrivePolicy": Match.any_value()},
    )
    front.resource_count_is("AWS::S3::Bucket", 1)  # results; access logs go to the platform's bucket
    front.resource_count_is("AWS::IAM::User", 2)  # the worker and KEDA's scaler
    front.resource_count_is("AWS::IAM::AccessKey", 0)  # keys are the operator's, never in a template
    outputs = front.to_json()["Outputs"]
    assert {"QueueUrl", "Region", "ResultsBucketName", "WorkerUserName", "ScalerUserName"} <= set(outputs)


def test_worker_and_scaler_users_get_least_privilege(front):
    from stacks.aws.hybrid import SCALER_SQS_ACTIONS, WORKER_SQS_ACTIONS

    policies = front.find_resources("AWS::IAM::ManagedPolicy")
    actions = sorted(
        tuple(sorted(s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))
        for p in policies.values()
        if p["Properties"].get("Users")
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    )
    assert actions == sorted([tuple(sorted(WORKER_SQS_ACTIONS)), ("s3:PutObject",), tuple(SCALER_SQS_ACTIONS)])


def test_the_bill_counts_the_alarms_the_front_creates(front):
    alarms = front.find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == len(FRONT_ALARMS)
    bill = workload().decision.option(Target.hybrid).bill
    assert next(line for line in bill.lines if line.name == "alarms").quantity == len(alarms)


def test_cdk_nag_passes_and_cfn_lint_is_clean(assembly):
    report = (Path(assembly.directory) / "validation-report.json").read_text(encoding="utf-8")
    assert '"violations": []' in report and '"conclusion": "failure"' not in report
    assert cfn_lint([str(s.template_full_path) for s in assembly.stacks]) == []


def test_front_template_snapshot(assembly, snapshot):
    template = assembly.get_stack_by_name(STACK).template
    assert normalised_template(template) == snapshot.use_extension(JSONSnapshotExtension)


# ------------------------------------------------------------------ the worker (Pulumi program)


def _crd(file: str) -> dict:
    crd = yaml.safe_load((UPSTREAM / file).read_text())
    return next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")["schema"]["openAPIV3Schema"]


def test_the_program_holds_the_worker_scaled_by_the_aws_sqs_queue_trigger(objects):
    docs = objects[NAME]
    kinds = sorted(d["kind"] for d in docs)
    assert "ScaledObject" in kinds and "TriggerAuthentication" in kinds and "Service" not in kinds
    h = hybrid_sizing(workload())
    spec = find(docs, "ScaledObject")["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, h.worker.max_replicas) == (0, 12)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["metadata"]["queueLength"] == str(h.queue_length)
    pod = find(docs, "Deployment")["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0][
        "matchExpressions"
    ][0]["values"] == ["NVIDIA-L4"]


def test_a_review_render_names_where_each_front_value_comes_from(objects):
    docs = objects[NAME]
    metadata = find(docs, "ScaledObject")["spec"]["triggers"][0]["metadata"]
    assert metadata["queueURL"] == f"<QueueUrl output of {STACK}: switchyard:hybridFronts.{NAME}.queueUrl>"
    assert metadata["awsRegion"] == f"<Region output of {STACK}: switchyard:hybridFronts.{NAME}.region>"
    env = {
        e["name"]: e.get("value") for e in find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["RESULTS_URI"] == (
        f"s3://<ResultsBucketName output of {STACK}: switchyard:hybridFronts.{NAME}.resultsBucket>/results/"
    )


def test_keda_objects_validate_against_the_vendored_crds(objects):
    docs = objects[NAME]
    jsonschema.validate(find(docs, "ScaledObject"), _crd("keda-2.20.2-scaledobjects.crd.yaml"))
    jsonschema.validate(find(docs, "TriggerAuthentication"), _crd("keda-2.20.2-triggerauthentications.crd.yaml"))
    for doc in docs:
        if doc["kind"] not in ("ScaledObject", "TriggerAuthentication", "PodMonitor"):
            kubernetes_validate.validate(doc, "1.30", strict=True)


def test_worker_objects_snapshot(objects, snapshot):
    assert normalised_objects(objects[NAME]) == snapshot.use_extension(JSONSnapshotExtension)


class Config:
    """pulumi.Config's get_object, over a dict (what `pulumi config set --path` builds)."""

    def __init__(self, values: dict) -> None:
        self.values = values

    def get_object(self, key: str):
        return self.values.get(key)


def test_pulumi_up_reads_the_front_from_stack_config_and_names_what_is_missing(tmp_path):
    batch = load_all([PROFILES])
    hybrid = batch.by_target("hybrid")
    with pytest.raises(SwitchyardError) as err:
        fronts_from_config(Config({"hybridFronts": {NAME: {"queueUrl": "https://sqs.x/1/q"}}}), hybrid)
    text = str(err.value)
    assert f"{NAME}.region (the Region output)" in text and f"{NAME}.resultsBucket (the ResultsBucketName" in text
    assert f"--stack-name {STACK}" in text and "queueUrl (the" not in text
    with pytest.raises(SwitchyardError, match="hybridFronts: the hybrid workloads' AWS fronts are not set"):
        fronts_from_config(Config({}), hybrid)
    front = {"queueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q", "region": "eu-west-1", "resultsBucket": "b"}
    fronts = fronts_from_config(Config({"hybridFronts": {NAME: front}}), hybrid)
    assert fronts == {NAME: HybridQueue("https://sqs.eu-west-1.amazonaws.com/1/q", "eu-west-1", "b")}


def test_the_fronts_outputs_reach_the_worker_and_the_scaler(tmp_path):
    batch = load_all([PROFILES])
    front = HybridQueue("https://sqs.eu-west-1.amazonaws.com/123456789012/q", "eu-west-1", "results-bucket")
    recorder = mocks.Recorder()

    pulumi.runtime.set_mocks(recorder, project="switchyard", stack="test", preview=False)

    @pulumi.runtime.test
    def go():
        built = program.build(batch, CLUSTER, tmp_path, fronts={NAME: front})
        return pulumi.Output.all(*[w.urn for w in built.hybrid.values()])

    go()
    docs = [mocks.manifest(r) for r in recorder.resources if r.type.startswith("kubernetes:")]
    metadata = find(docs, "ScaledObject")["spec"]["triggers"][0]["metadata"]
    assert (metadata["queueURL"], metadata["awsRegion"]) == (front.queue_url, "eu-west-1")
    env = {
        e["name"]: e.get("value") for e in find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["QUEUE_URL"] == front.queue_url and env["RESULTS_URI"] == "s3://results-bucket/results/"


def test_synth_with_a_stack_renders_the_fronts_it_sets(tmp_path, monkeypatch):
    """`synth --pulumi-stack X` shows the queue, region and bucket Pulumi.X.yaml sets (what `pulumi up`
    will use); a value the stack does not set yet stays a placeholder naming its output. The stack's
    settings are read by from_pulumi_config, as under `pulumi up`: the hybrid keys synth tells the
    operator to set are Switchyard settings, not refused as unknown."""
    from tests.cli_helpers import switchyard

    queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/Switchyard-Front-image-tagging-Queue"
    (tmp_path / "Pulumi.prod.yaml").write_text(
        f"config:\n  switchyard:hybridFronts:\n    {NAME}:\n      queueUrl: {queue}\n      region: eu-west-1\n",
        encoding="utf-8",
    )
    r = switchyard("synth", str(PROFILES), "--pulumi-stack", "prod", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    docs = list(yaml.safe_load_all((tmp_path / "k8s.out" / f"{NAME}.yaml").read_text(encoding="utf-8")))
    metadata = find(docs, "ScaledObject")["spec"]["triggers"][0]["metadata"]
    assert (metadata["queueURL"], metadata["awsRegion"]) == (queue, "eu-west-1")
    env = {
        e["name"]: e.get("value") for e in find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["QUEUE_URL"] == queue and env["AWS_REGION"] == "eu-west-1"
    assert env["RESULTS_URI"] == (
        f"s3://<ResultsBucketName output of {STACK}: switchyard:hybridFronts.{NAME}.resultsBucket>/results/"
    )

    (tmp_path / "Pulumi.bad.yaml").write_text("config:\n  switchyard:hybridFronts: [a, b]\n", encoding="utf-8")
    r = switchyard("synth", str(PROFILES), "--pulumi-stack", "bad", cwd=tmp_path)
    assert r.returncode != 0 and "Pulumi.bad.yaml" in r.stderr and "hybridFronts: not an object" in r.stderr
    assert "Traceback" not in r.stderr
