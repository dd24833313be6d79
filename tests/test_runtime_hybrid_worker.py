"""The hybrid target's SQS worker, run as its image runs it, against moto's SQS and S3 (server mode).

The same result contract as the Lambda handler: one result per message under
results/<SenderId>/<id>.json (a conditional put), permanent failures answered at once, crashes
redriven to the DLQ with an error result at the last receive; plus what only a long-lived consumer
meets: kill -9 and SIGTERM mid-message, a results bucket that fails, a prediction that never returns.
Queues get visibility timeouts of a few seconds so each test takes a few seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from stacks.packaging import hybrid_worker_spec, render
from tests.packaging_helpers import SLOW_PROFILE, imported_app, workload
from tests.runtime_helpers import SLOW_MODEL, call, free_port, metric, wait_for

boto3 = pytest.importorskip("boto3")
pytestmark = pytest.mark.timeout(60)

MOTO_SENDER = "AIDAIT2UOQQY3AUEKVGXU"  # the SenderId moto reports for every message


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Path:
    """The worker's build context, rendered once: app/ holds what the image's WORKDIR holds."""
    root = tmp_path_factory.mktemp("hybrid")
    return render(workload(SLOW_PROFILE), root / "build", spec=hybrid_worker_spec(workload(SLOW_PROFILE))) / "app"


@dataclass
class Aws:
    endpoint: str
    sqs: object
    s3: object
    queue_url: str
    dlq_url: str
    bucket: str

    def send(self, body: dict | str) -> str:
        text = body if isinstance(body, str) else json.dumps(body)
        return self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=text)["MessageId"]

    def result(self, name: str, caller: str = MOTO_SENDER) -> dict | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=f"results/{caller}/{name}.json")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)

    def results(self) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])]

    def counts(self, url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) as SQS reports them (what KEDA's aws-sqs-queue scaler reads)."""
        a = self.sqs.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def make_aws(endpoint: str, visibility_s: int, max_receives: int) -> Aws:
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    sqs = session.client("sqs", endpoint_url=endpoint)
    s3 = session.client("s3", endpoint_url=endpoint)
    name = f"w{uuid.uuid4().hex[:10]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)})
    queue_url = sqs.create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": str(visibility_s), "RedrivePolicy": redrive}
    )["QueueUrl"]
    s3.create_bucket(Bucket=name)
    return Aws(endpoint, sqs, s3, queue_url, dlq_url, name)


@pytest.fixture
def aws(s3_endpoint) -> Aws:
    return make_aws(s3_endpoint, visibility_s=3, max_receives=3)


@dataclass
class WorkerProcess:
    proc: subprocess.Popen
    health_port: int
    log_path: Path
    log: IO[str]

    def events(self) -> list[dict]:
        self.log.flush()
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def names(self) -> list[str]:
        return [e.get("event") for e in self.events()]

    def ready(self) -> int:
        return call(self.health_port, "/readyz", timeout=2)[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def workers(app, aws, tmp_path):
    started: list[WorkerProcess] = []

    def start(queue: Aws | None = None, **env: str) -> WorkerProcess:
        queue = queue or aws
        port = free_port()
        environ = {
            "PATH": os.environ["PATH"],
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "HOME": "/tmp",
            "WEIGHTS_DIR": str(SLOW_MODEL / "weights"),
            "AWS_ENDPOINT_URL": queue.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "QUEUE_URL": queue.queue_url,
            "RESULTS_URI": f"s3://{queue.bucket}/results/",
            "HEALTH_PORT": str(port),
            "WAIT_S": "1",  # a short long-poll: SIGTERM is noticed within a second while idle
            "BACKOFF_MAX_S": "0.5",
            "RETRY_BASE_S": "0",
            **env,
        }
        log_path = tmp_path / f"worker-{len(started)}.log"
        log = open(log_path, "w+")  # noqa: SIM115 - the worker writes to it until stop()
        proc = subprocess.Popen(
            [sys.executable, "sqs_worker.py"], cwd=app, env=environ, stdout=log, stderr=subprocess.STDOUT
        )
        worker = WorkerProcess(proc, port, log_path, log)
        started.append(worker)
        wait_for(lambda: proc.poll() is not None or worker.ready() == 200)
        assert proc.poll() is None, log_path.read_text()
        return worker

    yield start
    for worker in started:
        worker.stop()


def holding(aws: Aws, worker: WorkerProcess) -> bool:
    return metric(worker.health_port, "switchyard_inflight_messages") == 1 and aws.counts() == (0, 1)


def test_messages_are_worked_and_results_filed_under_the_sender(aws, workers):
    worker = workers()
    aws.send({"id": "a", "inputs": [1, 2]})
    no_id = aws.send({"inputs": [5]})
    aws.send({"id": "bad", "inputs": ["words"]})
    wait_for(lambda: len(aws.results()) == 3)
    assert aws.result("a") == {"id": "a", "outputs": [3.0, 6.0]}  # the slow model's weights scale by 3
    assert aws.result(no_id) == {"id": no_id, "outputs": [15.0]}  # no id: the SQS message id names it
    assert aws.result("bad") == {"id": "bad", "error": "expected a number, got 'words'"}
    wait_for(lambda: aws.counts() == (0, 0))  # deleted once written
    assert aws.counts(aws.dlq_url) == (0, 0)
    assert metric(worker.health_port, "switchyard_queue_messages_total", '{outcome="ok"}') == 2
    assert metric(worker.health_port, "switchyard_queue_messages_total", '{outcome="error"}') == 1
    assert worker.ready() == 200


def test_permanent_failures_get_one_error_result_at_the_first_receive(aws, workers):
    workers()
    aws.send({"id": "nan", "inputs": ["nan"]})
    aws.send({"id": "exit", "inputs": ["exit"]})  # sys.exit() in model code: the input's fault, every time
    aws.send({"id": "interrupt", "inputs": ["interrupt"]})
    garbled = aws.send("{not json")
    aws.send({"id": "bad id!", "inputs": [1]})
    wait_for(lambda: len(aws.results()) == 5)
    assert "NaN or Infinity" in aws.result("nan")["error"]
    assert aws.result("exit")["error"].startswith("SystemExit: model called sys.exit")
    assert aws.result("interrupt")["error"].startswith("KeyboardInterrupt")
    assert aws.result(garbled)["error"].startswith("body is not valid JSON")
    wait_for(lambda: aws.counts() == (0, 0))
    assert aws.counts(aws.dlq_url) == (0, 0)  # answered and deleted, not redriven


def test_a_crashing_message_is_retried_then_dead_lettered_with_one_error_result(aws, workers):
    worker = workers()
    aws.send({"id": "poison", "inputs": ["crash"]})
    aws.send({"id": "fine", "inputs": [1]})
    wait_for(lambda: aws.counts(aws.dlq_url)[0] == 1)  # the fourth receive moved it (maxReceiveCount 3)
    assert aws.result("poison") == {
        "id": "poison",
        "error": "RuntimeError: model crashed on purpose (failed on all 3 receives)",
    }
    # The good message runs beside the poison one: its result may still be on its way to S3 when the
    # poison reaches the DLQ (one run of five under load read it a moment before the PUT landed).
    wait_for(lambda: aws.result("fine") is not None)
    assert aws.result("fine") == {"id": "fine", "outputs": [3.0]}
    assert sorted(aws.results()) == [f"results/{MOTO_SENDER}/fine.json", f"results/{MOTO_SENDER}/poison.json"]
    assert metric(worker.health_port, "switchyard_queue_messages_total", '{outcome="retried"}') == 2
    assert metric(worker.health_port, "switchyard_queue_messages_total", '{outcome="dead_lettered"}') == 1


def test_a_duplicate_id_keeps_the_first_result(aws, workers):
    worker = workers()
    aws.send({"id": "report", "inputs": [1]})
    wait_for(lambda: aws.result("report") is not None)
    aws.send({"id": "report", "inputs": [100]})
    wait_for(lambda: metric(worker.health_port, "switchyard_duplicate_ids_total") == 1)
    assert aws.result("report") == {"id": "report", "outputs": [3.0]}
    wait_for(lambda: aws.counts() == (0, 0))  # the duplicate is acknowledged, not redelivered forever
    assert "duplicate_id" in worker.names()


def test_kill_9_mid_message_loses_nothing(aws, workers, tmp_path):
    gate = tmp_path / "gate"
    first = workers()
    aws.send({"id": "job", "inputs": [f"until:{gate}"]})
    wait_for(lambda: holding(aws, first))
    time.sleep(4)  # past the queue's 3 s visibility timeout: the heartbeat keeps the message ours
    assert aws.counts() == (0, 1)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    second = workers()
    gate.touch()  # the same input now completes
    wait_for(lambda: aws.result("job") is not None, timeout=15)  # back after its visibility timeout
    assert aws.result("job") == {"id": "job", "outputs": ["released"]}
    wait_for(lambda: aws.counts() == (0, 0))
    assert aws.results() == [f"results/{MOTO_SENDER}/job.json"]  # exactly one
    done = [e for e in second.events() if e.get("event") == "message_done"]
    assert [e["id"] for e in done] == ["job"]


def test_sigterm_mid_message_exits_in_time_and_hands_the_message_back(s3_endpoint, workers, tmp_path):
    # A long visibility timeout: the message can only be back at once because the worker handed it back.
    aws = make_aws(s3_endpoint, visibility_s=60, max_receives=3)
    gate = tmp_path / "gate"
    worker = workers(aws, DRAIN_S="1")
    aws.send({"id": "long", "inputs": [f"until:{gate}"]})
    wait_for(lambda: holding(aws, worker))
    started = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 1 + 3  # DRAIN_S plus the worker's own margin
    assert aws.counts() == (1, 0)  # visible again now, not after 60 s
    assert {"stopping", "message_released", "stopped"} <= set(worker.names())
    again = workers(aws)
    gate.touch()
    wait_for(lambda: aws.result("long") is not None, timeout=15)
    assert aws.result("long") == {"id": "long", "outputs": ["released"]}
    wait_for(lambda: aws.counts() == (0, 0))
    assert aws.results() == [f"results/{MOTO_SENDER}/long.json"]
    assert again.proc.poll() is None


def test_sigterm_lets_a_message_in_hand_finish_within_the_drain(aws, workers):
    worker = workers(DRAIN_S="5")
    aws.send({"id": "short", "inputs": ["sleep:1"]})
    wait_for(lambda: holding(aws, worker))
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=10) == 0
    assert aws.result("short") == {"id": "short", "outputs": ["slept"]}
    assert aws.counts() == (0, 0)  # finished and deleted, not handed back


def test_a_failing_results_bucket_turns_readiness_off_and_the_message_waits_in_hand(aws, workers):
    worker = workers()
    aws.s3.delete_bucket(Bucket=aws.bucket)  # every put fails (NoSuchBucket)
    aws.send({"id": "w", "inputs": [1]})
    wait_for(lambda: metric(worker.health_port, "switchyard_result_write_failures_total") >= 2)
    assert worker.ready() == 503
    time.sleep(3.5)  # past the visibility timeout: still ours (the heartbeat), never run twice
    assert aws.counts() == (0, 1)
    aws.s3.create_bucket(Bucket=aws.bucket)
    wait_for(lambda: aws.result("w") is not None)
    assert aws.result("w") == {"id": "w", "outputs": [3.0]}
    wait_for(lambda: worker.ready() == 200)
    wait_for(lambda: aws.counts() == (0, 0))
    # Logged after the delete the line above waits for: waited for in turn, then it must be the only one.
    wait_for(lambda: any(e.get("event") == "message_done" for e in worker.events()))
    assert [e["id"] for e in worker.events() if e.get("event") == "message_done"] == ["w"]


def test_a_prediction_that_never_returns_gets_an_error_result_and_the_worker_restarts(aws, workers):
    worker = workers(TIMEOUT_S="1", STUCK_AFTER_S="1")
    aws.send({"id": "hung", "inputs": ["sleep:30"]})
    assert worker.proc.wait(timeout=15) == 1  # the slot never came back: exit for a restart
    assert aws.result("hung") == {"id": "hung", "error": "prediction took longer than 1 s"}
    assert aws.counts() == (0, 0)  # answered: a timeout is not retried (it would hold another slot)
    assert "fatal" in worker.names()


def test_the_caller_is_the_sqs_sender_id(app):
    """IAM users (AIDA...) and assumed roles (AROA...:session), as the Lambda handler files them."""
    with imported_app(app, "sqs_worker") as module:
        try:
            assert module.caller_of({"Attributes": {"SenderId": "AROAEXAMPLE:worker-7"}}) == "AROAEXAMPLE:worker-7"
            assert module.caller_of({"Attributes": {}}) == "unknown"
            assert module.caller_of({"Attributes": {"SenderId": "../other"}}) == "unknown"  # never a path
        finally:
            sys.modules.pop("sqs_worker", None)
