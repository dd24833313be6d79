"""`switchyard smoke`, for real: the rendered Kubernetes server (HTTP with the API key: POST /predict,
and POST /messages + GET /results/<id> through its queue worker on a real Redis, or an XADD to the
stream as a producer inside the namespace), the AWS async path through SQS and S3 on moto's server
with a consumer that files results like the handler (results/<SenderId>/<id>.json), and a Function
URL call signed with SigV4."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from stacks.cli import main
from tests.conftest import PROFILES
from tests.runtime_helpers import render_server, slow_profile, start_server
from tests.test_runtime_worker import redis_server  # noqa: F401 - the real redis-server fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
KEY = "k3y-for-smoke"


@pytest.fixture
def cluster(tmp_path, redis_server, monkeypatch):  # noqa: F811
    """The slow model on its rendered Kubernetes server (mode both), its queue on a real Redis, and the
    stack outputs `pulumi stack output --json` would give for it, with the addresses a port-forward gives."""
    profile = slow_profile(tmp_path / "p", {"name: slow-model": "name: slow-model\ntarget: kubernetes"})
    app = render_server(profile, tmp_path / "build")
    server = start_server(
        app,
        tmp_path / "server.log",
        API_KEY=KEY,
        QUEUE_URL=f"redis://127.0.0.1:{redis_server.port}/0",
        QUEUE_NAME="slow-model:queue",
        REDIS_PASSWORD="s3cret",
        POD_NAME="slow-model-0",
    )
    outputs = tmp_path / "pulumi-outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "workloads": {
                    "slow-model": {
                        "namespace": "ml-slow-model",
                        "service": "http://slow-model.ml-slow-model.svc.cluster.local",
                        "url": f"http://127.0.0.1:{server.port}",
                        "queue": {
                            "address": f"127.0.0.1:{redis_server.port}",
                            "stream": "slow-model:queue",
                            "result": "slow-model:queue:results/<caller>/<id>",
                            "dead": "slow-model:queue:dead",
                            "passwordSecret": "slow-model-redis",
                        },
                    }
                }
            }
        )
    )
    monkeypatch.setenv("SWITCHYARD_API_KEY", KEY)
    monkeypatch.setenv("SWITCHYARD_REDIS_PASSWORD", "s3cret")
    yield profile.parent, ["--pulumi-outputs", str(outputs)], server.port
    server.stop()


def test_a_deployed_kubernetes_workload_answers_one_request_and_one_queued_message(cluster, capsys, redis_server):  # noqa: F811
    profiles, outputs, port = cluster
    assert main(["smoke", "slow-model", str(profiles), *outputs, "--input", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0].startswith(f"ok   slow-model sync: POST http://127.0.0.1:{port}/predict") and '{"outputs": [' in out[0]
    )
    # Over the HTTP async API, as a caller outside the namespace: filed under the key's name (API_KEY: default).
    base = f"http://127.0.0.1:{port}"
    assert out[1].startswith(f"ok   slow-model async: POST {base}/messages -> 202, GET {base}/results/smoke-")
    message_id = out[1].split("/results/")[1].split(" ")[0]
    assert json.loads(redis_server.client.get(f"slow-model:queue:results/default/{message_id}"))["outputs"]

    # As a producer inside the namespace: XADD with a caller field, the result under that caller.
    redis_url = f"redis://127.0.0.1:{redis_server.port}/0"
    argv = ["smoke", "slow-model", str(profiles), *outputs, "--input", "2", "--only", "async", "--redis-url", redis_url]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok   slow-model async: XADD slow-model:queue -> GET slow-model:queue:results/smoke/smoke-")


def test_a_wrong_api_key_and_an_input_the_model_rejects_fail_the_smoke_test(cluster, capsys, monkeypatch):
    profiles, outputs, port = cluster
    monkeypatch.setenv("SWITCHYARD_API_KEY", "not-the-key")
    assert main(["smoke", "slow-model", str(profiles), *outputs, "--input", "2"]) == 1
    out = capsys.readouterr().out
    assert (
        "FAIL slow-model sync: POST" in out
        and f"FAIL slow-model async: POST http://127.0.0.1:{port}/messages -> 401" in out
    )
    monkeypatch.setenv("SWITCHYARD_API_KEY", KEY)
    # The model raises ValueError on text: 400 over HTTP, an error result on the queue (not retried).
    assert main(["smoke", "slow-model", str(profiles), *outputs, "--input", '"text"', "--timeout", "20"]) == 1
    out = capsys.readouterr().out
    assert "FAIL slow-model sync: POST" in out and "-> 400" in out
    assert f"FAIL slow-model async: result GET http://127.0.0.1:{port}/results/smoke-" in out
    assert "the workload answered with an error" in out


def test_a_queue_nobody_reads_times_out_with_where_to_look(cluster, capsys, redis_server):  # noqa: F811
    profiles, outputs, _ = cluster
    doc = json.loads(Path(outputs[1]).read_text())
    doc["workloads"]["slow-model"]["queue"]["stream"] = "nobody:queue"  # a stream no worker reads
    Path(outputs[1]).write_text(json.dumps(doc))
    redis_url = f"redis://127.0.0.1:{redis_server.port}/0"
    argv = ["smoke", "slow-model", str(profiles), *outputs, "--input", "2", "--only", "async", "--timeout", "1"]
    assert main([*argv, "--redis-url", redis_url]) == 1
    out = capsys.readouterr().out
    assert "XADD nobody:queue smoke-" in out and "no result at slow-model:queue:results/smoke/smoke-" in out
    assert "kubectl -n ml-slow-model logs deploy/slow-model" in out and "XRANGE slow-model:queue:dead - +" in out


def test_an_unreachable_queue_is_an_error_with_the_port_forward_hint(cluster, capsys):
    profiles, outputs, _ = cluster
    code = main(
        [
            "smoke",
            "slow-model",
            str(profiles),
            *outputs,
            "--input",
            "2",
            "--only",
            "async",
            "--redis-url",
            "redis://127.0.0.1:1/0",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "redis://127.0.0.1:1/0: ConnectionError" in err and "port-forward svc/slow-model-redis 6379" in err


@pytest.fixture
def aws(monkeypatch, s3_endpoint, tmp_path):
    """SQS and S3 on moto's server, the queue and results bucket a deploy would create, and the CDK outputs file."""
    boto3 = pytest.importorskip("boto3")
    for key, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    # Real SQS reports the sender's aws:userid as SenderId, which is STS's UserId for the same
    # credentials; moto reports a fixed id instead, so it is made to agree.
    monkeypatch.setattr("moto.sqs.models.DEFAULT_SENDER_ID", boto3.client("sts").get_caller_identity()["UserId"])
    queue = sqs.create_queue(QueueName=f"nightly-{tmp_path.name[-20:]}")["QueueUrl"]
    dlq = sqs.create_queue(QueueName=f"nightly-dlq-{tmp_path.name[-16:]}")["QueueUrl"]
    bucket = f"results-{abs(hash(tmp_path)) % 10**8}"
    s3.create_bucket(Bucket=bucket)
    outputs = tmp_path / "cdk-outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "Switchyard-nightly-embeddings": {
                    "QueueUrl": queue,
                    "DeadLetterQueueUrl": dlq,
                    "ResultsBucketName": bucket,
                    "QueueArn": "arn:aws:sqs:us-east-1:123456789012:q",
                    "ResultsPrefixArn": f"arn:aws:s3:::{bucket}/results/*",
                    "ResultsReadPolicyArn": "arn:aws:iam::123456789012:policy/ResultsReader",
                }
            }
        )
    )
    return sqs, s3, queue, bucket, ["--cdk-outputs", str(outputs)]


def consumer(sqs, s3, queue: str, bucket: str, answer) -> threading.Thread:
    """Works one message as the Lambda handler does: results/<SenderId>/<id>.json, then the delete."""

    def work():
        for _ in range(30):
            received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, MessageSystemAttributeNames=["SenderId"])
            for m in received.get("Messages", []):
                body, sender = json.loads(m["Body"]), m["Attributes"]["SenderId"]
                key = f"results/{sender}/{body['id']}.json"
                s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(answer(body)))
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
                return

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def boto3_sts_user_id() -> str:
    import boto3

    return boto3.client("sts").get_caller_identity()["UserId"]


def test_the_aws_async_path_sends_to_sqs_and_reads_the_result_from_s3(aws, capsys):
    sqs, s3, queue, bucket, outputs = aws
    seen = []

    def answer(body):
        seen.append(body)
        return {"id": body["id"], "outputs": [[0.1, 0.2]]}

    worker = consumer(sqs, s3, queue, bucket, answer)
    assert main(["smoke", "nightly-embeddings", str(PROFILES), *outputs, "--input", '"a document"']) == 0
    worker.join(5)
    assert seen and seen[0]["inputs"] == ["a document"] and seen[0]["id"].startswith("smoke-")
    out = capsys.readouterr().out
    sender = boto3_sts_user_id()
    assert f"ok   nightly-embeddings async: SQS {queue} -> s3://{bucket}/results/{sender}/{seen[0]['id']}.json" in out


def test_an_error_result_or_no_result_fails_with_the_dead_letter_queue_to_check(aws, capsys):
    sqs, s3, queue, bucket, outputs = aws
    consumer(sqs, s3, queue, bucket, lambda body: {"id": body["id"], "error": "inputs[0]: expected text"})
    assert main(["smoke", "nightly-embeddings", str(PROFILES), *outputs, "--input", "1"]) == 1
    assert "the workload answered with an error: inputs[0]: expected text" in capsys.readouterr().out
    assert main(["smoke", "nightly-embeddings", str(PROFILES), *outputs, "--input", "1", "--timeout", "1"]) == 1
    out = capsys.readouterr().out
    assert "no result at" in out and "aws sqs get-queue-attributes --queue-url" in out and "nightly-dlq-" in out


def test_a_function_url_call_is_signed_for_lambda_in_the_platform_region(monkeypatch, tmp_path, capsys):
    pytest.importorskip("botocore")
    seen: dict[str, str] = {}

    class FunctionUrl(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.update({k.lower(): v for k, v in self.headers.items()})
            seen["body"] = self.rfile.read(int(self.headers["content-length"])).decode()
            reply = json.dumps({"outputs": [0.93]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), FunctionUrl)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    outputs = tmp_path / "cdk-outputs.json"
    url = f"http://127.0.0.1:{server.server_port}/"
    outputs.write_text(json.dumps({"Switchyard-sentiment-api": {"FunctionUrl": url, "AliasArn": "arn:...:live"}}))
    try:
        code = main(["smoke", "sentiment-api", str(PROFILES), "--cdk-outputs", str(outputs), "--input", '"great"'])
    finally:
        server.shutdown()
    assert code == 0, capsys.readouterr()
    assert seen["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/lambda/aws4_request" in seen["authorization"]
    assert "x-amz-date" in seen and json.loads(seen["body"]) == {"inputs": ["great"]}


def test_without_an_input_for_a_custom_model_smoke_says_what_to_pass(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["smoke", "sentiment-api", str(PROFILES)]) == 1
    assert "pass --input with one input the model accepts" in capsys.readouterr().err
    assert main(["smoke", "no-such", str(PROFILES), "--input", "1"]) == 1
    assert "no workload named 'no-such'" in capsys.readouterr().err
