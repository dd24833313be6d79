"""Run `switchyard` in the test process: the same `main` as the console script, minus a cold start.

A fresh interpreter pays ~7 s to import aws-cdk-lib and the Pulumi SDK and warm jsii's Node.js
before the first synth; in this process that is paid once per worker and later runs take about a
second. The entry point itself stays covered: tests/test_cli.py runs commands in a subprocess, the
real CDK CLI test runs the app in a fresh interpreter, and `make test` ends with the console script's
`switchyard snapshot --check profiles` (a full synth of both targets).
"""

from __future__ import annotations

import contextlib
import io
import os
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
