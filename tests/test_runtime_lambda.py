"""The rendered Lambda handler, imported and invoked for real with real-shaped events."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from stacks.packaging import render
from stacks.profile import Target
from tests.conftest import PROFILES
from tests.packaging_helpers import SENTIMENT_WEIGHTS, SLOW_PROFILE, imported_app, model_module, workload


def function_url_event(body: str | None, method: str = "POST", b64: bool = False) -> dict:
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
        "body": base64.b64encode(body.encode()).decode() if (b64 and body is not None) else body,
        "isBase64Encoded": b64,
    }


def sqs_record(message_id: str, body: str) -> dict:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795453200000"},
        "messageAttributes": {},
        "md5OfBody": "x",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sentiment-api",
        "awsRegion": "us-east-1",
    }


@pytest.fixture
def sentiment_handler(tmp_path, monkeypatch):
    ctx = render(workload(PROFILES / "sentiment-api.yaml"), tmp_path / "build", Target.serverless)
    monkeypatch.setenv("WEIGHTS_DIR", str(SENTIMENT_WEIGHTS))
    with imported_app(ctx / "app", "handler") as module:
        yield module


@pytest.fixture
def slow_handler(tmp_path, monkeypatch):
    ctx = render(workload(SLOW_PROFILE), tmp_path / "build", Target.serverless)
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setenv("WEIGHTS_DIR", str(SLOW_PROFILE.parent / "weights"))
    monkeypatch.setenv("RESULTS_URI", f"file://{results}")
    with imported_app(ctx / "app", "handler") as module:
        yield module, results


def test_function_url_prediction_equals_calling_the_model(sentiment_handler):
    texts = ["I love this, great and fast", "awful slow service"]
    reply = sentiment_handler.handler(function_url_event(json.dumps({"inputs": texts})), None)
    assert reply["statusCode"] == 200
    assert reply["headers"]["content-type"] == "application/json"
    direct = model_module(PROFILES / "models" / "sentiment" / "model.py")
    expected = direct.predict(direct.load(SENTIMENT_WEIGHTS), texts)
    assert json.loads(reply["body"]) == {"outputs": expected}
    assert expected[0]["label"] == "positive" and expected[1]["label"] == "negative"


def test_base64_body_is_decoded(sentiment_handler):
    reply = sentiment_handler.handler(function_url_event(json.dumps({"inputs": ["good"]}), b64=True), None)
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
    reply = sentiment_handler.handler(function_url_event(body, method=method), None)
    assert reply["statusCode"] == status
    assert error in json.loads(reply["body"])["error"]


def test_sqs_batch_fails_only_the_poison_message(slow_handler):
    handler, results = slow_handler
    event = {
        "Records": [
            sqs_record("m-1", json.dumps({"inputs": [1, 2]})),
            sqs_record("m-poison", "{this is not json"),
            sqs_record("m-3", json.dumps({"inputs": [10]})),
        ]
    }
    assert handler.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "m-poison"}]}
    assert json.loads((results / "m-1.json").read_text()) == {"outputs": [3.0, 6.0]}
    assert json.loads((results / "m-3.json").read_text()) == {"outputs": [30.0]}
    assert not (results / "m-poison.json").exists()


def test_unexpected_exception_fails_its_record_loudly_not_the_batch(slow_handler, caplog):
    handler, results = slow_handler
    event = {
        "Records": [
            sqs_record("ok-1", json.dumps({"inputs": [1]})),
            sqs_record("boom", json.dumps({"inputs": ["crash"]})),
        ]
    }
    with caplog.at_level(logging.ERROR, logger="switchyard"):
        reply = handler.handler(event, None)
    assert reply == {"batchItemFailures": [{"itemIdentifier": "boom"}]}
    assert (results / "ok-1.json").exists()
    logged = [json.loads(r.getMessage()) for r in caplog.records]
    assert logged[0]["messageId"] == "boom"
    assert "model crashed on purpose" in logged[0]["error"]


def test_model_crash_on_a_sync_call_is_a_500_without_internals(slow_handler):
    handler, _ = slow_handler
    reply = handler.handler(function_url_event(json.dumps({"inputs": ["crash"]})), None)
    assert reply["statusCode"] == 500
    assert json.loads(reply["body"]) == {"error": "prediction failed"}


def test_unknown_event_is_an_error_not_a_silent_success(slow_handler):
    handler, _ = slow_handler
    with pytest.raises(ValueError, match="unsupported event"):
        handler.handler({"source": "aws.events"}, None)
