"""`plan --write-lock` where the lock cannot be written: one located error line, no traceback, no debris."""

from __future__ import annotations

import contextlib
import io

import pytest

from stacks import cli
from tests.conftest import copy_profiles


@pytest.mark.parametrize("where", ["missing-dir/plan.lock.json", "a-dir"])
def test_an_unwritable_lock_is_one_error_line(tmp_path, where):
    profiles = copy_profiles(tmp_path, drop=("fraud-scoring", "llm-chat", "nightly-embeddings"))
    lock = tmp_path / where
    if where == "a-dir":
        lock.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["plan", str(profiles), "--write-lock", "--lock", str(lock)])
    assert code == 1, err.getvalue()
    assert "Traceback" not in err.getvalue()
    errors = [line for line in err.getvalue().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(lock) in errors[0], err.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no half-written lock beside it
