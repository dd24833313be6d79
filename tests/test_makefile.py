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
