"""The async result contract on Kubernetes: the rendered server (POST /messages, GET /results/<id>)
and its queue worker against a real redis-server.

Each caller (named by its API key) reads only its own results, an id cannot be reused to replace
a result, oversized messages are refused (413) or answered with an error result, sys.exit() in the
model is an error result, dead letters stay within their bytes, and a result write that fails is
counted and retried until it lands.
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.runtime_helpers import call, metric, render_server, slow_profile, start_server, wait_for
from tests.test_runtime_worker import QUEUE, dead, redis_server, result  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
KEYS = {"batch-team": "b" * 40, "web-team": "w" * 40}


def request(port: int, method: str, path: str, key: str | None, body: bytes | None = None) -> tuple[int, dict, dict]:
    """(status, headers, JSON body) over a raw socket: the server's own answers, Connection included."""
    head = [f"{method} {path} HTTP/1.1", "host: t", "content-type: application/json"]
    if key:
        head.append(f"authorization: Bearer {key}")
    head.append(f"content-length: {len(body or b'')}")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        header, rest = data.split(b"\r\n\r\n", 1)
        lines = header.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        while len(rest) < int(headers.get("content-length", 0)):
            rest += s.recv(65536)
    return int(lines[0].split()[1]), headers, json.loads(rest)


@pytest.fixture
def queue_server(tmp_path, redis_server):  # noqa: F811
    app = render_server(
        slow_profile(tmp_path / "p", {"timeout_s: 30": "timeout_s: 2", "mode: both": "mode: async"}), tmp_path / "b"
    )
    env = {
        "QUEUE_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "QUEUE_NAME": QUEUE,
        "REDIS_PASSWORD": "s3cret",
        "POD_NAME": "pod-a",
        "API_KEYS": json.dumps(KEYS),
        "DEAD_LETTER_BYTES": "20000",
        "REDIS_BACKOFF_MAX_S": "0.3",  # retries 0.3 s apart at most: an outage's end is seen at once
    }
    server = start_server(app, tmp_path / "server.log", **env)
    wait_for(lambda: call(server.port, "/readyz")[0] == 200)
    yield server, redis_server
    server.stop()


def test_each_caller_reads_only_its_own_results_and_an_id_is_never_reused(queue_server):
    server, _ = queue_server
    port, batch, web = server.port, KEYS["batch-team"], KEYS["web-team"]
    code, _, body = request(port, "POST", "/messages", batch, b'{"id": "report", "inputs": [1]}')
    assert (code, body) == (202, {"id": "report"})
    code, _, _ = request(port, "POST", "/messages", web, b'{"id": "report", "inputs": [2]}')
    assert code == 202  # the same id from another caller is another result
    wait_for(lambda: request(port, "GET", "/results/report", web, None)[0] == 200)
    wait_for(lambda: request(port, "GET", "/results/report", batch, None)[0] == 200)
    assert request(port, "GET", "/results/report", batch)[2] == {"id": "report", "outputs": [3.0]}
    assert request(port, "GET", "/results/report", web)[2] == {"id": "report", "outputs": [6.0]}
    # Reusing an id: refused while its result lives, so it can never replace the first.
    code, _, body = request(port, "POST", "/messages", batch, b'{"id": "report", "inputs": [100]}')
    assert code == 409 and "already have a result" in body["error"]
    # No id: the stream entry's id names the result, returned to the caller.
    code, _, body = request(port, "POST", "/messages", web, b'{"inputs": [5]}')
    wait_for(lambda: request(port, "GET", f"/results/{body['id']}", web)[0] == 200)
    assert request(port, "GET", f"/results/{body['id']}", batch)[0] == 404  # not batch-team's
    assert request(port, "GET", "/results/report", None)[0] == 401
    assert request(port, "GET", "/results/report", "x" * 40)[0] == 401


def test_a_second_message_with_the_same_caller_and_id_cannot_replace_the_first(queue_server):
    """Two messages in flight with one id (the 409 check cannot see a result not yet written):
    the first result stands, the second is counted as a duplicate."""
    server, redis = queue_server
    for n in (1, 100):
        redis.client.xadd(QUEUE, {"body": json.dumps({"id": "twice", "inputs": [n]}), "caller": "batch-team"})
    wait_for(lambda: metric(server.port, "switchyard_duplicate_ids_total") == 1)
    assert result(redis.client, "twice", "batch-team") == {"id": "twice", "outputs": [3.0]}


def test_oversized_messages_get_413_over_http_and_an_error_result_on_the_stream(queue_server):
    server, redis = queue_server
    big = json.dumps({"id": "big", "inputs": ["x" * 300_000]}).encode()
    code, headers, body = request(server.port, "POST", "/messages", KEYS["batch-team"], big)
    assert code == 413 and "262144" in body["error"] and headers["connection"] == "close"
    entry = redis.client.xadd(QUEUE, {"body": big, "caller": "batch-team"})
    wait_for(lambda: result(redis.client, entry, "batch-team") is not None)
    assert result(redis.client, entry, "batch-team")["error"].startswith("message is 300")
    (letter,) = dead(redis.client)
    assert len(letter["body"]) == 4096  # the dead letter keeps its start, not 300 KB


def test_sys_exit_in_the_model_is_an_error_result_and_the_worker_goes_on(queue_server):
    server, redis = queue_server
    redis.client.xadd(QUEUE, {"body": json.dumps({"id": "quits", "inputs": ["exit"]})})
    redis.client.xadd(QUEUE, {"body": json.dumps({"id": "after", "inputs": [1]})})
    wait_for(lambda: result(redis.client, "after") is not None, timeout=30)
    assert "SystemExit" in result(redis.client, "quits")["error"]
    assert server.proc.poll() is None and call(server.port, "/readyz")[0] == 200


def test_dead_letters_stay_within_their_bytes_oldest_first(queue_server):
    _, redis = queue_server
    for i in range(40):  # ~1 KB each; the budget is 20,000 bytes
        redis.client.xadd(QUEUE, {"body": json.dumps({"id": f"bad-{i}", "inputs": ["y" * 1000]})})
    wait_for(lambda: result(redis.client, "bad-39") is not None, timeout=30)
    letters = dead(redis.client)
    assert sum(int(d["size"]) for d in letters) <= 20_000 < 40 * 1000
    assert letters[-1]["id"] == "bad-39" and letters[0]["id"] != "bad-0"  # the oldest went first
    assert int(redis.client.get(f"{QUEUE}:dead:bytes")) == sum(int(d["size"]) for d in letters)


def test_a_result_write_that_fails_is_counted_and_retried_until_it_lands(queue_server):
    server, redis = queue_server
    redis.client.xadd(QUEUE, {"body": json.dumps({"id": "slow", "inputs": ["sleep:1.5"]})})
    wait_for(lambda: redis.client.xpending(QUEUE, "workers")["pending"] == 1)
    redis.stop()  # the prediction finishes while Redis is away: the write fails
    wait_for(lambda: any(e.get("event") == "result_write_failed" for e in server.events()), timeout=30)
    redis.start()
    wait_for(lambda: result(redis.client, "slow") is not None, timeout=30)
    assert result(redis.client, "slow") == {"id": "slow", "outputs": ["slept"]}
    assert metric(server.port, "switchyard_result_write_failures_total") >= 1
    assert any(e.get("event") == "result_write_failed" for e in server.events())
