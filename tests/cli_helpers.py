"""Run `switchyard` in the test process: the same `main` as the console script, minus a cold start.

A fresh interpreter pays ~7 s to import aws-cdk-lib and the Pulumi SDK and warm jsii's Node.js
before the first synth; in this process that is paid once per worker and later runs take about a
second. tests/test_cli.py and one journey test keep running the real entry point in a subprocess.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from stacks import cli


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def switchyard(*args: str, cwd: Path) -> Result:
    """`switchyard ARGS` run from `cwd`: exit code, stdout and stderr, like a subprocess's."""
    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exc:  # argparse's usage errors and --version
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(before)
    return Result(code, out.getvalue(), err.getvalue())


def switchyard_process(*args: str, cwd: Path, timeout: float = 280) -> subprocess.CompletedProcess[str]:
    """`python -m stacks.cli ARGS` in a fresh interpreter: the entry point as a user's shell runs it."""
    return subprocess.run(
        [sys.executable, "-m", "stacks.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
