"""Expensive set-up done once per test run and shared by every xdist worker.

A session fixture is built once per worker: with N workers, a synth that costs seconds of CPU is
paid N times. `once(...)` builds into a directory of the run's temporary root (shared by the
workers of one `pytest -n N`, private to that run) under a file lock: the first worker to ask
builds it, the others wait for the lock and read what it wrote. Whatever `build` writes is the
result; treat it as read only.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's temporary root: shared by its xdist workers (each has a popen-gwN folder in it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once(tmp_path_factory: pytest.TempPathFactory, key: str, build: Callable[[Path], None]) -> Path:
    """`build(directory)` once per run for `key`; returns the directory it filled."""
    root = run_root(tmp_path_factory) / "run-once"
    root.mkdir(exist_ok=True)
    directory, done = root / key, root / f"{key}.done"
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this worker dies
        if not done.exists():
            shutil.rmtree(directory, ignore_errors=True)  # a build that raised in another worker
            directory.mkdir()
            build(directory)
            done.touch()
    return directory
