"""Run the rendered Kubernetes server the way its image does, and talk to it."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from stacks.packaging import render
from stacks.profile import Target
from tests.packaging_helpers import SLOW_PROFILE, workload

SLOW_MODEL = SLOW_PROFILE.parent


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


def slow_profile(dest: Path, edits: dict[str, str] | None = None) -> Path:
    """The slow test model in dest/, its profile with `edits` (old line -> new line) applied."""
    model = dest / "slow_model"
    shutil.copytree(SLOW_MODEL, model, ignore=shutil.ignore_patterns("__pycache__"))
    profile = model / "profile.yaml"
    text = profile.read_text(encoding="utf-8").replace("../../../profiles/schema.json", "schema.json")
    for old, new in (edits or {}).items():
        assert old in text, f"{old!r} not in the slow model's profile"
        text = text.replace(old, new)
    profile.write_text(text, encoding="utf-8")
    return profile


def render_server(profile: Path, out: Path) -> Path:
    return render(workload(profile), out, Target.kubernetes) / "app"


def servers(directory: Path):
    """A fixture body: yields start(edits, nofile, **env), which renders the slow model's profile
    with `edits` and runs it; every server started is stopped at teardown."""
    started = []

    def start(edits: dict[str, str] | None = None, nofile: int | None = None, **env: str):
        n = len(started)
        app = render_server(slow_profile(directory / f"p{n}", edits), directory / f"build{n}")
        server = start_server(app, directory / f"server{n}.log", nofile=nofile, **env)
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


def raw(port: int, data: bytes, timeout: float = 5) -> bytes:
    """Send bytes as they are, return everything the server answers before it closes or goes quiet.

    The requests say `Connection: close`; a half-close (SHUT_WR) would read as a client gone.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def status_of(reply: bytes) -> int:
    assert reply.startswith(b"HTTP/1.1 "), reply[:200]
    return int(reply.split(b" ", 2)[1])


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    health_port: int  # the kubelet's: /healthz, /readyz, /metrics
    log_path: Path
    log: IO[str]

    def events(self) -> list[dict]:
        self.log.flush()
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def start_server(app: Path, log_path: Path, nofile: int | None = None, **env: str) -> Server:
    """`python3 server.py` in app/ with the image's environment (Dockerfile ENV) plus `env`;
    `nofile`: the descriptor limit the process gets (as a container runtime would set it)."""
    port = int(env.pop("PORT", free_port()))
    health_port = int(env.pop("HEALTH_PORT", free_port()))
    environ = {
        "PATH": os.environ["PATH"],
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "USER": "switchyard",
        "LOGNAME": "switchyard",
        "HOME": "/tmp",
        "PORT": str(port),
        "HEALTH_PORT": str(health_port),
        "WEIGHTS_DIR": str(SLOW_MODEL / "weights"),
        **env,
    }
    log = open(log_path, "w+")  # noqa: SIM115 - the server writes to it until stop()

    def limits() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen(
        [sys.executable, "server.py"], cwd=app, env=environ, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limits
    )
    server = Server(proc, port, health_port, log_path, log)
    try:
        wait_for(lambda: proc.poll() is not None or call(port, "/healthz", timeout=2)[0] == 200)
    except BaseException:
        server.stop()
        raise
    assert proc.poll() is None, log_path.read_text()
    return server


REDIS = shutil.which("redis-server")


class RedisServer:
    """A real redis-server on a free port, with append-only persistence so a restart keeps the stream."""

    def __init__(self, directory: Path, *args: str) -> None:
        import redis

        self.port = free_port()
        self.directory = directory
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.client = redis.Redis(host="127.0.0.1", port=self.port, password="s3cret", decode_responses=True)

    def start(self, *args: str, wait: bool = True) -> None:
        self.proc = subprocess.Popen(
            [
                REDIS,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--requirepass",
                "s3cret",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
                *self.args,
                *args,
            ],
            stdout=subprocess.DEVNULL,
        )
        if wait:
            wait_for(self.up)

    def up(self) -> bool:
        import redis

        try:
            return self.client.ping()
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
