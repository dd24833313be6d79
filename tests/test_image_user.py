"""The rendered custom server serves as the image's UID with no passwd entry, using the image's ENV."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from stacks.packaging import RUN_AS_UID, render
from stacks.profile import Target
from tests.conftest import ROOT
from tests.packaging_helpers import workload
from tests.runtime_helpers import free_port

PROFILE = ROOT / "tests" / "fixtures" / "getuser_model" / "profile.yaml"
SETPRIV = shutil.which("setpriv")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(60),
    pytest.mark.skipif(SETPRIV is None or os.geteuid() != 0, reason="needs setpriv (util-linux) and root"),
]


def dockerfile_env(dockerfile: Path) -> dict[str, str]:
    """The ENV the image sets, as `docker run` would give it to the process."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in line[4:].split())
    return env


def as_uid(env: dict[str, str], *argv: str, **kwargs) -> subprocess.Popen:
    cmd = [SETPRIV, "--reuid", str(RUN_AS_UID), "--regid", str(RUN_AS_UID), "--clear-groups", *argv]
    return subprocess.Popen(cmd, env=env, **kwargs)


@pytest.fixture
def image(tmp_path):
    # a directory the unprivileged UID can read, like the image's /app; HOME is its own emptyDir
    root = Path(tempfile.mkdtemp(prefix="sy-image-"))
    os.chmod(root, 0o755)
    ctx = render(workload(PROFILE), root / "build", Target.kubernetes)
    shutil.copytree(PROFILE.parent / "weights", root / "weights")
    home = root / "home"
    home.mkdir()
    os.chown(home, RUN_AS_UID, RUN_AS_UID)
    for p in root.rglob("*"):
        if p != home and home not in p.parents:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
    env = dockerfile_env(ctx / "Dockerfile")
    env.update(
        PATH=os.environ["PATH"],
        HOME=str(home),
        WEIGHTS_DIR=str(root / "weights"),
        PYTHONPATH=os.pathsep.join(sys.path[1:]),
    )
    yield ctx, env
    shutil.rmtree(root, ignore_errors=True)


def test_the_uid_has_no_passwd_entry_and_would_crash_without_the_image_env(image):
    _, env = image
    bare = {k: v for k, v in env.items() if k not in ("USER", "LOGNAME")}
    probe = as_uid(bare, sys.executable, "-c", "import getpass; getpass.getuser()", stderr=subprocess.PIPE)
    assert probe.wait(timeout=20) != 0 and b"uid not found" in probe.stderr.read()


def test_the_rendered_server_serves_as_a_uid_with_no_passwd_entry(image):
    ctx, env = image
    assert (env["USER"], env["LOGNAME"]) == ("switchyard", "switchyard")
    port, health_port = free_port(), free_port()
    # API_KEY as the pod gets it from the workload's Secret
    env.update(PORT=str(port), HEALTH_PORT=str(health_port), API_KEY="k3y")
    proc = as_uid(env, sys.executable, "server.py", cwd=ctx / "app", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "not ready in time"
                time.sleep(0.1)
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            data=b'{"inputs": [2, "whoami"]}',
            headers={"content-type": "application/json", "authorization": "Bearer k3y"},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.read() == b'{"outputs":[4.0,"switchyard"]}'
        assert (Path(env["HOME"]) / ".cache" / "model" / "seen").stat().st_uid == RUN_AS_UID
    finally:
        proc.kill()
        proc.wait()
