"""The rendered server under what production meets at 3 a.m.: a prediction that never returns,
SIGTERM with one in hand, callers that hold connections open, more callers than capacity."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import threading
import time

import pytest

from tests.runtime_helpers import call, metric, servers, status_of, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

NOFILE = 256  # the descriptor limit a container runtime may well give the process
CAP = NOFILE - NOFILE // 4 - 32  # what the server derives from it: room for files, Redis and the probe port


@pytest.fixture
def run(tmp_path):
    yield from servers(tmp_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One replica for the connection tests (none of them stops it): an API key, small body and
    descriptor limits, four slots with four waiting, heads that may take long (the attack's)."""
    start = servers(tmp_path_factory.mktemp("hygiene"))
    server = next(start)(
        nofile=NOFILE,
        API_KEY="k3y",
        MAX_BODY_BYTES="1000",
        BODY_TIMEOUT_S="1",
        HEADER_TIMEOUT_S="30",
        CONCURRENCY="4",
        QUEUE_DEPTH="4",
    )
    wait_for(lambda: call(server.health_port, "/readyz")[0] == 200)
    yield server
    next(start, None)


def predict_in_thread(port: int, x, replies: list) -> threading.Thread:
    t = threading.Thread(target=lambda: replies.append(call(port, "/predict", {"inputs": [x]}, timeout=20)))
    t.start()
    return t


def test_a_prediction_past_its_timeout_holds_its_slot_until_it_returns_and_a_stuck_one_restarts_the_replica(
    run, tmp_path
):
    server = run({"timeout_s: 30": "timeout_s: 1"}, STUCK_AFTER_S="1.5")
    port, health = server.port, server.health_port
    wait_for(lambda: call(health, "/readyz")[0] == 200)
    slow_gate, stuck_gate = tmp_path / "slow", tmp_path / "never"
    replies: list = []
    predict_in_thread(port, f"until:{slow_gate}", replies).join()
    assert replies[0][0] == 504
    # Its thread still runs in the only slot: the replica says so instead of taking work it cannot do.
    status, body = call(health, "/readyz")
    assert status == 503 and "no free slot: 1 prediction(s) still running past the 1 s timeout" in body
    assert metric(health, "switchyard_abandoned_predictions") == 1
    assert call(health, "/healthz")[0] == 200  # it may still come back: not a restart yet
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/predict", '{"inputs": [1]}', {"content-type": "application/json"})
    refused = conn.getresponse()
    refused.read()
    assert refused.status == 503 and refused.getheader("connection") == "close" and refused.getheader("retry-after")
    slow_gate.touch()  # the late prediction returns: its slot is back
    wait_for(lambda: call(health, "/readyz")[0] == 200, timeout=5)
    assert call(port, "/predict", {"inputs": [2]}) == (200, '{"outputs":[6.0]}')

    hung = time.monotonic()
    predict_in_thread(port, f"until:{stuck_gate}", replies).join()
    assert replies[1][0] == 504
    assert server.proc.wait(timeout=10) == 1  # stuck STUCK_AFTER_S past its timeout: restarted by Kubernetes
    to_exit = time.monotonic() - hung
    assert to_exit < 1 + 1.5 + 2, to_exit
    fatal = [e for e in server.events() if e.get("event") == "fatal"]
    assert len(fatal) == 1 and "still running 2.5 s after it started" in fatal[0]["reason"]


def test_sigterm_with_a_prediction_that_never_returns_ends_the_process_inside_the_grace_period(run, tmp_path):
    # Nothing restarts it on its own (STUCK_AFTER_S is long): only the drain's bounds end the process.
    server = run({"timeout_s: 30": "timeout_s: 2"}, STUCK_AFTER_S="60")
    wait_for(lambda: call(server.health_port, "/readyz")[0] == 200)
    replies: list = []
    client = predict_in_thread(server.port, f"until:{tmp_path / 'never'}", replies)
    wait_for(lambda: metric(server.health_port, "switchyard_inflight_requests") == 1)
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=10) == 0
    elapsed = time.monotonic() - signalled
    client.join()
    assert replies[0][0] == 504  # answered at its timeout, then the process went, its thread with it
    # The pod's grace after preStop is timeout_s + 5 s; the server exits by DRAIN_S (= timeout_s) + 3 s.
    assert elapsed < 2 + 3, elapsed
    assert [e.get("event") for e in server.events()][-1] == "stopped"


def _unread_body(port: int, head: bytes) -> tuple[bytes, float]:
    """Send a head announcing 100 kB and only 10 bytes of it; return the answer and how long the
    server took to close the connection while the rest of the body never came."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head + b"Content-Length: 100000\r\n\r\n" + b"x" * 10)
        started, reply = time.monotonic(), b""
        while chunk := s.recv(65536):
            reply += chunk
        return reply, time.monotonic() - started


@pytest.mark.parametrize(
    ("head", "code"),
    [
        (b"POST /predict HTTP/1.1\r\nHost: x\r\n", 401),
        (b"POST /nope HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k3y\r\n", 404),
        (b"PUT /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k3y\r\n", 405),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k3y\r\n", 413),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", 200),
    ],
)
def test_an_answer_that_leaves_the_body_unread_closes_the_connection(shared, head, code):
    reply, closed_after = _unread_body(shared.port, head)
    assert status_of(reply) == code and b"connection: close" in reply.lower()
    assert closed_after < 2, closed_after  # the lingering close is bounded (LINGER_S)


def test_a_connection_without_a_body_stays_open_for_the_next_request(shared):
    conn = http.client.HTTPConnection("127.0.0.1", shared.port, timeout=5)
    for _ in range(2):
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        assert r.read() == b'{"status":"alive"}' and r.getheader("connection") is None
    first = conn.sock
    conn.request("POST", "/predict", '{"inputs": [1]}', {"authorization": "Bearer k3y"})
    assert conn.getresponse().read() == b'{"outputs":[3.0]}' and conn.sock is first
    conn.close()
    assert call(shared.health_port, "/predict", {"inputs": [1]})[0] == 404  # the probe port serves probes only


def test_a_body_trickled_a_byte_every_so_often_is_cut_at_the_body_timeout(shared):
    with socket.create_connection(("127.0.0.1", shared.port), timeout=5) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k3y\r\nContent-Length: 100\r\n\r\n")
        started, reply = time.monotonic(), b""
        s.settimeout(0.3)
        while time.monotonic() - started < 5:
            try:
                s.sendall(b" ")
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not chunk:
                break
            reply += chunk
    assert status_of(reply) == 408 and b"connection: close" in reply.lower()
    assert time.monotonic() - started < 1 + 1.5  # BODY_TIMEOUT_S, then the lingering close


def test_hundreds_of_held_connections_cannot_exhaust_descriptors_or_starve_the_probes(shared):
    health = shared.health_port
    held = []
    try:
        for i in range(CAP + 140):
            s = socket.create_connection(("127.0.0.1", shared.port), timeout=5)
            # half a head or half a body: the server cannot answer either before its timeouts
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n" if i % 2 else b"GET /healthz HTTP/1.1\r\nX-Slow: ")
            held.append(s)
        wait_for(lambda: metric(health, "switchyard_connections_refused_total") >= 140, timeout=5)
        assert metric(health, "switchyard_open_connections") == CAP
        # Held connections, a few refusals lingering: room is left for every probe connection.
        descriptors = len(os.listdir(f"/proc/{shared.proc.pid}/fd"))
        assert NOFILE - descriptors >= 32, descriptors
        for _ in range(5):  # the kubelet's probes answer at once, on their own port
            started = time.monotonic()
            assert call(health, "/healthz", timeout=1)[0] == 200 and call(health, "/readyz", timeout=1)[0] == 200
            assert time.monotonic() - started < 0.5
        # A caller over the cap is told so as it connects, and to go elsewhere.
        with socket.create_connection(("127.0.0.1", shared.port), timeout=2) as s:
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        assert status_of(reply) == 503 and b"connection: close" in reply and b"retry-after: " in reply
    finally:
        for s in held:
            s.close()
    wait_for(lambda: metric(health, "switchyard_open_connections") == 0, timeout=5)
    conn = http.client.HTTPConnection("127.0.0.1", shared.port, timeout=5)
    conn.request("POST", "/predict", '{"inputs": [1]}', {"authorization": "Bearer k3y"})
    assert conn.getresponse().status == 200
    conn.close()


def test_fifty_keep_alive_callers_on_four_slots_get_503s_that_close_the_connection(shared):
    """A 503 that kept the connection would have the caller retry into the same full replica;
    closed, its next attempt is a new connection the Service may send elsewhere."""
    outcomes: list[tuple[int, str | None, str | None, bool]] = []
    lock = threading.Lock()
    stop = time.monotonic() + 1.5

    def caller() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", shared.port, timeout=10)
        while time.monotonic() < stop:
            try:
                conn.request("POST", "/predict", '{"inputs": ["sleep:0.02"]}', {"authorization": "Bearer k3y"})
                r = conn.getresponse()
                r.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()  # a connection refused at the cap: a new one next time
                continue
            sock = conn.sock
            with lock:
                outcomes.append((r.status, r.getheader("connection"), r.getheader("retry-after"), sock is None))
        conn.close()

    threads = [threading.Thread(target=caller) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = {status for status, *_ in outcomes}
    assert codes <= {200, 503} and 200 in codes and 503 in codes, codes
    shed = [o for o in outcomes if o[0] == 503]
    # every 503 said close and when to retry, and http.client dropped the connection (sock None)
    assert all(connection == "close" and retry and closed for _, connection, retry, closed in shed)
    assert all(connection is None and not closed for status, connection, _, closed in outcomes if status == 200)
