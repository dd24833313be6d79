"""Attacks on the serving runtime that got through after issue 20, each against the real component:
a Secret edited by hand, a body trickled into the async endpoints, an IAM caller whose session name
is an e-mail address, a Lambda whose model hangs until the function's timeout."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid

import pytest

from stacks.errors import SwitchyardError
from stacks.k8s import api_keys
from stacks.packaging import render
from stacks.profile import Target
from stacks.targets.serverless.delivery import MAX_RECEIVE_COUNT
from tests.packaging_helpers import SLOW_PROFILE, workload
from tests.runtime_helpers import SLOW_MODEL, free_port, render_server, slow_profile, start_server, status_of
from tests.test_runtime_lambda import CTX, SENDER, LambdaContext, sqs_record
from tests.test_runtime_lambda_contract import Bucket, failed, s3_handler  # noqa: F401 - the fixture
from tests.test_runtime_worker import QUEUE, redis_server  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]
KEY = "k" * 40


# ------------------------------------------------------------------ API keys reaching the server


@pytest.fixture(scope="module")
def queue_app(tmp_path_factory):
    directory = tmp_path_factory.mktemp("redteam")
    return render_server(
        slow_profile(directory / "p", {"timeout_s: 30": "timeout_s: 2", "mode: both": "mode: async"}), directory / "b"
    )


@pytest.mark.parametrize(
    ("api_keys", "problem"),
    [
        ("", "is set but is not a JSON object"),  # the Secret's entry emptied by hand: not "no authentication"
        ("w" * 40, "is set but is not a JSON object"),  # a bare key where the map belongs: no traceback
        ("{}", "is set but is not a JSON object"),
        ('{"web": "k3y"}', "gives 'web' an empty, short or padded key: at least 32 characters"),
        (json.dumps({"web": " " * 40}), "gives 'web' an empty, short or padded key"),
        (json.dumps({"stream": KEY}), "names the caller 'stream'"),  # would read the namespace producers' results
        (json.dumps({"a/b": KEY}), "names the caller 'a/b'"),
        (json.dumps({"web": KEY, "batch": KEY}), "gives two callers the same key"),
    ],
)
def test_a_secret_edited_by_hand_stops_the_server_with_the_rule_it_broke(queue_app, api_keys, problem):
    env = {"PATH": "/usr/bin:/bin", "WEIGHTS_DIR": str(SLOW_MODEL / "weights"), "API_KEYS": api_keys}
    env.update(PORT=str(free_port()), HEALTH_PORT=str(free_port()))
    done = subprocess.run(
        [sys.executable, "server.py"], cwd=queue_app, env=env, capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    assert line["event"] == "fatal" and line["reason"].startswith("API_KEYS ") and problem in line["reason"]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"w": {"stream": KEY}}, "caller 'stream' is not a name"),
        ({"w": {"web": KEY, "batch": KEY}}, "gives two callers the same key"),
    ],
)
def test_pulumi_up_refuses_the_caller_stream_and_a_key_shared_by_two_callers(overrides, message):
    with pytest.raises(SwitchyardError, match=message):
        api_keys.parse_overrides(overrides)


# ------------------------------------------------------------------ the async endpoints' connections


@pytest.fixture
def queue_server(tmp_path, queue_app, redis_server):  # noqa: F811
    env = {
        "QUEUE_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "QUEUE_NAME": QUEUE,
        "REDIS_PASSWORD": "s3cret",
        "POD_NAME": "pod-a",
        "API_KEYS": json.dumps({"web": KEY}),
        "BODY_TIMEOUT_S": "1",
    }
    server = start_server(queue_app, tmp_path / "server.log", **env)
    yield server
    server.stop()


def _trickle(port: int, head: bytes, within: float = 5) -> tuple[bytes, float]:
    """Announce a 100-byte body and send a byte of it every 0.3 s; return what the server answered
    and when it closed the connection (within + 1 if it never did)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head + f"Authorization: Bearer {KEY}\r\nContent-Length: 100\r\n\r\n".encode())
        s.settimeout(0.3)
        started, reply = time.monotonic(), b""
        while time.monotonic() - started < within:
            try:
                s.sendall(b" ")
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not chunk:
                return reply, time.monotonic() - started
            reply += chunk
    return reply, within + 1


@pytest.mark.parametrize(
    ("head", "code", "by"),
    [
        (b"POST /messages HTTP/1.1\r\nHost: x\r\n", 408, 1 + 1.5),  # BODY_TIMEOUT_S, then the lingering close
        (b"GET /results/job-1 HTTP/1.1\r\nHost: x\r\n", 404, 1.5),  # answered without the body: closed
        (b"GET /results/bad!id HTTP/1.1\r\nHost: x\r\n", 400, 1.5),
        (b"GET /messages HTTP/1.1\r\nHost: x\r\n", 405, 1.5),
    ],
)
def test_a_body_trickled_into_the_async_endpoints_never_holds_the_connection(queue_server, head, code, by):
    reply, closed_after = _trickle(queue_server.port, head)
    assert status_of(reply) == code and b"connection: close" in reply.lower()
    assert closed_after < by, closed_after


def test_a_message_sent_at_once_is_still_taken_on_a_kept_connection(queue_server):
    body = json.dumps({"id": "kept", "inputs": [1]}).encode()
    with socket.create_connection(("127.0.0.1", queue_server.port), timeout=5) as s:
        head = (
            f"POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        s.sendall(head.encode() + body)
        reply = s.recv(65536)
    assert status_of(reply) == 202 and b"connection: close" not in reply.lower()


# ------------------------------------------------------------------ Lambda


def test_a_caller_whose_session_name_is_an_email_gets_its_result_under_its_own_sender_id(s3_handler):  # noqa: F811
    """SSO and many CI systems name the role session after a user: AROA...:alice@example.com. That
    is aws:userid, the prefix the caller's grant reads; the result must be there, not an error."""
    handler, bucket = s3_handler
    for sender in ("AROAEXAMPLEROLEID1234:alice@example.com", "AROAEXAMPLEROLEID1234:ci+deploy=prod,eu"):
        record = sqs_record(f"m-{len(sender)}", json.dumps({"id": "mine", "inputs": [1]}), sender=sender)
        assert handler.handler({"Records": [record]}, CTX) == {"batchItemFailures": []}
        assert bucket.result(sender, "mine") == {"id": "mine", "outputs": [3.0]}


DRIVER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
deadline = time.monotonic() + float(sys.argv[2])
import handler

class Context:
    function_name = "Switchyard-test-Serving"
    function_version = "7"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:Switchyard-test-Serving:live"
    memory_limit_in_mb = 2048
    aws_request_id = "hung-invocation"
    log_group_name = "/aws/lambda/Switchyard-test-Serving"
    log_stream_name = "2026/12/03/[7]abcdef"

    def get_remaining_time_in_millis(self):
        return int((deadline - time.monotonic()) * 1000)

print(json.dumps({"reply": handler.handler(json.loads(sys.stdin.read()), Context())}), flush=True)
"""


def test_a_model_that_hangs_until_the_function_timeout_settles_the_batch_and_restarts_the_environment(
    tmp_path,
    s3_admin,
):
    """Left to Lambda, the timeout would return every message of the batch (the finished one too) and
    dead-letter the one at its last receive with no result for its caller."""
    bucket = Bucket(s3_admin, f"results-{uuid.uuid4().hex[:12]}")
    s3_admin.create_bucket(Bucket=bucket.name)
    sqs = __import__("boto3").client("sqs")
    url = sqs.create_queue(QueueName=bucket.name, Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
    bodies = {
        "done": {"id": "done", "inputs": [1]},
        "hung": {"id": "hung", "inputs": [f"until:{tmp_path / 'never'}"]},
        "later": {"id": "later", "inputs": [2]},
    }
    for body in bodies.values():
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    by_id = {json.loads(m["Body"])["id"]: m for m in received}
    receives = {"done": MAX_RECEIVE_COUNT, "hung": MAX_RECEIVE_COUNT, "later": 1}  # the most received go first
    records = []
    for name in ("done", "hung", "later"):
        record = sqs_record(by_id[name]["MessageId"], by_id[name]["Body"], receives=receives[name])
        record["receiptHandle"] = by_id[name]["ReceiptHandle"]
        records.append(record)
    app = render(workload(SLOW_PROFILE), tmp_path / "build", Target.serverless) / "app"
    env = {
        **{k: v for k, v in __import__("os").environ.items() if k.startswith("AWS_") or k == "PATH"},
        "WEIGHTS_DIR": str(SLOW_PROFILE.parent / "weights"),
        "RESULTS_URI": f"s3://{bucket.name}/results/",
        "QUEUE_URL": url,
        "MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(app), "4"],  # a function with 4 s left when the batch arrives
        input=json.dumps({"Records": records}),
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    elapsed = time.monotonic() - started
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    # The process goes before the function's timeout (4 s after the batch arrived, plus the start-up).
    assert done.returncode == 1, done.stdout + done.stderr
    assert elapsed < 4 + 3, elapsed
    assert not any("reply" in x for x in lines)  # nothing returned: Lambda replaces the environment
    assert any(x.get("message", "").startswith("exiting: a prediction is still running") for x in lines), lines
    assert any(x.get("HungPredictions") == [1.0] for x in lines)  # the metrics were flushed before the exit
    # The finished message's result stands and SQS will not deliver it again; the hung one, at its
    # last receive, has its error result before SQS dead-letters it; the one not started is back at once.
    assert bucket.result(SENDER, "done") == {"id": "done", "outputs": [3.0]}
    assert "did not finish within the function's time" in bucket.result(SENDER, "hung")["error"]
    assert bucket.result(SENDER, "later") is None
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == (
        "1",
        "1",
    )
    back = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["id"] for m in back] == ["later"]


def test_a_hang_shorter_than_the_function_time_is_just_slow(s3_handler):  # noqa: F811
    """The limit is the invocation's remaining time, not a fixed timeout: a slow message finishes."""
    handler, bucket = s3_handler

    class Short(LambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return 2000  # 1.5 s for the prediction, the rest kept to settle a hang

    record = sqs_record("m-slow", json.dumps({"id": "slow", "inputs": ["sleep:0.6"]}))
    assert handler.handler({"Records": [record]}, Short()) == {"batchItemFailures": []}
    assert bucket.result(SENDER, "slow") == {"id": "slow", "outputs": ["slept"]}
