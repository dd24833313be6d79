"""The async result contract of the rendered Lambda handler, under Powertools, against moto's S3 and SQS.

One result per message under results/<caller>/<id>.json, written once (a conditional put), an
error result for every permanent failure (and for a crash at its last receive), failed writes
logged, counted and retried, unstarted messages handed back at once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pytest

from stacks.packaging import render
from stacks.profile import Target
from stacks.targets.serverless.delivery import MAX_RECEIVE_COUNT
from tests.packaging_helpers import SLOW_PROFILE, imported_app, workload
from tests.test_runtime_lambda import CTX, SENDER, LambdaContext, emf_metrics, sqs_record, stdout_json, watch_stdout

OTHER = "AIDAOTHERCALLERUSER99"  # an IAM user's SenderId


@dataclass
class Bucket:
    """The results bucket on the moto server (one per test: the server outlives them)."""

    s3: object
    name: str

    def result(self, caller: str, name: str) -> dict | None:
        try:
            body = self.s3.get_object(Bucket=self.name, Key=f"results/{caller}/{name}.json")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)


@pytest.fixture
def s3_handler(tmp_path, monkeypatch, s3_admin):
    bucket = Bucket(s3_admin, f"results-{uuid.uuid4().hex[:12]}")
    s3_admin.create_bucket(Bucket=bucket.name)
    ctx = render(workload(SLOW_PROFILE), tmp_path / "build", Target.serverless)
    monkeypatch.setenv("WEIGHTS_DIR", str(SLOW_PROFILE.parent / "weights"))
    monkeypatch.setenv("RESULTS_URI", f"s3://{bucket.name}/results/")
    monkeypatch.setenv("MAX_RECEIVE_COUNT", str(MAX_RECEIVE_COUNT))
    with imported_app(ctx / "app", "handler") as handler:
        yield handler, bucket


def failed(reply: dict) -> set[str]:
    return {f["itemIdentifier"] for f in reply["batchItemFailures"]}


def test_permanent_failures_get_an_error_result_at_once_and_are_acknowledged(s3_handler, capsys):
    handler, b = s3_handler
    watch_stdout(handler, capsys)
    big = json.dumps({"id": "big", "inputs": ["x" * 300_000]})  # over the 256 KiB message limit
    event = {
        "Records": [
            sqs_record("m-nan", json.dumps({"id": "nan", "inputs": ["nan"]})),
            sqs_record("m-bad", json.dumps({"id": "bad", "inputs": ["words"]})),
            sqs_record("m-big", big),
        ]
    }
    assert handler.handler(event, CTX) == {"batchItemFailures": []}
    assert "NaN or Infinity" in b.result(SENDER, "nan")["error"]
    assert b.result(SENDER, "bad") == {"id": "bad", "error": "expected a number, got 'words'"}
    assert b.result(SENDER, "m-big")["error"].startswith("message is 300")  # no id is parsed from it
    assert emf_metrics(stdout_json(capsys))["BadMessages"] == 2


@pytest.mark.parametrize("poison", ["crash", "exit", "interrupt"])
def test_a_crash_is_retried_then_gets_one_error_result_at_its_last_receive(s3_handler, poison):
    """sys.exit() and KeyboardInterrupt in model code are model crashes, not the end of the batch:
    the good record beside them is finished, and they come back until their last receive."""
    handler, b = s3_handler
    body = json.dumps({"id": "job", "inputs": [poison]})
    for receive in range(1, MAX_RECEIVE_COUNT):
        event = {"Records": [sqs_record("m-p", body, receives=receive), sqs_record(f"ok-{receive}", '{"inputs": [1]}')]}
        assert failed(handler.handler(event, CTX)) == {"m-p"}
        assert b.result(SENDER, "job") is None  # may still succeed: no result yet
        assert b.result(SENDER, f"ok-{receive}") == {"id": f"ok-{receive}", "outputs": [3.0]}
    last = {"Records": [sqs_record("m-p", body, receives=MAX_RECEIVE_COUNT)]}
    assert failed(handler.handler(last, CTX)) == {"m-p"}  # still dead-lettered, for inspection and replay
    error = b.result(SENDER, "job")["error"]
    assert f"failed on all {MAX_RECEIVE_COUNT} receives" in error
    # A replay of the dead letter (or one more delivery) never writes a second result.
    handler.handler(last, CTX)
    assert b.result(SENDER, "job")["error"] == error


def test_results_are_kept_per_caller_and_an_id_cannot_be_overwritten(s3_handler, capsys):
    handler, b = s3_handler
    watch_stdout(handler, capsys)
    mine = sqs_record("m-1", json.dumps({"id": "report", "inputs": [1]}))
    theirs = sqs_record("m-2", json.dumps({"id": "report", "inputs": [2]}), sender=OTHER)
    assert handler.handler({"Records": [mine, theirs]}, CTX) == {"batchItemFailures": []}
    assert b.result(SENDER, "report") == {"id": "report", "outputs": [3.0]}
    assert b.result(OTHER, "report") == {"id": "report", "outputs": [6.0]}
    # The same caller reusing the id: the first result stands, the second is logged and counted.
    again = sqs_record("m-3", json.dumps({"id": "report", "inputs": [100]}))
    assert handler.handler({"Records": [again]}, CTX) == {"batchItemFailures": []}
    assert b.result(SENDER, "report") == {"id": "report", "outputs": [3.0]}
    lines = stdout_json(capsys)
    assert emf_metrics(lines)["DuplicateIds"] == 1
    assert any(line.get("message", "").startswith("duplicate id") for line in lines)


def test_a_failed_result_write_is_logged_counted_and_retried(s3_handler, capsys):
    handler, b = s3_handler
    watch_stdout(handler, capsys)
    b.s3.delete_bucket(Bucket=b.name)  # every put fails (NoSuchBucket)
    event = {"Records": [sqs_record("m-w", json.dumps({"id": "w", "inputs": [1]}))]}
    assert failed(handler.handler(event, CTX)) == {"m-w"}  # SQS delivers it again
    lines = stdout_json(capsys)
    assert emf_metrics(lines)["ResultWriteFailures"] == 1  # what the ResultWriteFailures alarm watches
    (logged,) = [line for line in lines if line.get("message") == "result write failed"]
    assert logged["result_id"] == "w" and "NoSuchBucket" in logged["error"]
    b.s3.create_bucket(Bucket=b.name)
    assert handler.handler(event, CTX) == {"batchItemFailures": []}
    assert b.result(SENDER, "w") == {"id": "w", "outputs": [3.0]}


@dataclass
class ShortContext(LambdaContext):
    """An invocation with less time left than the p99 (1 s): only the first message, and those at their last receive, start."""

    def get_remaining_time_in_millis(self) -> int:
        return 900


def test_unstarted_messages_are_handed_back_at_once_and_the_last_receive_is_never_deferred(s3_handler, monkeypatch):
    """SQS counts a receive when it delivers, started or not: a deferred message comes back visible
    at once, the most-received go first, and one at its last receive is worked rather than deferred
    (handed back, SQS would dead-letter it without ever running it)."""
    handler, b = s3_handler
    sqs = handler.boto3.client("sqs")
    url = sqs.create_queue(QueueName=b.name, Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
    monkeypatch.setattr(handler, "QUEUE_URL", url)
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": f"j{i}", "inputs": [i]}))
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert len(received) == 3
    records = []
    for n, m in enumerate(sorted(received, key=lambda m: json.loads(m["Body"])["id"])):
        record = sqs_record(m["MessageId"], m["Body"], receives=[1, MAX_RECEIVE_COUNT, MAX_RECEIVE_COUNT][n])
        record["receiptHandle"] = m["ReceiptHandle"]
        records.append(record)
    reply = handler.handler({"Records": records}, ShortContext())
    # j1 and j2 are at their last receive: worked first, both, though the time is short; j0 handed back.
    assert b.result(SENDER, "j1") == {"id": "j1", "outputs": [3.0]}
    assert b.result(SENDER, "j2") == {"id": "j2", "outputs": [6.0]}
    assert failed(reply) == {records[0]["messageId"]} and b.result(SENDER, "j0") is None
    back = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]  # not after 600 s: now
    assert [json.loads(m["Body"])["id"] for m in back] == ["j0"]
