"""The rendered server's queue worker (async workloads on Kubernetes), against a real Redis."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from stacks.packaging import render
from stacks.profile import Target
from tests.packaging_helpers import SLOW_PROFILE, workload
from tests.test_runtime_server import free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]
REDIS = shutil.which("redis-server")
QUEUE = "slow-model:queue"


@pytest.fixture
def redis_client(tmp_path):
    if REDIS is None:
        pytest.skip("redis-server is not installed (CI installs it: apt-get install redis-server)")
    redis = pytest.importorskip("redis")
    port = free_port()
    proc = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)

    def up() -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    try:
        wait_for(up)
        yield client, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def start_worker(tmp_path, redis_client):
    client, port = redis_client
    ctx = render(workload(SLOW_PROFILE), tmp_path / "build", Target.kubernetes)
    assert "redis==" in (ctx / "requirements.txt").read_text()  # mode both: the image ships the client
    procs = []

    def start():
        http = free_port()
        env = {
            **os.environ,
            "PORT": str(http),
            "WEIGHTS_DIR": str(SLOW_PROFILE.parent / "weights"),
            "QUEUE_URL": f"redis://127.0.0.1:{port}/0",
            "QUEUE_NAME": QUEUE,
        }
        proc = subprocess.Popen(
            [sys.executable, "server.py"],
            cwd=ctx / "app",
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        return proc

    yield client, start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_worker_stores_results_and_dead_letters_bad_messages(start_worker):
    client, start = start_worker
    for body in (
        json.dumps({"id": "a", "inputs": [1, 2]}),
        "{not json",
        json.dumps({"id": "c", "inputs": ["crash"]}),
        json.dumps({"inputs": [5]}),
    ):
        client.rpush(QUEUE, body)
    start()
    wait_for(lambda: client.llen(f"{QUEUE}:dead") == 3 and client.exists(f"{QUEUE}:result:a"))
    assert json.loads(client.get(f"{QUEUE}:result:a")) == {"outputs": [3.0, 6.0]}
    assert client.llen(QUEUE) == 0
    assert client.llen(f"{QUEUE}:processing:{socket.gethostname()}") == 0


def test_a_message_held_by_a_crashed_pod_is_recovered(start_worker):
    client, start = start_worker
    client.rpush(f"{QUEUE}:processing:{socket.gethostname()}", json.dumps({"id": "orphan", "inputs": [7]}))
    start()
    wait_for(lambda: client.exists(f"{QUEUE}:result:orphan"))
    assert json.loads(client.get(f"{QUEUE}:result:orphan")) == {"outputs": [21.0]}


def test_sigterm_finishes_the_message_in_hand(start_worker):
    client, start = start_worker
    proc = start()
    time.sleep(0.5)
    client.rpush(QUEUE, json.dumps({"id": "slow", "inputs": ["sleep:1.5"]}))
    wait_for(lambda: client.llen(QUEUE) == 0)  # taken
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert json.loads(client.get(f"{QUEUE}:result:slow")) == {"outputs": ["slept"]}
