"""The rendered Kubernetes HTTP server, started on localhost and sent real requests."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stacks.packaging import render
from stacks.profile import Target
from tests.packaging_helpers import SLOW_PROFILE, model_module, workload

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port: int, path: str, body: dict | None = None, timeout: float = 10) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method="POST" if data else "GET",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(predicate, timeout: float = 20, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def metric(port: int, name: str, labels: str = "") -> float:
    text = call(port, "/metrics")[1]
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


@pytest.fixture
def server(tmp_path):
    ctx = render(workload(SLOW_PROFILE), tmp_path / "build", Target.kubernetes)
    port = free_port()
    env = {**os.environ, "PORT": str(port), "WEIGHTS_DIR": str(SLOW_PROFILE.parent / "weights"), "SLOW_LOAD_S": "1.0"}
    log = open(tmp_path / "server.log", "w+")  # noqa: SIM115 - the server writes to it until teardown
    proc = subprocess.Popen(
        [sys.executable, "server.py"], cwd=ctx / "app", env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for(lambda: call(port, "/healthz")[0] == 200)
        yield proc, port, tmp_path / "server.log"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_readiness_turns_true_only_after_the_load(server):
    _proc, port, _ = server
    status, body = call(port, "/readyz")
    assert (status, json.loads(body)) == (503, {"status": "not ready", "reason": "loading"})
    assert call(port, "/predict", {"inputs": [1]})[0] == 503
    wait_for(lambda: call(port, "/readyz")[0] == 200)
    assert metric(port, "switchyard_model_load_seconds") >= 1.0


def test_predictions_equal_the_model_and_metrics_count_them(server, monkeypatch):
    _proc, port, _ = server
    wait_for(lambda: call(port, "/readyz")[0] == 200)
    direct = model_module(SLOW_PROFILE.parent / "model.py")
    monkeypatch.setenv("SLOW_LOAD_S", "0")
    expected = direct.predict(direct.load(SLOW_PROFILE.parent / "weights"), [1, 2.5, 4])
    for _ in range(3):
        status, body = call(port, "/predict", {"inputs": [1, 2.5, 4]})
        assert (status, json.loads(body)) == (200, {"outputs": expected})
    assert call(port, "/predict", {"inputs": "nope"})[0] == 400
    assert call(port, "/predict", {"inputs": ["crash"]}) == (500, '{"error":"prediction failed"}')
    assert metric(port, "switchyard_requests_total", '{code="200"}') == 3
    assert metric(port, "switchyard_requests_total", '{code="400"}') == 1
    assert metric(port, "switchyard_requests_total", '{code="500"}') == 1
    assert metric(port, "switchyard_request_duration_seconds_count") == 5
    assert metric(port, "switchyard_inflight_requests") == 0


def test_sigterm_lets_the_slow_request_finish_then_exits(server):
    proc, port, log = server
    wait_for(lambda: call(port, "/readyz")[0] == 200)
    result: dict = {}

    def slow():
        result["reply"] = call(port, "/predict", {"inputs": ["sleep:1.5"]}, timeout=20)

    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: metric(port, "switchyard_inflight_requests") == 1)
    proc.send_signal(signal.SIGTERM)
    t.join(timeout=20)
    assert result["reply"] == (200, '{"outputs":["slept"]}')
    assert proc.wait(timeout=15) == 0
    events = [json.loads(line)["event"] for line in Path(log).read_text().splitlines() if line.startswith("{")]
    assert events[-2:] == ["draining", "stopped"]
    with pytest.raises(OSError):  # the listener is closed
        call(port, "/healthz", timeout=2)


def test_unknown_route_is_404(server):
    _, port, _ = server
    assert call(port, "/nope")[0] == 404
