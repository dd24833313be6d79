"""The CLI as a new user meets it: the pinned Node.js, a one-line error without one, and the
loader's rule hook that the other validation rules plug into."""

from __future__ import annotations

import contextlib
import io
import os
import shutil

import pytest

from stacks import cli
from stacks.commands.outputs import require_node
from stacks.errors import Hit, ProfileError
from stacks.profile import loader
from tests.conftest import PROFILES, ROOT, VALID


def test_the_cli_puts_the_pinned_node_first_on_path(monkeypatch):
    pinned = ROOT / "node_modules" / ".bin"
    assert (pinned / "node").exists(), "run `make install`: package.json pins Node.js 22"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir("/")  # found from the package's checkout, not only from the working directory
    cli.use_pinned_node()
    assert os.environ["PATH"].split(os.pathsep)[0] == str(pinned)


def test_synth_keeps_no_node_compile_cache_in_the_users_cache(tmp_path, monkeypatch):
    """Earlier releases set NODE_COMPILE_CACHE for jsii's Node.js. jsii loads aws-cdk-lib through a new
    temporary folder in each process, so the cache never hit and grew by ~830 files a synth. The
    environment a synth hands the Node.js it starts (require_node runs before jsii) sets none."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NODE_COMPILE_CACHE", raising=False)
    require_node()
    assert "NODE_COMPILE_CACHE" not in os.environ
    assert not (tmp_path / "cache").exists()


def test_without_node_synth_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES, profiles)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(cli, "use_pinned_node", lambda: None)  # as on a machine without `make install`
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(
            ["synth", str(profiles), "--cdk-out", str(tmp_path / "cdk.out"), "--build", str(tmp_path / "b")]
        )
    assert code == 1
    errors = [line for line in err.getvalue().splitlines() if line.startswith("error:")]
    assert errors == [f"error: {cli_node_message()}"]
    assert "Traceback" not in err.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "profiles"]  # no outputs, no staging debris


def cli_node_message() -> str:
    from stacks.commands.outputs import NODE_MISSING

    assert "make install" in NODE_MISSING and "Node.js 22" in NODE_MISSING
    return NODE_MISSING


def test_a_rule_set_reports_located_errors(write_profile, monkeypatch):
    """How a validation rule plugs in: yield Hits; the loader adds the file and the line."""

    def quota(profile, settings, file):
        if profile.utilization.peak_rps > 10:
            yield Hit(("utilization", "peak_rps"), f"{profile.utilization.peak_rps:g} rps is over 10", "at most 10")

    monkeypatch.setattr(loader, "RULE_SETS", [*loader.RULE_SETS, quota])
    path = write_profile(VALID)
    with pytest.raises(ProfileError) as info:
        loader.load_profile(path)
    assert str(info.value) == f"{path}:18: utilization.peak_rps: 20 rps is over 10\n    allowed: at most 10"


def test_snapshot_update_refuses_to_stop_early():
    """syrupy deletes the snapshots of tests an early stop skipped: -x with --snapshot-update is refused."""
    import subprocess
    import sys

    before = sorted((ROOT / "tests" / "__snapshots__").rglob("*"))
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "--snapshot-update", "-x", "-p", "no:cacheprovider", "tests/test_schema.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 4, r.stdout[-1000:]
    assert "--snapshot-update with -x/--maxfail would delete the snapshots" in r.stderr
    assert sorted((ROOT / "tests" / "__snapshots__").rglob("*")) == before
