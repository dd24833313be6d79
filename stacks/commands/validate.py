from __future__ import annotations

import sys
from pathlib import Path

from stacks.commands.report import exit_code, print_failures, print_no_profiles
from stacks.workloads import load_all


def run(paths: list[Path]) -> int:
    batch = load_all(paths)
    for w in batch.workloads:
        print(f"ok    {w.file}")
    print_failures(batch.failures)
    print(f"{len(batch.workloads)} valid, {len(batch.failures)} invalid", file=sys.stderr)
    print_no_profiles(batch, paths)
    return exit_code(batch)
