"""`switchyard outputs` and `switchyard smoke` for the managed-instances and hybrid targets: the output
names are the ones their synthesized stacks declare, a deployed front is shown from the CDK outputs
file (with whether the cluster's worker consumes its queue), and the smoke test's SQS + S3 path runs
against a hybrid front on moto's server with a consumer that files results as the cluster worker does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stacks.cli import main
from stacks.commands.endpoints import cdk_output_names, stack_name
from stacks.profile import Target
from stacks.workloads import load_all
from tests.conftest import FIXTURES, IN_PROCESS_CDK
from tests.test_smoke import boto3_sts_user_id, consumer

HYBRID = "image-tagging"
LMI = "steady-scoring"
ACCOUNT = "123456789012"


def profiles_of_both(dest: Path) -> Path:
    """The hybrid fixture, and the steady CPU one twice: mode both over an HTTP API, and async only."""
    profiles = dest / "profiles"
    shutil.copytree(FIXTURES / "hybrid", profiles)
    shutil.copytree(FIXTURES / "steady_cpu" / "models", profiles / "models", dirs_exist_ok=True)
    steady = (FIXTURES / "steady_cpu" / f"{LMI}.yaml").read_text(encoding="utf-8")
    (profiles / f"{LMI}.yaml").write_text(steady, encoding="utf-8")
    queued = steady.replace(f"name: {LMI}", "name: steady-queue").replace(
        "  mode: both\n  endpoint: http_api\n", "  mode: async\n"
    )
    assert queued != steady
    (profiles / "steady-queue.yaml").write_text(queued, encoding="utf-8")
    return profiles


@pytest.mark.slow
@pytest.mark.timeout(300)
@IN_PROCESS_CDK
def test_the_output_names_are_the_ones_the_synthesized_stacks_declare(tmp_path):
    from stacks.aws.app import build_app

    profiles = profiles_of_both(tmp_path)
    batch = load_all([profiles])
    assert not batch.failures, [str(f.error) for f in batch.failures]
    by = {w.name: w for w in batch.workloads}
    assert by[HYBRID].target is Target.hybrid
    assert by[LMI].target is by["steady-queue"].target is Target.managed_instances
    # cdk-nag off: its packs are checked elsewhere, and the outputs do not depend on them.
    app = build_app(
        batch, profiles_dir=profiles, outdir=str(tmp_path / "cdk.out"), build_root=tmp_path / "build", nag=False
    )
    assembly = app.synth()
    for w in batch.workloads:
        stack = stack_name(w)
        assert stack == (
            f"Switchyard-Front-{w.name}" if w.target is Target.hybrid else f"Switchyard-Instances-{w.name}"
        )
        template = json.loads(Path(assembly.get_stack_by_name(stack).template_full_path).read_text())
        assert sorted(cdk_output_names(w)) == sorted(template["Outputs"]), w.name


def front_outputs(queue: str, dlq: str, bucket: str) -> dict[str, str]:
    return {
        "QueueUrl": queue,
        "QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{HYBRID}",
        "DeadLetterQueueUrl": dlq,
        "Region": "us-east-1",
        "ResultsBucketName": bucket,
        "QueueSendPolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/Switchyard-Front-{HYBRID}-QueueSender-A1",
        "ResultsReadPolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/Switchyard-Front-{HYBRID}-ResultsReader-B2",
        "WorkerUserName": f"Switchyard-Front-{HYBRID}-WorkerUser-C3",
        "ScalerUserName": f"Switchyard-Front-{HYBRID}-ScalerUser-D4",
    }


LMI_OUTPUTS = {
    "FunctionName": "Switchyard-steady-scoring-ServingFunction-AbC",
    "FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:Switchyard-steady-scoring-ServingFunction-AbC",
    "CapacityProviderArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:capacity-provider:steady-scoring-cp",
    "QueueUrl": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/steady-scoring-Queue",
    "QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:steady-scoring-Queue",
    "DeadLetterQueueUrl": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/steady-scoring-Dlq",
    "ResultsBucketName": "switchyard-steady-scoring-results-1a2b",
    "ResultsPrefixArn": "arn:aws:s3:::switchyard-steady-scoring-results-1a2b/results/*",
    "ResultsReadPolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/Switchyard-steady-scoring-ResultsReader-Q1",
    "HttpApiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com/",
    "HttpApiInvokeArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/$default/*",
}


def outputs_json(capsys, *args: str) -> dict[str, dict]:
    code = main(["outputs", "--json", *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return {w["name"]: w for w in json.loads(captured.out)["workloads"]}


def test_deployed_managed_instances_and_hybrid_fronts_show_their_endpoints(capsys, tmp_path):
    profiles = profiles_of_both(tmp_path)
    queue = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/Switchyard-Front-{HYBRID}-Queue"
    front = front_outputs(queue, queue + "-Dlq", "switchyard-front-image-tagging-results-9z")
    cdk = tmp_path / "cdk-outputs.json"
    cdk.write_text(json.dumps({f"Switchyard-Instances-{LMI}": LMI_OUTPUTS, f"Switchyard-Front-{HYBRID}": front}))
    worker = {"workloads": {HYBRID: {"namespace": f"ml-{HYBRID}", "queue": queue}}}
    pulumi_file = tmp_path / "pulumi-outputs.json"
    pulumi_file.write_text(json.dumps(worker))

    by = outputs_json(capsys, str(profiles), "--cdk-outputs", str(cdk), "--pulumi-outputs", str(pulumi_file))
    lmi = by[LMI]
    assert lmi["target"] == "managed-instances" and lmi["deployed"] is True
    assert lmi["sync"]["url"] == LMI_OUTPUTS["HttpApiUrl"] and LMI_OUTPUTS["HttpApiInvokeArn"] in lmi["sync"]["auth"]
    assert lmi["async"]["queue"] == LMI_OUTPUTS["QueueUrl"] and lmi["async"]["dead_letters"].endswith("-Dlq")
    assert lmi["async"]["results"] == "s3://switchyard-steady-scoring-results-1a2b/results/<caller>/<id>.json"
    assert any(LMI_OUTPUTS["CapacityProviderArn"] in n for n in lmi["notes"])
    assert not any("lacks" in n for n in lmi["notes"])

    h = by[HYBRID]
    assert h["target"] == "hybrid" and h["deployed"] is True and h["sync"] is None
    assert h["async"]["queue"] == queue and h["async"]["dead_letters"] == queue + "-Dlq"
    assert h["async"]["results"] == "s3://switchyard-front-image-tagging-results-9z/results/<caller>/<id>.json"
    assert front["QueueSendPolicyArn"] in h["async"]["auth"] and front["ResultsReadPolicyArn"] in h["async"]["auth"]
    assert "SenderId" in h["async"]["caller"]
    assert h["notes"] == [f"consumed by the worker in namespace ml-{HYBRID} on the cluster (KEDA scales it)"]

    # Day two: the front was redeployed with a new queue while the worker still drains the old one.
    cdk.write_text(json.dumps({f"Switchyard-Front-{HYBRID}": {**front, "QueueUrl": queue + "-v2"}}))
    h = outputs_json(capsys, str(profiles), "--cdk-outputs", str(cdk), "--pulumi-outputs", str(pulumi_file))[HYBRID]
    assert any(
        f"consumes {queue}, not {queue}-v2" in n and "hybridFronts.image-tagging.queueUrl" in n for n in h["notes"]
    )


def test_not_deployed_fronts_name_the_stack_and_the_outputs_to_come(capsys, tmp_path, monkeypatch):
    profiles = profiles_of_both(tmp_path)
    monkeypatch.chdir(tmp_path)  # no cdk-outputs.json here: nothing deployed
    by = outputs_json(capsys, str(profiles))
    h, lmi = by[HYBRID], by[LMI]
    assert h["deployed"] is False and h["async"]["queue"] is None
    assert any(f"cdk deploy Switchyard-Front-{HYBRID}" in n and "WorkerUserName" in n for n in h["notes"])
    assert any("the cluster's worker is not checked" in n for n in h["notes"])
    no_worker = tmp_path / "pulumi-outputs.json"
    no_worker.write_text(json.dumps({"workloads": {}}))
    h = outputs_json(capsys, str(profiles), "--pulumi-outputs", str(no_worker))[HYBRID]
    assert any(f"no worker in {no_worker}" in n and f"hybridFronts.{HYBRID}" in n for n in h["notes"])
    assert any(f"cdk deploy Switchyard-Instances-{LMI}" in n and "CapacityProviderArn" in n for n in lmi["notes"])
    # An outputs file without the front: the command that writes it back.
    by = outputs_json(capsys, str(profiles), "--cdk-outputs", str(_empty(tmp_path)))
    assert any(f"npx cdk deploy Switchyard-Front-{HYBRID} --outputs-file" in n for n in by[HYBRID]["notes"])
    r = main(["outputs", str(profiles)])
    text = capsys.readouterr().out
    assert r == 0 and f"{HYBRID}  hybrid  not deployed" in text and "<QueueUrl once deployed>" in text


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty-outputs.json"
    path.write_text("{}")
    return path


def test_a_hybrid_front_left_behind_by_a_move_is_named(capsys, tmp_path):
    profiles = profiles_of_both(tmp_path)
    path = profiles / f"{HYBRID}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("target: hybrid", "target: kubernetes"), encoding="utf-8")
    queue = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q"
    cdk = tmp_path / "cdk-outputs.json"
    cdk.write_text(json.dumps({f"Switchyard-Front-{HYBRID}": front_outputs(queue, queue + "-Dlq", "b")}))
    by = outputs_json(capsys, str(profiles), "--cdk-outputs", str(cdk))
    assert by[HYBRID]["target"] == "kubernetes"
    assert any(
        f"also deployed on hybrid ({cdk})" in n and f"drain Switchyard-Front-{HYBRID}'s QueueUrl" in n
        for n in by[HYBRID]["notes"]
    )


def test_a_serverless_stack_left_behind_by_a_move_to_managed_instances_is_named(capsys, tmp_path):
    """Each AWS target has its own stack: during a move the old serverless stack is still deployed,
    and `outputs` says so and what to drain (the runbook deletes it last, never the new one)."""
    profiles = profiles_of_both(tmp_path)
    cdk = tmp_path / "cdk-outputs.json"
    old = {k: v.replace("steady-scoring-", "serverless-") for k, v in LMI_OUTPUTS.items() if k != "CapacityProviderArn"}
    cdk.write_text(json.dumps({f"Switchyard-{LMI}": old, f"Switchyard-Instances-{LMI}": LMI_OUTPUTS}))
    lmi = outputs_json(capsys, str(profiles), "--cdk-outputs", str(cdk))[LMI]
    assert lmi["target"] == "managed-instances" and lmi["async"]["queue"] == LMI_OUTPUTS["QueueUrl"]
    assert any(
        f"also deployed on serverless ({cdk})" in n and f"drain Switchyard-{LMI}'s QueueUrl" in n for n in lmi["notes"]
    )


@pytest.fixture
def hybrid_front(monkeypatch, s3_endpoint, tmp_path):
    """A hybrid front on moto's server (queue, DLQ, results bucket) and its CDK outputs file."""
    boto3 = pytest.importorskip("boto3")
    for key, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "eu-west-1",  # the front's Region output is what the smoke test uses
    }.items():
        monkeypatch.setenv(key, value)
    sqs, s3 = boto3.client("sqs", region_name="us-east-1"), boto3.client("s3", region_name="us-east-1")
    # Real SQS reports the sender's aws:userid as SenderId (STS's UserId); moto is made to agree.
    monkeypatch.setattr("moto.sqs.models.DEFAULT_SENDER_ID", boto3_sts_user_id())
    queue = sqs.create_queue(QueueName=f"front-{tmp_path.name[-20:]}")["QueueUrl"]
    dlq = sqs.create_queue(QueueName=f"front-dlq-{tmp_path.name[-16:]}")["QueueUrl"]
    bucket = f"front-results-{abs(hash(tmp_path)) % 10**8}"
    s3.create_bucket(Bucket=bucket)
    outputs = tmp_path / "cdk-outputs.json"
    outputs.write_text(json.dumps({f"Switchyard-Front-{HYBRID}": front_outputs(queue, dlq, bucket)}))
    return sqs, s3, queue, bucket, profiles_of_both(tmp_path), ["--cdk-outputs", str(outputs)]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_smoke_sends_to_the_hybrid_front_and_reads_what_the_worker_filed(hybrid_front, capsys):
    sqs, s3, queue, bucket, profiles, outputs = hybrid_front
    seen = []

    def answer(body):
        seen.append(body)
        return {"id": body["id"], "outputs": [["cat", 0.97]]}

    worker = consumer(sqs, s3, queue, bucket, answer)
    code = main(["smoke", HYBRID, str(profiles), *outputs, "--input", '"s3://images/cat.jpg"'])
    worker.join(5)
    out = capsys.readouterr().out
    assert code == 0, out
    assert seen and seen[0]["inputs"] == ["s3://images/cat.jpg"] and seen[0]["id"].startswith("smoke-")
    key = f"results/{boto3_sts_user_id()}/{seen[0]['id']}.json"
    assert f"ok   {HYBRID} async: SQS {queue} -> s3://{bucket}/{key}" in out


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_hybrid_smoke_nobody_answers_points_at_the_cluster_worker(hybrid_front, capsys):
    _, _, _, _, profiles, outputs = hybrid_front
    code = main(["smoke", HYBRID, str(profiles), *outputs, "--input", "1", "--timeout", "1"])
    out = capsys.readouterr().out
    assert code == 1 and "no result at" in out
    assert f"kubectl -n ml-{HYBRID} logs deploy/{HYBRID}" in out and "front-dlq-" in out
