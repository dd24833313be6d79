"""`switchyard outputs`: each workload's endpoint, auth, queue and results, from what was deployed
(CDK outputs file, Pulumi stack outputs) under the names the stacks really export, or from the plan."""

from __future__ import annotations

import json

import pulumi
import pytest

from stacks.cli import main
from stacks.commands.endpoints import cdk_output_names
from stacks.k8s import mocks, program
from stacks.workloads import load_all
from tests.conftest import IN_PROCESS_CDK, PROFILES, copy_profiles
from tests.k8s_helpers import CLUSTER

CDK_OUTPUTS = {
    "Switchyard-sentiment-api": {
        "FunctionName": "Switchyard-sentiment-api-ServingFunction-AbC",
        "AliasArn": "arn:aws:lambda:us-east-1:123456789012:function:Switchyard-sentiment-api-ServingFunction-AbC:live",
        "FunctionUrl": "https://abcdef.lambda-url.us-east-1.on.aws/",
    },
    "Switchyard-nightly-embeddings": {
        "FunctionName": "Switchyard-nightly-embeddings-ServingFunction-XyZ",
        "AliasArn": "arn:aws:lambda:us-east-1:123456789012:function:Switchyard-nightly-embeddings-ServingFunction-XyZ:live",
        "QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/Switchyard-nightly-embeddings-Queue",
        "QueueArn": "arn:aws:sqs:us-east-1:123456789012:Switchyard-nightly-embeddings-Queue",
        "DeadLetterQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/Switchyard-nightly-embeddings-Dlq",
        "ResultsBucketName": "switchyard-nightly-embeddings-results-1a2b",
        "ResultsPrefixArn": "arn:aws:s3:::switchyard-nightly-embeddings-results-1a2b/results/*",
        "ResultsReadPolicyArn": "arn:aws:iam::123456789012:policy/Switchyard-nightly-embeddings-ResultsReader-Q1",
    },
    "Switchyard-Platform": {"ModelFileSystemId": "fs-0123"},
}
PULUMI_OUTPUTS = {
    "workloads": {
        "fraud-scoring": {
            "namespace": "ml-fraud-scoring",
            "service": "http://fraud-scoring.ml-fraud-scoring.svc.cluster.local",
            "url": "https://fraud-scoring.inference.acme.com",
        },
        "llm-chat": {
            "namespace": "ml-llm-chat",
            "service": "http://llm-chat.ml-llm-chat.svc.cluster.local",
            "url": None,
        },
    }
}


def outputs_json(capsys, *args: str) -> dict[str, dict]:
    code = main(["outputs", "--json", *args])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    return {w["name"]: w for w in doc["workloads"]}


@pytest.fixture
def deployed(tmp_path):
    cdk, pulumi_file = tmp_path / "cdk-outputs.json", tmp_path / "pulumi-outputs.json"
    cdk.write_text(json.dumps(CDK_OUTPUTS))
    pulumi_file.write_text(json.dumps(PULUMI_OUTPUTS))
    return ["--cdk-outputs", str(cdk), "--pulumi-outputs", str(pulumi_file)]


def test_deployed_workloads_show_the_exported_endpoints_auth_queues_and_results(capsys, deployed):
    by = outputs_json(capsys, str(PROFILES), *deployed)
    sentiment = by["sentiment-api"]
    assert sentiment["deployed"] is True and sentiment["sync"]["url"] == "https://abcdef.lambda-url.us-east-1.on.aws/"
    assert CDK_OUTPUTS["Switchyard-sentiment-api"]["AliasArn"] in sentiment["sync"]["auth"]
    assert "lambda:InvokeFunctionUrl and lambda:InvokeFunction" in sentiment["sync"]["auth"]
    nightly = by["nightly-embeddings"]["async"]
    assert nightly["kind"] == "sqs" and nightly["queue"] == CDK_OUTPUTS["Switchyard-nightly-embeddings"]["QueueUrl"]
    assert nightly["dead_letters"].endswith("-Dlq")
    # Each caller reads its own results: filed under its aws:userid, read with the managed policy.
    assert nightly["results"] == "s3://switchyard-nightly-embeddings-results-1a2b/results/<caller>/<id>.json"
    assert "SenderId" in nightly["caller"] and "get-caller-identity" in nightly["caller"]
    assert CDK_OUTPUTS["Switchyard-nightly-embeddings"]["ResultsReadPolicyArn"] in nightly["auth"]
    assert "ResultsPrefixArn" not in nightly["auth"] and "results/*" not in nightly["auth"]
    assert by["nightly-embeddings"]["sync"] is None
    fraud = by["fraud-scoring"]["sync"]
    assert fraud["url"] == "https://fraud-scoring.inference.acme.com" and fraud["path"] == "/predict"
    assert "Bearer" in fraud["auth"]
    llm = by["llm-chat"]
    assert (
        llm["sync"]["url"] == "http://llm-chat.ml-llm-chat.svc.cluster.local"
        and llm["sync"]["path"] == "/v1/completions"
    )
    assert any("clientNamespaces" in n and "port-forward svc/llm-chat" in n for n in llm["notes"])

    assert main(["outputs", str(PROFILES), *deployed]) == 0
    text = capsys.readouterr().out
    assert "  sync:    POST https://abcdef.lambda-url.us-east-1.on.aws" in text
    assert (
        "  async:   SQS SendMessage" in text
        and "result: s3://switchyard-nightly-embeddings-results-1a2b/results/<caller>/<id>.json" in text
    )


def test_workloads_not_deployed_say_so_and_name_what_will_exist(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no cdk-outputs.json here
    monkeypatch.setenv("PATH", str(tmp_path))  # and no pulumi CLI to ask
    by = outputs_json(capsys, str(PROFILES))
    assert {w["deployed"] for w in by.values()} == {False}
    nightly = by["nightly-embeddings"]
    assert nightly["async"]["queue"] is None
    assert (
        "QueueUrl, QueueArn, DeadLetterQueueUrl, ResultsBucketName, ResultsPrefixArn, ResultsReadPolicyArn"
        in nightly["notes"][0]
    )
    # Kubernetes names are known before the deploy.
    assert by["fraud-scoring"]["sync"]["url"] == "http://fraud-scoring.ml-fraud-scoring.svc.cluster.local"
    assert main(["outputs", str(PROFILES)]) == 0
    assert "nightly-embeddings  serverless  not deployed" in capsys.readouterr().out


def test_an_async_kubernetes_workload_shows_its_http_api_stream_results_and_password_secret(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    profiles = copy_profiles(tmp_path, edit={"nightly-embeddings": ("target: auto", "target: kubernetes")})
    a = outputs_json(capsys, str(profiles))["nightly-embeddings"]["async"]
    caller = a.pop("caller")
    assert "API key" in caller and "`stream`" in caller
    assert "Bearer" in a.pop("auth")
    assert a == {
        "kind": "redis-stream",
        "api": "http://nightly-embeddings.ml-nightly-embeddings.svc.cluster.local",
        "queue": "nightly-embeddings:queue",
        "dead_letters": "nightly-embeddings:queue:dead",
        "results": "nightly-embeddings:queue:results/<caller>/<id>",
        "stream_auth": "Redis AUTH: kubectl -n ml-nightly-embeddings get secret nightly-embeddings-redis "
        "-o jsonpath='{.data.password}' | base64 -d",
        "address": "nightly-embeddings-redis.ml-nightly-embeddings.svc:6379",
    }
    assert main(["outputs", str(profiles)]) == 0
    text = capsys.readouterr().out
    base = "http://nightly-embeddings.ml-nightly-embeddings.svc.cluster.local"
    assert f"  async:   POST {base}/messages" in text and f"result: GET {base}/results/<id>" in text
    assert "inside the namespace: XADD nightly-embeddings:queue" in text
    assert "port-forward svc/nightly-embeddings 8080:80" in text  # async only: the Service is in-cluster too


def test_the_pulumi_program_exports_the_queue_names_outputs_reads(tmp_path):
    profiles = copy_profiles(tmp_path, edit={"nightly-embeddings": ("target: auto", "target: kubernetes")})
    batch = load_all([profiles])
    pulumi.runtime.set_mocks(mocks.Recorder(), project="switchyard", stack="t", preview=False)
    exported = {}

    @pulumi.runtime.test
    def _go():
        built = program.build(batch, CLUSTER, tmp_path / "build")
        exported.update(program.outputs(built, CLUSTER))
        return pulumi.Output.all(*[r.urn for r in built.workloads.values()])

    _go()
    assert exported["nightly-embeddings"]["queue"] == {
        "address": "nightly-embeddings-redis.ml-nightly-embeddings.svc:6379",
        "stream": "nightly-embeddings:queue",
        "result": "nightly-embeddings:queue:results/<caller>/<id>",
        "dead": "nightly-embeddings:queue:dead",
        "passwordSecret": "nightly-embeddings-redis",
    }
    assert "queue" not in exported["fraud-scoring"]  # sync: nothing to queue

    # The plan's fallback (a stack deployed before the queue entry existed) names the same things.
    from stacks.commands.endpoints import _planned_queue

    w = next(w for w in batch.workloads if w.name == "nightly-embeddings")
    assert _planned_queue(w, "ml-nightly-embeddings", CLUSTER) == exported["nightly-embeddings"]["queue"]


def test_a_second_installation_reads_its_own_stacks_outputs(capsys, tmp_path):
    profiles = copy_profiles(tmp_path)
    (profiles / "platform.yaml").write_text("platform:\n  installation: Staging\n  alarms_without_subscribers: true\n")
    cdk = tmp_path / "cdk-outputs.json"
    cdk.write_text(json.dumps({"Staging-nightly-embeddings": CDK_OUTPUTS["Switchyard-nightly-embeddings"]}))
    nightly = outputs_json(capsys, str(profiles), "--cdk-outputs", str(cdk))["nightly-embeddings"]
    assert nightly["deployed"] is True
    assert nightly["async"]["queue"] == CDK_OUTPUTS["Switchyard-nightly-embeddings"]["QueueUrl"]
    assert (
        "cdk deploy Staging-sentiment-api"
        in outputs_json(capsys, str(profiles), "--cdk-outputs", str(cdk))["sentiment-api"]["notes"][0]
    )


def test_a_move_in_progress_is_named_with_the_callers_next_step(capsys, tmp_path, deployed):
    # sentiment-api moved to kubernetes while its stack still runs; nightly-embeddings likewise, with a queue.
    profiles = copy_profiles(
        tmp_path,
        edit={
            "sentiment-api": ("target: auto", "target: kubernetes"),
            "nightly-embeddings": ("target: auto", "target: kubernetes"),
        },
    )
    by = outputs_json(capsys, str(profiles), *deployed)
    assert by["sentiment-api"]["target"] == "kubernetes" and by["sentiment-api"]["deployed"] is False
    assert any("also deployed on serverless" in n for n in by["sentiment-api"]["notes"])
    assert any(
        "drain Switchyard-nightly-embeddings's QueueUrl and DeadLetterQueueUrl" in n
        for n in by["nightly-embeddings"]["notes"]
    )
    # And back: sentiment-api is serverless again while its Kubernetes objects still serve.
    back = tmp_path / "pulumi-back.json"
    service = "http://sentiment-api.ml-sentiment-api.svc.cluster.local"
    back.write_text(
        json.dumps({"workloads": {"sentiment-api": {"namespace": "ml-sentiment-api", "service": service, "url": None}}})
    )
    by = outputs_json(capsys, str(PROFILES), "--pulumi-outputs", str(back))
    assert by["sentiment-api"]["target"] == "serverless"
    assert any("also deployed on kubernetes" in n and service in n for n in by["sentiment-api"]["notes"])


@pytest.mark.parametrize(
    ("content", "words"),
    [("{not json", "not a CDK outputs file (JSON)"), ('{"Switchyard-x": "url"}', "expected {stack: {output: value}}")],
)
def test_a_bad_outputs_file_is_a_clear_error(capsys, tmp_path, content, words):
    bad = tmp_path / "cdk-outputs.json"
    bad.write_text(content)
    assert main(["outputs", str(PROFILES), "--cdk-outputs", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and words in err and "Traceback" not in err
    assert main(["outputs", str(PROFILES), "--cdk-outputs", str(tmp_path / "none.json")]) == 1
    assert "--outputs-file" in capsys.readouterr().err


@pytest.mark.slow
@IN_PROCESS_CDK
def test_the_output_names_are_the_ones_the_cdk_stacks_declare(serverless_assembly, tmp_path):
    """Every mode and endpoint: function URL (sync), queue (async), HTTP API beside a queue (both).

    The shipped workloads are read from the session's app; the `both` one is synthesized alone."""
    from stacks.aws.app import build_app

    profiles = copy_profiles(tmp_path, drop=("llm-chat", "fraud-scoring", "nightly-embeddings"))
    both = (profiles / "sentiment-api.yaml").read_text().replace("name: sentiment-api", "name: sentiment-both")
    both = both.replace("mode: sync", "mode: both\n  endpoint: http_api").replace("timeout_s: 30", "timeout_s: 20")
    (profiles / "sentiment-api.yaml").unlink()
    (profiles / "sentiment-both.yaml").write_text(both)
    batch = load_all([profiles])
    assert not batch.failures, batch.failures
    # cdk-nag off: its packs are checked elsewhere, and the outputs do not depend on them.
    app = build_app(
        batch, profiles_dir=profiles, outdir=str(tmp_path / "cdk.out"), build_root=tmp_path / "build", nag=False
    )
    apps = [(load_all([PROFILES]), serverless_assembly), (batch, app.synth())]
    checked = set()
    for workloads, assembly in apps:
        for w in workloads.by_target("serverless"):
            template = assembly.get_stack_by_name(f"Switchyard-{w.name}").template
            assert sorted(cdk_output_names(w)) == sorted(template["Outputs"]), w.name
            checked.add((w.name, w.profile.sla.mode.value))
    assert checked >= {("sentiment-api", "sync"), ("nightly-embeddings", "async"), ("sentiment-both", "both")}


def test_async_callers_in_client_namespaces_may_reach_the_queue_and_nobody_else(tmp_path):
    from tests.k8s_helpers import find, manifests

    profiles = copy_profiles(tmp_path, edit={"nightly-embeddings": ("target: auto", "target: kubernetes")})

    def admitted(settings) -> list[str]:
        docs = manifests(profiles, tmp_path / "build", settings)["nightly-embeddings"]
        policy = find(docs, "NetworkPolicy", "nightly-embeddings-redis")
        peers = policy["spec"]["ingress"][0]["from"]
        return [
            p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for p in peers
            if "namespaceSelector" in p
        ]

    assert admitted(CLUSTER) == ["keda"]
    assert admitted(CLUSTER.model_copy(update={"client_namespaces": ["batch-jobs"]})) == ["keda", "batch-jobs"]


# Red team: outputs files that are partial, hand-edited or another stack's.


@pytest.mark.parametrize(
    "workloads",
    [
        {"fraud-scoring": "https://fraud-scoring.inference.acme.com"},
        {"fraud-scoring": None},
        {"fraud-scoring": {"namespace": "ml-fraud-scoring", "url": 5}},
        {"fraud-scoring": {"namespace": "ml-fraud-scoring", "queue": "stream"}},
    ],
)
def test_pulumi_outputs_of_another_shape_are_a_clear_error(capsys, tmp_path, workloads):
    bad = tmp_path / "pulumi-outputs.json"
    bad.write_text(json.dumps({"workloads": workloads}))
    assert main(["outputs", str(PROFILES), "--pulumi-outputs", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "fraud-scoring" in err and "Traceback" not in err


@pytest.mark.parametrize("doc", [{"bucketName": "b"}, [1], "workloads"])
def test_pulumi_outputs_of_another_project_are_not_read_as_nothing_deployed(capsys, tmp_path, doc):
    other = tmp_path / "pulumi-outputs.json"
    other.write_text(json.dumps(doc))
    assert main(["outputs", str(PROFILES), "--pulumi-outputs", str(other)]) == 1
    err = capsys.readouterr().err
    assert str(other) in err and "workloads" in err and "pulumi stack output --json" in err


def test_a_cdk_stack_missing_outputs_says_which_and_how_to_get_them(capsys, tmp_path):
    partial = tmp_path / "cdk-outputs.json"
    nightly = {k: v for k, v in CDK_OUTPUTS["Switchyard-nightly-embeddings"].items() if k != "QueueUrl"}
    partial.write_text(json.dumps({"Switchyard-nightly-embeddings": nightly}))
    by = outputs_json(capsys, str(PROFILES), "--cdk-outputs", str(partial))
    notes = " ".join(by["nightly-embeddings"]["notes"])
    assert "QueueUrl" in notes and "--outputs-file" in notes
    assert not any("lacks" in n for n in by["sentiment-api"]["notes"])  # not deployed is not partial


def test_a_cdk_output_that_is_not_text_is_a_clear_error(capsys, tmp_path):
    bad = tmp_path / "cdk-outputs.json"
    bad.write_text(json.dumps({"Switchyard-sentiment-api": {"FunctionUrl": ["https://x"]}}))
    assert main(["outputs", str(PROFILES), "--cdk-outputs", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "FunctionUrl" in err and "Traceback" not in err


def test_a_stack_absent_from_an_outputs_file_names_the_cdk_overwrite_not_only_not_deployed(capsys, tmp_path):
    """`cdk deploy A --outputs-file F` rewrites F with A's outputs only (aws/aws-cdk#16437): a later
    update of one stack drops the others from the file although they are still deployed."""
    only = tmp_path / "cdk-outputs.json"
    only.write_text(json.dumps({"Switchyard-sentiment-api": CDK_OUTPUTS["Switchyard-sentiment-api"]}))
    by = outputs_json(capsys, str(PROFILES), "--cdk-outputs", str(only))
    notes = " ".join(by["nightly-embeddings"]["notes"])
    assert by["nightly-embeddings"]["deployed"] is False
    assert f"not in {only}" in notes and "only the stacks it deployed" in notes
    assert "Switchyard-nightly-embeddings --outputs-file" in notes


def test_one_outputs_file_per_deploy_merges_with_the_later_file_winning(capsys, tmp_path):
    """Stacks deployed one at a time each leave their own outputs file; all of them together say
    where everything is, and a later redeploy of a stack replaces what an older file says of it."""
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps({"Switchyard-sentiment-api": CDK_OUTPUTS["Switchyard-sentiment-api"]}))
    moved = dict(CDK_OUTPUTS["Switchyard-nightly-embeddings"], QueueUrl="https://sqs.us-east-1.amazonaws.com/1/new")
    second.write_text(
        json.dumps({"Switchyard-nightly-embeddings": moved, "Switchyard-sentiment-api": {"FunctionUrl": "https://b/"}})
    )
    args = ("--cdk-outputs", str(first), "--cdk-outputs", str(second))
    by = outputs_json(capsys, str(PROFILES), *args)
    assert by["nightly-embeddings"]["deployed"] and by["nightly-embeddings"]["async"]["queue"].endswith("/1/new")
    assert by["sentiment-api"]["sync"]["url"] == "https://b/"  # the later file's deploy of that stack

    by = outputs_json(capsys, str(PROFILES), "--cdk-outputs", str(first))
    note = " ".join(by["nightly-embeddings"]["notes"])
    assert f"--cdk-outputs {first} --cdk-outputs Switchyard-nightly-embeddings.json" in note


def test_smoke_refuses_a_timeout_that_is_not_a_positive_number(capsys):
    for bad in ("0", "-5", "nan", "soon"):
        with pytest.raises(SystemExit) as exit_:
            main(["smoke", "sentiment-api", str(PROFILES), "--timeout", bad])
        assert exit_.value.code != 0
        err = capsys.readouterr().err
        assert "--timeout" in err and "Traceback" not in err
