"""Time of `make test`, phase by phase: lint, then the test suite with the snapshot check of profiles/ beside it.

    python bench/suite_time.py [--workers N] [--runs N]

Runs the commands of the Makefile's `test` recipe (read from the Makefile, so the two never drift)
in this checkout, after `make install`. For each phase: wall time, and the CPU time of its process
tree that was waited for (user + system; jsii's Node.js is not always waited for, so the CPU
figure is a floor). The load average before each run says how busy the machine was: on a shared
machine the wall time moves with it, the CPU time much less. Target: the whole of `make test`
<= 120 s of wall time on a 2-core machine; each run passes or the benchmark stops.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, env, median

TARGET_S = 120.0


def test_recipe(workers: str) -> list[str]:
    """The shell commands of the Makefile's `test` target as make runs them: continued lines joined,
    `@` dropped, `$$` unescaped and the variables it uses expanded."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    body = re.search(r"^test:.*\n((?:\t.*\n)+)", text, re.M)
    if body is None:
        sys.exit("no `test` target in the Makefile")
    joined = re.sub(r"\\\n\t?", "", body.group(1))
    return [
        line.strip().removeprefix("@").replace("$(PYTEST_WORKERS)", workers).replace("$$", "$")
        for line in joined.splitlines()
    ]


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_phase(command: str) -> tuple[float, float]:
    bin_dir = ROOT / ".venv" / "bin"
    environ = env()
    environ["PATH"] = f"{bin_dir}{os.pathsep}{environ['PATH']}"  # as make's exported PATH has it
    environ["PYTHONDONTWRITEBYTECODE"] = ""  # as the target exports it
    cpu, started = children_cpu(), time.perf_counter()
    r = subprocess.run(command, shell=True, cwd=ROOT, env=environ, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if r.returncode != 0:
        sys.exit(f"`{command}` failed ({r.returncode}):\n{(r.stdout + r.stderr)[-3000:]}")
    return wall, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default=os.environ.get("PYTEST_WORKERS", "4"), help="as PYTEST_WORKERS")
    parser.add_argument("--runs", type=int, default=1, help="whole `make test` runs (each takes minutes)")
    args = parser.parse_args()
    phases = test_recipe(args.workers)
    walls: dict[str, list[float]] = {p: [] for p in phases}
    cpus: dict[str, list[float]] = {p: [] for p in phases}
    for run in range(args.runs):
        load = os.getloadavg()[0]
        print(f"run {run + 1}/{args.runs} (load average {load:.1f} on {os.cpu_count()} CPUs)")
        for phase in phases:
            wall, cpu = run_phase(phase)
            walls[phase].append(wall)
            cpus[phase].append(cpu)
            print(f"  {wall:7.1f} s wall  {cpu:7.1f} s CPU  {phase}")
    total = sum(median(w) for w in walls.values())
    print(f"make test (median of {args.runs}): {total:.1f} s wall, {sum(median(c) for c in cpus.values()):.1f} s CPU")
    print(f"target <= {TARGET_S:.0f} s: {'met' if total <= TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
