"""Shared reporting: failures to stderr, and the exit code of a batch."""

from __future__ import annotations

import sys

from stacks.workloads import Batch, Failure


def print_failures(failures: list[Failure]) -> None:
    for f in failures:
        print(f"error: {f.error}", file=sys.stderr)


def exit_code(batch: Batch) -> int:
    """0 when everything loaded; otherwise the code of the first failure (they are ordered)."""
    if not batch.failures:
        return 0 if batch.workloads else 1
    return max(f.error.exit_code for f in batch.failures)


def print_no_profiles(batch: Batch, paths) -> None:
    """A run that found nothing to do says so (its exit code is 1)."""
    if not batch.workloads and not batch.failures:
        where = ", ".join(map(str, paths)) if paths else "profiles"
        print(f"error: no profiles (*.yaml) found in {where}", file=sys.stderr)
