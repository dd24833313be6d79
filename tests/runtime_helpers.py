"""Run the rendered Kubernetes server the way its image does, and talk to it."""

from __future__ import annotations

import json
import os
import re
import shutil
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
from tests.ports import free_port

SLOW_MODEL = SLOW_PROFILE.parent
__all__ = ["Server", "call", "free_port", "metric", "render_server", "slow_profile", "start_server", "wait_for"]


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


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
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


def start_server(app: Path, log_path: Path, **env: str) -> Server:
    """`python3 server.py` in app/ with the image's environment (Dockerfile ENV) plus `env`."""
    port = int(env.pop("PORT", free_port()))
    environ = {
        "PATH": os.environ["PATH"],
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "USER": "switchyard",
        "LOGNAME": "switchyard",
        "HOME": "/tmp",
        "PORT": str(port),
        "WEIGHTS_DIR": str(SLOW_MODEL / "weights"),
        **env,
    }
    log = open(log_path, "w+")  # noqa: SIM115 - the server writes to it until stop()
    proc = subprocess.Popen([sys.executable, "server.py"], cwd=app, env=environ, stdout=log, stderr=subprocess.STDOUT)
    server = Server(proc, port, log_path, log)
    try:
        wait_for(lambda: proc.poll() is not None or call(port, "/healthz", timeout=2)[0] == 200)
    except BaseException:
        server.stop()
        raise
    assert proc.poll() is None, log_path.read_text()
    return server
