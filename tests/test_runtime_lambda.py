"""The rendered Lambda handler, imported and invoked for real with real-shaped events.

It runs on AWS Lambda Powertools (installed in the dev environment as in the image): its
structured logs and EMF metrics are read back from stdout, as CloudWatch would receive them.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from dataclasses import dataclass

import pytest

from stacks.packaging import render
from stacks.profile import Target
from tests.conftest import PROFILES, ROOT
from tests.packaging_helpers import SENTIMENT_WEIGHTS, SLOW_PROFILE, imported_app, model_module, workload

NUMPY_PROFILE = ROOT / "tests" / "fixtures" / "numpy_model" / "profile.yaml"


@dataclass
class LambdaContext:
    """The attributes the Lambda runtime's context object carries (Powertools reads them)."""

    function_name: str = "Switchyard-test-Serving"
    function_version: str = "7"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:Switchyard-test-Serving:live"
    memory_limit_in_mb: int = 2048
    aws_request_id: str = "6f4c1f2e-8d3b-4a57-9f6e-1c2d3e4f5a6b"
    log_group_name: str = "/aws/lambda/Switchyard-test-Serving"
    log_stream_name: str = "2026/11/26/[7]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


CTX = LambdaContext()


def function_url_event(body, method: str = "POST", b64: bool = False) -> dict:
    """The payload format 2.0 event a Lambda Function URL delivers."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "http": {
                "method": method,
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.1",
                "userAgent": "t",
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:17:00:00 +0000",
            "timeEpoch": 1795453200000,
        },
        "body": base64.b64encode(body.encode()).decode() if (b64 and isinstance(body, str)) else body,
        "isBase64Encoded": b64,
    }


# SQS's SenderId for an assumed role: role id and session name. The caller its results are filed under.
SENDER = "AROAEXAMPLEROLEID1234:batch-job"


def sqs_record(message_id: str, body, sender: str = SENDER, receives: int = 1) -> dict:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receives),
            "SentTimestamp": "1795453200000",
            "SenderId": sender,
        },
        "messageAttributes": {},
        "md5OfBody": "x",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sentiment-api",
        "awsRegion": "us-east-1",
    }


def watch_stdout(handler_module, capsys) -> None:
    """Point the handler's Powertools log stream at the stdout this test captures.

    The logger bound sys.stdout when the handler was imported, during the fixture's setup."""
    capsys.readouterr()
    handler_module.logger.registered_handler.stream = sys.stdout  # not setStream: it flushes the old, closed one


def stdout_json(capsys) -> list[dict]:
    """Every JSON line the handler printed: Powertools log records and EMF metric documents."""
    lines = []
    for line in capsys.readouterr().out.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def emf_metrics(lines: list[dict]) -> dict[str, float]:
    """Metric name -> value summed over the EMF documents (namespace Switchyard)."""
    out: dict[str, float] = {}
    for doc in lines:
        for directive in doc.get("_aws", {}).get("CloudWatchMetrics", []):
            assert directive["Namespace"] == "Switchyard"
            for metric in directive["Metrics"]:
                value = doc[metric["Name"]]
                out[metric["Name"]] = out.get(metric["Name"], 0) + (sum(value) if isinstance(value, list) else value)
    return out


@pytest.fixture
def sentiment_handler(tmp_path, monkeypatch):
    ctx = render(workload(PROFILES / "sentiment-api.yaml"), tmp_path / "build", Target.serverless)
    monkeypatch.setenv("WEIGHTS_DIR", str(SENTIMENT_WEIGHTS))
    with imported_app(ctx / "app", "handler") as module:
        yield module


def _results_handler(profile, weights, tmp_path, monkeypatch):
    ctx = render(workload(profile), tmp_path / "build", Target.serverless)
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setenv("WEIGHTS_DIR", str(weights))
    monkeypatch.setenv("RESULTS_URI", f"file://{results}")
    return ctx, results


@pytest.fixture
def slow_handler(tmp_path, monkeypatch):
    ctx, results = _results_handler(SLOW_PROFILE, SLOW_PROFILE.parent / "weights", tmp_path, monkeypatch)
    with imported_app(ctx / "app", "handler") as module:
        yield module, results


@pytest.fixture
def numpy_handler(tmp_path, monkeypatch):
    ctx, results = _results_handler(NUMPY_PROFILE, NUMPY_PROFILE.parent / "weights", tmp_path, monkeypatch)
    with imported_app(ctx / "app", "handler") as module:
        yield module, results


def read_result(results, name: str, caller: str = SENDER) -> dict:
    return json.loads((results / caller / f"{name}.json").read_text())


# ------------------------------------------------------------------ sync


def test_function_url_prediction_equals_calling_the_model(sentiment_handler):
    texts = ["I love this, great and fast", "awful slow service"]
    reply = sentiment_handler.handler(function_url_event(json.dumps({"inputs": texts})), CTX)
    assert reply["statusCode"] == 200
    assert reply["headers"]["content-type"] == "application/json"
    direct = model_module(PROFILES / "models" / "sentiment" / "model.py")
    expected = direct.predict(direct.load(SENTIMENT_WEIGHTS), texts)
    assert json.loads(reply["body"]) == {"outputs": expected}
    assert expected[0]["label"] == "positive" and expected[1]["label"] == "negative"


def test_base64_body_is_decoded(sentiment_handler):
    reply = sentiment_handler.handler(function_url_event(json.dumps({"inputs": ["good"]}), b64=True), CTX)
    assert reply["statusCode"] == 200


@pytest.mark.parametrize(
    ("body", "method", "status", "error"),
    [
        ("{not json", "POST", 400, "body is not valid JSON"),
        (json.dumps({"input": ["x"]}), "POST", 400, 'body must be a JSON object with an "inputs" list'),
        (json.dumps({"inputs": []}), "POST", 400, '"inputs" must be a non-empty list'),
        (json.dumps({"inputs": list(range(65))}), "POST", 400, '"inputs" has 65 items; at most 64 per request'),
        (json.dumps({"inputs": [42]}), "POST", 400, "input 0 must be a string, got int"),
        (None, "POST", 400, "empty body"),
        (None, "GET", 405, "use POST"),
    ],
)
def test_bad_requests_get_a_clear_4xx(sentiment_handler, body, method, status, error):
    reply = sentiment_handler.handler(function_url_event(body, method=method), CTX)
    assert reply["statusCode"] == status
    assert error in json.loads(reply["body"])["error"]


def _with(event: dict, **changes) -> dict:
    return {**event, **changes}


GOOD = json.dumps({"inputs": ["good"]})
MALFORMED_EVENTS = {
    "invalid base64": (_with(function_url_event("x"), body="%%%not-base64", isBase64Encoded=True), "not valid base64"),
    "body is an object": (_with(function_url_event(None), body={"inputs": ["good"]}), "body must be text, got dict"),
    "body is an int": (_with(function_url_event(None), body=42), "body must be text, got int"),
    "body is a list": (_with(function_url_event(None), body=["good"]), "body must be text, got list"),
    "null requestContext": (_with(function_url_event(GOOD), requestContext=None), "requestContext must be an object"),
    "string requestContext": (_with(function_url_event(GOOD), requestContext="x"), "requestContext must be an object"),
    "requestContext without a method": (_with(function_url_event(GOOD), requestContext={}), "no HTTP method"),
    "http is a string": (
        _with(function_url_event(GOOD), requestContext={"http": "POST"}),
        "no HTTP method",
    ),
    "non-dict records": ({"Records": [1, "x", None]}, "unsupported event"),
    "empty records": ({"Records": []}, "unsupported event"),
    "records is a dict": ({"Records": {"eventSource": "aws:sqs"}}, "unsupported event"),
    "list event": ([function_url_event(GOOD)], "unsupported event"),
    "None event": (None, "unsupported event"),
    "str event": (json.dumps(function_url_event(GOOD)), "unsupported event"),
    "int event": (7, "unsupported event"),
    "empty dict event": ({}, "unsupported event"),
    "scheduled event": ({"source": "aws.events", "detail-type": "Scheduled Event"}, "unsupported event"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_EVENTS))
def test_every_malformed_event_gets_a_4xx_json_answer(sentiment_handler, case):
    event, error = MALFORMED_EVENTS[case]
    reply = sentiment_handler.handler(event, CTX)
    assert 400 <= reply["statusCode"] < 500
    assert reply["headers"]["content-type"] == "application/json"
    assert error in json.loads(reply["body"])["error"]


def test_model_crash_on_a_sync_call_is_a_500_counted_as_a_model_error(slow_handler, capsys):
    handler, _ = slow_handler
    watch_stdout(handler, capsys)
    reply = handler.handler(function_url_event(json.dumps({"inputs": ["crash"]})), CTX)
    assert reply["statusCode"] == 500
    assert json.loads(reply["body"]) == {"error": "prediction failed"}
    lines = stdout_json(capsys)
    assert emf_metrics(lines)["ModelErrors"] == 1  # what the ModelErrors alarm watches
    (logged,) = [line for line in lines if line.get("message") == "prediction failed"]
    assert "model crashed on purpose" in logged["error"]
    assert logged["service"] == "slow-model" and logged["function_request_id"] == CTX.aws_request_id


def test_logs_carry_the_cold_start_flag(sentiment_handler, capsys):
    watch_stdout(sentiment_handler, capsys)
    sentiment_handler.handler(function_url_event("{not json"), CTX)
    sentiment_handler.handler(None, CTX)
    warnings = [line for line in stdout_json(capsys) if line.get("message") == "unsupported event"]
    assert warnings and warnings[0]["cold_start"] in (True, False)
    assert warnings[-1]["cold_start"] is False  # not the first invocation of this process any more


def test_float32_outputs_serialize(numpy_handler):
    handler, _ = numpy_handler
    reply = handler.handler(function_url_event(json.dumps({"inputs": [1, 2.5, "vector"]})), CTX)
    assert reply["statusCode"] == 200, reply
    assert json.loads(reply["body"]) == {"outputs": [1.5, 3.0, [0.5, 1.5, 2.5]]}


def test_nan_output_is_a_500_json_never_invalid_json(numpy_handler, capsys):
    handler, _ = numpy_handler
    capsys.readouterr()
    reply = handler.handler(function_url_event(json.dumps({"inputs": [1, "nan"]})), CTX)
    assert reply["statusCode"] == 500
    assert json.loads(reply["body"]) == {"error": "prediction failed"}
    assert emf_metrics(stdout_json(capsys))["ModelErrors"] == 1


# ------------------------------------------------------------------ async (SQS)


def test_results_are_stored_under_the_clients_id(slow_handler):
    handler, results = slow_handler
    event = {
        "Records": [
            sqs_record("m-1", json.dumps({"id": "order-42", "inputs": [1, 2]})),
            sqs_record("m-2", json.dumps({"inputs": [10]})),  # no id: the SQS messageId names it
        ]
    }
    assert handler.handler(event, CTX) == {"batchItemFailures": []}
    assert read_result(results, "order-42") == {"id": "order-42", "outputs": [3.0, 6.0]}
    assert read_result(results, "m-2") == {"id": "m-2", "outputs": [30.0]}
    assert not (results / SENDER / "m-1.json").exists()


def test_bad_messages_become_error_results_and_are_not_retried(slow_handler, capsys):
    handler, results = slow_handler
    event = {
        "Records": [
            sqs_record("m-poison", "{this is not json"),
            sqs_record("m-bad", json.dumps({"id": "job-7", "inputs": ["not a number"]})),
            sqs_record("m-badid", json.dumps({"id": "../../etc", "inputs": [1]})),
            sqs_record("m-obj", {"inputs": [1]}),
            sqs_record("m-ok", json.dumps({"inputs": [1]})),
        ]
    }
    capsys.readouterr()
    assert handler.handler(event, CTX) == {"batchItemFailures": []}  # nothing a retry could fix
    assert "not valid JSON" in read_result(results, "m-poison")["error"]
    assert read_result(results, "job-7") == {"id": "job-7", "error": "expected a number, got 'not a number'"}
    assert '"id" must be a string' in read_result(results, "m-badid")["error"]
    assert "must be text" in read_result(results, "m-obj")["error"]
    assert read_result(results, "m-ok")["outputs"] == [3.0]
    assert emf_metrics(stdout_json(capsys))["BadMessages"] == 4


def test_an_id_with_a_trailing_newline_is_refused_not_stored_under_it(slow_handler):
    """`$` in a regular expression also matches before a final newline: "job-8\\n" must be refused
    like any other character outside the contract, not become the key results/job-8\\n.json."""
    handler, results = slow_handler
    event = {"Records": [sqs_record("m-nl", json.dumps({"id": "job-8\n", "inputs": [1]}))]}
    assert handler.handler(event, CTX) == {"batchItemFailures": []}
    assert '"id" must be a string' in read_result(results, "m-nl")["error"]
    assert sorted(p.name for p in (results / SENDER).iterdir()) == ["m-nl.json"]


def test_a_batch_with_one_failing_record_retries_only_that_record(slow_handler, capsys):
    handler, results = slow_handler
    event = {
        "Records": [
            sqs_record("ok-1", json.dumps({"inputs": [1]})),
            sqs_record("boom", json.dumps({"id": "job-boom", "inputs": ["crash"]})),
            sqs_record("ok-2", json.dumps({"inputs": [2]})),
        ]
    }
    watch_stdout(handler, capsys)
    reply = handler.handler(event, CTX)
    assert reply == {"batchItemFailures": [{"itemIdentifier": "boom"}]}
    assert read_result(results, "ok-1")["outputs"] == [3.0]
    assert read_result(results, "ok-2")["outputs"] == [6.0]
    assert not (results / SENDER / "job-boom.json").exists()  # no result until it succeeds or dead-letters
    lines = stdout_json(capsys)
    assert emf_metrics(lines)["ModelErrors"] == 1
    assert any("model crashed on purpose" in line.get("error", "") for line in lines)


def test_a_record_without_message_id_does_not_fail_the_batch(slow_handler, capsys):
    handler, results = slow_handler
    nameless = sqs_record("x", json.dumps({"inputs": [5]}))
    del nameless["messageId"]
    event = {"Records": [sqs_record("ok-1", json.dumps({"inputs": [1]})), nameless, "garbage"]}
    watch_stdout(handler, capsys)
    assert handler.handler(event, CTX) == {"batchItemFailures": []}
    assert read_result(results, "ok-1")["outputs"] == [3.0]
    lines = stdout_json(capsys)
    assert emf_metrics(lines)["MalformedRecords"] == 2
    assert sum(line.get("message") == "record without a messageId dropped" for line in lines) == 2


def test_an_all_failing_batch_reports_every_record(slow_handler):
    handler, _ = slow_handler
    event = {"Records": [sqs_record(f"b-{i}", json.dumps({"inputs": ["crash"]})) for i in range(3)]}
    assert handler.handler(event, CTX) == {"batchItemFailures": [{"itemIdentifier": f"b-{i}"} for i in range(3)]}


@dataclass
class DeadlineContext(LambdaContext):
    """A context whose remaining time runs down with the wall clock, as Lambda's does."""

    deadline: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def test_a_batch_running_out_of_time_hands_back_the_messages_it_cannot_finish(slow_handler, capsys):
    """Lambda ends an invocation at its timeout with no partial response: every message of the
    batch, the finished ones too, comes back, and after three such timeouts good messages are
    dead-lettered. Messages the invocation has no time left for (less than the p99 of one, 1 s
    for this model) are reported as failures unstarted, so the finished ones are acknowledged."""
    handler, results = slow_handler
    event = {"Records": [sqs_record(f"s-{i}", json.dumps({"inputs": ["sleep:0.8"]})) for i in range(4)]}
    watch_stdout(handler, capsys)
    context = DeadlineContext(deadline=time.monotonic() + 2.2)
    reply = handler.handler(event, context)
    assert reply == {"batchItemFailures": [{"itemIdentifier": "s-2"}, {"itemIdentifier": "s-3"}]}
    assert context.get_remaining_time_in_millis() > 0  # answered before the invocation's end
    assert [read_result(results, f"s-{i}")["outputs"] for i in range(2)] == [["slept"], ["slept"]]
    assert not (results / SENDER / "s-2.json").exists() and not (results / SENDER / "s-3.json").exists()
    assert "ModelErrors" not in emf_metrics(stdout_json(capsys))  # not the model's fault


def test_the_first_message_is_always_worked_even_with_little_time_left(slow_handler):
    handler, results = slow_handler
    event = {"Records": [sqs_record("only", json.dumps({"inputs": [1]}))]}
    assert handler.handler(event, DeadlineContext(deadline=time.monotonic() + 0.3)) == {"batchItemFailures": []}
    assert read_result(results, "only")["outputs"] == [3.0]


def test_results_reach_s3_through_one_client_made_at_init(tmp_path, monkeypatch, s3_admin):
    """With s3:// results, boto3 is imported and its client made once, during init; each result is one object."""
    boto3 = pytest.importorskip("boto3")
    admin = s3_admin
    admin.create_bucket(Bucket="acme-results")
    made = []
    real_client = boto3.client
    monkeypatch.setattr(boto3, "client", lambda *a, **kw: made.append(a) or real_client(*a, **kw))
    ctx = render(workload(SLOW_PROFILE), tmp_path / "build", Target.serverless)
    monkeypatch.setenv("WEIGHTS_DIR", str(SLOW_PROFILE.parent / "weights"))
    monkeypatch.setenv("RESULTS_URI", "s3://acme-results/results/")
    with imported_app(ctx / "app", "handler") as handler:
        assert made == [("s3",), ("sqs",)]  # at import (the init phase), not on a request
        for n in range(3):
            event = {"Records": [sqs_record(f"m-{n}-{i}", json.dumps({"inputs": [i]})) for i in range(2)]}
            event["Records"].append(sqs_record(f"bad-{n}", json.dumps({"id": f"job-{n}", "inputs": ["x"]})))
            assert handler.handler(event, CTX) == {"batchItemFailures": []}
    assert made == [("s3",), ("sqs",)]
    keys = sorted(o["Key"] for o in admin.list_objects_v2(Bucket="acme-results")["Contents"])
    expected = [f"results/{SENDER}/m-{n}-{i}.json" for n in range(3) for i in range(2)] + [
        f"results/{SENDER}/job-{n}.json" for n in range(3)
    ]
    assert keys == sorted(expected)
    got = admin.get_object(Bucket="acme-results", Key=f"results/{SENDER}/m-2-1.json")
    assert got["ContentType"] == "application/json"
    assert json.loads(got["Body"].read()) == {"id": "m-2-1", "outputs": [3.0]}
    error = json.loads(admin.get_object(Bucket="acme-results", Key=f"results/{SENDER}/job-0.json")["Body"].read())
    assert error == {"id": "job-0", "error": "expected a number, got 'x'"}


def test_rendered_requirements_carry_powertools(tmp_path):
    ctx = render(workload(SLOW_PROFILE), tmp_path / "build", Target.serverless)
    requirements = (ctx / "requirements.txt").read_text().split()
    assert any(r.startswith("aws-lambda-powertools==") for r in requirements)
    import aws_lambda_powertools

    pinned = next(r for r in requirements if r.startswith("aws-lambda-powertools=="))
    assert pinned.split("==")[1] == aws_lambda_powertools.__version__  # the tests run the version the image gets
