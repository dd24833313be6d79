"""`make help` is the map of the project's commands: every target listed, each with what it does."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

MAKE = shutil.which("make")


@pytest.mark.skipif(MAKE is None, reason="GNU make is not installed")
def test_help_lists_every_target_with_one_line_and_is_the_default():
    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    for argv in ([MAKE, "-s", "help"], [MAKE, "-s"]):  # plain `make` prints the same map, installs nothing
        r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        lines = {line.split()[0]: line for line in r.stdout.splitlines()[1:]}
        assert sorted(lines) == sorted(phony), "a target without a `## what it does` comment"
        for target, line in lines.items():
            assert len(line.split(maxsplit=1)[1]) > 15, f"{target}: say what it does"
            assert len(line) <= 100, f"{target}: one line of a terminal"


@pytest.mark.skipif(MAKE is None, reason="GNU make is not installed")
@pytest.mark.parametrize(("suite", "snapshots", "expected"), [(0, 0, 0), (1, 0, 1), (0, 1, 1), (2, 1, 2)])
def test_make_test_fails_when_the_suite_or_the_snapshot_check_beside_it_fails(tmp_path, suite, snapshots, expected):
    """`make test`'s own commands (`make -n`), run with a pytest and a switchyard that exit as told:
    the snapshot check runs beside the suite, its verdict is printed after the suite's, and either
    failing fails the target (the suite's exit code first)."""
    stamps = ["--assume-old=.venv/.installed", "--assume-old=node_modules/.installed"]  # the target's own commands only
    r = subprocess.run([MAKE, "-s", "-n", *stamps, "test"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    commands = r.stdout.replace("\\\n", "")
    assert "pip install" not in commands and "npm ci" not in commands, commands
    assert "switchyard snapshot --check profiles" in commands and "pytest -n " in commands
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ruff").write_text("#!/bin/sh\nexit 0\n")
    (fake / "pytest").write_text(f"#!/bin/sh\necho the suite ran; exit {suite}\n")
    (fake / "switchyard").write_text(f"#!/bin/sh\nsleep 0.2; echo the profiles were checked; exit {snapshots}\n")
    for tool in fake.iterdir():
        tool.chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run(["/bin/sh", "-c", commands], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == expected, run.stdout + run.stderr
    assert run.stdout.index("the suite ran") < run.stdout.index("the profiles were checked")
