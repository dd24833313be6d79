"""The rendered Kubernetes HTTP server, run as its image runs it, under load, faults and SIGTERM."""

from __future__ import annotations

import http.client
import json
import math
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.packaging_helpers import model_module
from tests.runtime_helpers import SLOW_MODEL, call, metric, raw, servers, status_of, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture
def run(tmp_path):
    """Start the server rendered from the slow model's profile with `edits`; stopped at teardown."""
    yield from servers(tmp_path)


def ready(server) -> None:
    wait_for(lambda: call(server.port, "/readyz")[0] == 200)


def test_readiness_turns_true_only_after_the_load(run):
    server = run(SLOW_LOAD_S="1.0")
    status, body = call(server.port, "/readyz")
    assert (status, json.loads(body)) == (503, {"status": "not ready", "reason": "loading"})
    assert call(server.port, "/predict", {"inputs": [1]})[0] == 503
    ready(server)
    assert metric(server.port, "switchyard_model_load_seconds") >= 1.0


def test_predictions_equal_the_model_and_outputs_are_always_valid_json(run, monkeypatch):
    server = run()
    ready(server)
    port = server.port
    monkeypatch.setenv("SLOW_LOAD_S", "0")
    direct = model_module(SLOW_MODEL / "model.py")
    expected = direct.predict(direct.load(SLOW_MODEL / "weights"), [1, 2.5, 4])
    for _ in range(3):
        status, body = call(port, "/predict", {"inputs": [1, 2.5, 4]})
        assert (status, json.loads(body)) == (200, {"outputs": expected})
    assert call(port, "/predict", {"inputs": ["numpy"]}) == (200, '{"outputs":[1.5]}')
    # NaN is not JSON: the caller gets a 500 with a parseable body, never a bare NaN.
    status, body = call(port, "/predict", {"inputs": ["nan"]})
    assert status == 500 and json.loads(body) == {"error": "prediction failed"}
    assert call(port, "/predict", {"inputs": "nope"})[0] == 400
    deep = b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    reply = raw(
        port,
        b"POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(deep), deep),
    )
    assert status_of(reply) == 400 and b"nested too deeply" in reply
    assert call(port, "/predict", {"inputs": ["crash"]}) == (500, '{"error":"prediction failed"}')
    assert metric(port, "switchyard_requests_total", '{code="200"}') == 4
    assert metric(port, "switchyard_requests_total", '{code="400"}') == 2
    assert metric(port, "switchyard_requests_total", '{code="500"}') == 2
    assert metric(port, "switchyard_request_duration_seconds_count") == 8
    assert metric(port, "switchyard_inflight_requests") == 0
    # One JSON object per line, the model's traceback inside the failure's line.
    events = server.events()
    crash = [e for e in events if e.get("event") == "predict_failed" and "crashed" in e["error"]]
    assert len(crash) == 1 and "RuntimeError: model crashed on purpose" in crash[0]["traceback"]


def test_malformed_http_gets_a_4xx_never_silence(run):
    server = run(MAX_BODY_BYTES="1000")
    ready(server)
    port = server.port
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
    assert status_of(raw(port, b"NOT HTTP AT ALL\r\n\r\n")) == 400
    assert status_of(raw(port, head + b"Content-Length: abc\r\n\r\n{}")) == 400
    assert status_of(raw(port, head + b"Content-Length: 5000\r\n\r\n" + b"x" * 5000)) == 413
    chunked = (
        head
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in [b"[" * 600] * 2)
    )
    assert status_of(raw(port, chunked + b"0\r\n\r\n")) == 413  # the limit holds without a Content-Length
    assert call(port, "/predict", None)[0] == 405  # GET /predict
    body = b'{"inputs": [1,'
    reply = raw(port, head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    assert status_of(reply) == 400 and b"not valid JSON" in reply
    # Chunked bodies are read whole; the server still answers normally afterwards.
    parts = [b'{"inp', b'uts": [1, 2]}']
    good = head + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
    good += b"0\r\n\r\n"
    reply = raw(port, good)
    assert status_of(reply) == 200 and reply.endswith(b'{"outputs":[3.0,6.0]}')
    assert call(port, "/healthz")[0] == 200


def test_concurrency_is_the_sizings_and_a_full_replica_sheds_with_retry_after(run):
    # p99 20 ms at 10 ms per prediction: two requests may wait behind the one running.
    server = run({"p99_latency_ms: 1000": "p99_latency_ms: 20"})
    ready(server)
    assert metric(server.port, "switchyard_concurrency_limit") == 1
    replies: list[tuple[int, float, dict]] = []

    def slow() -> None:
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        conn.request("POST", "/predict", json.dumps({"inputs": ["sleep:0.6"]}), {"content-type": "application/json"})
        r = conn.getresponse()
        r.read()
        replies.append((r.status, time.monotonic() - started, dict(r.getheaders())))
        conn.close()

    threads = [threading.Thread(target=slow) for _ in range(5)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    ok = sorted(d for s, d, _ in replies if s == 200)
    shed = [(d, h) for s, d, h in replies if s == 503]
    assert len(ok) == 3 and len(shed) == 2, replies
    # One prediction at a time: the three served requests finish one after another.
    assert ok[0] >= 0.55 and ok[1] >= 1.1 and ok[2] >= 1.6, ok
    assert all(d < 0.5 and int(h["retry-after"]) >= 1 for d, h in shed), shed


def test_timeout_is_enforced_with_a_504_and_a_slow_call_never_stalls_the_probes(run):
    """No prediction runs on the event loop, however fast the model usually is: one slow call after
    many fast ones still answers 504 at the timeout, and the probes answer meanwhile."""
    server = run({"timeout_s: 30": "timeout_s: 1"}, STUCK_AFTER_S="30")
    ready(server)
    assert all(call(server.port, "/predict", {"inputs": [i]})[0] == 200 for i in range(300))
    replies = []
    slow = threading.Thread(target=lambda: replies.append(call(server.port, "/predict", {"inputs": ["sleep:3"]})))
    started = time.monotonic()
    slow.start()
    wait_for(lambda: metric(server.health_port, "switchyard_inflight_requests") == 1)
    probe_started = time.monotonic()
    assert call(server.health_port, "/healthz", timeout=0.5)[0] == 200
    assert call(server.port, "/healthz", timeout=0.5)[0] == 200
    assert time.monotonic() - probe_started < 0.5
    slow.join()
    status, body = replies[0]
    assert status == 504 and "longer than 1 s" in json.loads(body)["error"]
    assert time.monotonic() - started < 2


def test_keep_alive_and_new_connection_load_is_served_without_errors(run):
    # A queue deep enough for every client: this measures the server, not load shedding.
    server = run(QUEUE_DEPTH="64")
    ready(server)
    port = server.port

    def keep_alive(n: int) -> list[int]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        codes = []
        for i in range(n):
            conn.request("POST", "/predict", json.dumps({"inputs": [i]}), {"content-type": "application/json"})
            r = conn.getresponse()
            assert json.loads(r.read()) == {"outputs": [i * 3.0]}
            codes.append(r.status)
        conn.close()
        return codes

    def new_connections(n: int) -> list[int]:
        return [call(port, "/predict", {"inputs": [i]})[0] for i in range(n)]

    with ThreadPoolExecutor(16) as pool:
        kept = [c for codes in pool.map(keep_alive, [100] * 16) for c in codes]
        fresh = [c for codes in pool.map(new_connections, [25] * 16) for c in codes]
    assert kept == [200] * 1600 and fresh == [200] * 400
    assert metric(port, "switchyard_requests_total", '{code="200"}') == 2000


def test_dynamic_batching_merges_requests_and_isolates_a_bad_one(run):
    server = run(
        {"  memory_gb: 1\n": "  memory_gb: 1\n  batching: {max_size: 16, max_wait_ms: 50}\n"}, QUEUE_DEPTH="64"
    )
    ready(server)

    def one(x):
        return call(server.port, "/predict", {"inputs": [x]})

    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(one, [*range(11), "bad"]))
    assert replies[:11] == [(200, json.dumps({"outputs": [i * 3.0]}, separators=(",", ":"))) for i in range(11)]
    assert replies[11][0] == 400
    calls = metric(server.port, "switchyard_batch_size_count")
    assert calls < 11 + 12  # merged (the failed batch reruns each request alone to find the bad one)
    assert metric(server.port, "switchyard_batch_size_sum") / calls > 1.5


def test_sigterm_mid_load_finishes_in_flight_cuts_slow_clients_within_the_drain_budget(run, tmp_path):
    """Every step waits on something the server shows (a gauge, a log line), never on a guess of how
    long a thread takes to start: the first prediction holds the only slot until the test opens its
    gate, after SIGTERM, so the other two are always queued behind it when the drain begins."""
    server = run({"timeout_s: 30": "timeout_s: 3"}, QUEUE_DEPTH="8")  # drain budget = timeout_s
    ready(server)
    port = server.port
    assert metric(port, "switchyard_concurrency_limit") == 1
    gate = tmp_path / "gate"
    results: list[tuple[int, str]] = []

    def predict(x):
        results.append(call(port, "/predict", {"inputs": [x]}, timeout=20))

    idle = socket.create_connection(("127.0.0.1", port))  # an idle keep-alive connection
    idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while not answer.endswith(b'{"status":"alive"}'):
        answer += idle.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")
    slow_client = socket.create_connection(("127.0.0.1", port))  # sends half a body, then nothing
    slow_client.sendall(b'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"inputs": [')
    health = server.health_port
    threads = [threading.Thread(target=predict, args=(f"until:{gate}",))]
    threads[0].start()
    wait_for(lambda: metric(health, "switchyard_inflight_requests") == 2)  # it runs, the slow client waits for its body
    threads += [threading.Thread(target=predict, args=(x,)) for x in ("sleep:0.4", 5)]
    for t in threads[1:]:
        t.start()
    wait_for(lambda: metric(health, "switchyard_queued_requests") == 2)
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: any(e.get("event") == "draining" for e in server.events()))
    gate.touch()
    idle.settimeout(2)
    assert idle.recv(4096) == b""  # closed at once
    for t in threads:
        t.join(timeout=20)
    assert sorted(results) == [
        (200, '{"outputs":["released"]}'),
        (200, '{"outputs":["slept"]}'),
        (200, '{"outputs":[15.0]}'),
    ]
    assert server.proc.wait(timeout=10) == 0
    elapsed = time.monotonic() - signalled
    assert 3 <= elapsed < 3 + 3, elapsed  # the slow client was cut at the budget, well inside EXIT_MARGIN_S
    slow_client.settimeout(1)
    assert slow_client.recv(4096).startswith(b"HTTP/1.1 408")  # told why, then closed
    events = [e.get("event") for e in server.events()]
    assert events[-1] == "stopped" and "draining" in events and "exit_forced" not in events
    with pytest.raises(OSError):
        call(port, "/healthz", timeout=2)


def test_with_an_api_key_predictions_need_it_and_probes_do_not(run):
    server = run(API_KEY="k3y")
    ready(server)

    def predict(headers: dict[str, str]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("POST", "/predict", '{"inputs": [1]}', {"content-type": "application/json", **headers})
        status = conn.getresponse().status
        conn.close()
        return status

    assert predict({}) == 401
    assert predict({"authorization": "Bearer wrong"}) == 401
    assert predict({"authorization": "Bearer k3y"}) == 200
    assert predict({"authorization": "bearer k3y"}) == 200  # the scheme is case-insensitive, the key is not
    assert predict({"authorization": "Bearer K3Y"}) == 401
    assert predict({"authorization": "Basic k3y"}) == 401
    assert predict({"authorization": "Bearer"}) == 401
    assert call(server.port, "/healthz")[0] == 200 and call(server.port, "/metrics")[0] == 200


def test_unknown_route_is_404_and_wrong_method_405(run):
    server = run()
    assert call(server.port, "/nope")[0] == 404
    status_line = raw(
        server.port, b"DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    assert status_of(status_line) == 405 and b"allow: get, head" in status_line.lower()
    assert math.isfinite(metric(server.port, "switchyard_model_ready"))


def test_an_oversized_request_head_is_refused_with_431_and_the_replica_stays_small(run):
    """One caller streaming an endless header must not grow the replica until it is OOM-killed."""
    server = run()
    ready(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        reply = b""
        try:
            for _ in range(64):  # up to 64 MiB, stopped as soon as the server answers or closes
                s.sendall(b"a" * (1 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := s.recv(65536):
                reply += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:100]
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + b"".join(
        b"X-%d: y\r\n" % i for i in range(20000)
    )
    assert status_of(raw(server.port, many + b"\r\n")) == 431
    rss_mb = (
        int(
            next(
                x for x in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines() if x.startswith("VmRSS")
            ).split()[1]
        )
        / 1024
    )
    assert rss_mb < 60, rss_mb
    # a normal head with a large body (one read holds the head and the body's start) is not affected
    assert call(server.port, "/predict", {"inputs": [1] * 16, "pad": " " * 500_000})[0] == 200
    assert call(server.port, "/predict", {"inputs": [1]})[0] == 200


def test_a_request_head_that_never_completes_is_closed(run):
    """Slowloris: a connection that opens and says nothing, or trickles a head, is closed after
    HEADER_TIMEOUT_S; a keep-alive connection mid-request is left alone."""
    server = run(HEADER_TIMEOUT_S="1")
    ready(server)
    started = time.monotonic()
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    trickle = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    trickle.sendall(b"GET /healthz HTTP/1.1\r\n")
    for _ in range(4):  # one byte at a time, never finishing
        time.sleep(0.5)
        try:
            trickle.sendall(b"X")
        except (BrokenPipeError, ConnectionResetError):
            break
    for s in (silent, trickle):
        try:
            while s.recv(65536):
                pass
        except ConnectionResetError:
            pass
        s.close()
    assert time.monotonic() - started < 5
    # a slow prediction on a keep-alive connection outlives the head timeout
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/predict", json.dumps({"inputs": ["sleep:1.5"]}), {"content-type": "application/json"})
    assert conn.getresponse().read() == b'{"outputs":["slept"]}'
    conn.request("POST", "/predict", json.dumps({"inputs": [1]}), {"content-type": "application/json"})
    assert conn.getresponse().status == 200
