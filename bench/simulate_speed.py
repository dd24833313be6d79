"""Speed of `switchyard simulate`: a one-hour trace of 20,000 requests, each target, on one core.

    python bench/simulate_speed.py [--runs N]

The trace is written here: exactly 20,000 arrivals in one hour (09:00-10:00 UTC, inside
sentiment-api's provisioned-concurrency window, so the schedule and target tracking run too),
drawn from the burst model (seed 1) and stretched to the hour, as a CSV of epoch seconds. Two
figures per target, each the median of N runs:

- in-process CPU: trace load + simulation + summary + bill (not the interpreter start or the
  profile load), what the simulator itself costs;
- the command a user types, `switchyard simulate sentiment-api.yaml --trace FILE --target T --json`,
  in a fresh process pinned to one core (wall time, interpreter start and imports included).

Target: a few seconds per target on one core (issue 18): 3 s, met by both figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PROFILES, env  # noqa: E402
from stacks.cli import use_pinned_node  # noqa: E402

REQUESTS = 20_000
HOUR_S = 3600.0
NINE_UTC = 1_700_125_200  # 2023-11-16 09:00:00 UTC
TARGET_S = 3.0
PROFILE = PROFILES / "sentiment-api.yaml"


def write_trace(path: Path) -> None:
    from stacks.simulate.params import TrafficShape
    from stacks.simulate.traffic import profile_arrivals

    rate = REQUESTS / HOUR_S
    shape = TrafficShape(avg_rps=rate, peak_rps=rate * 8, active_hours=24, window=None, zone="UTC", inference_ms=80)
    drawn = profile_arrivals(shape, seed=1, end=86_400).times
    assert len(drawn) > REQUESTS, len(drawn)
    # The first 20,000 arrivals, stretched so the last lands just before the hour ends: the bursts
    # keep their shape and the trace is exactly one hour of exactly 20,000 requests.
    scale = (HOUR_S - 1) / drawn[REQUESTS - 1]
    path.write_text("TIMESTAMP\n" + "".join(f"{NINE_UTC + t * scale:.6f}\n" for t in drawn[:REQUESTS]))


def in_process(trace: Path, runs: int) -> dict[str, tuple[float, int]]:
    from stacks.simulate.run import Options, arrivals_for, simulate
    from stacks.workloads import load_all

    (workload,) = load_all([PROFILE]).workloads
    options = Options(trace=trace)
    simulate(workload, "serverless", arrivals_for(workload, options), options)  # imports, caches
    out = {}
    for target in ("serverless", "kubernetes"):
        times = []
        for _ in range(runs):
            began = time.process_time()
            arrivals = arrivals_for(workload, options)
            result = simulate(workload, target, arrivals, options)
            times.append(time.process_time() - began)
        out[target] = (statistics.median(times), result.summary.requests)
    return out


def command(trace: Path, target: str, runs: int) -> float:
    argv = [sys.executable, "-m", "stacks.cli", "simulate", str(PROFILE), "--trace", str(trace)]
    argv += ["--target", target, "--json"]
    core = min(os.sched_getaffinity(0))
    walls = []
    for _ in range(runs):
        began = time.perf_counter()
        r = subprocess.run(
            argv,
            cwd=ROOT,
            env=env(),
            capture_output=True,
            text=True,
            preexec_fn=lambda: os.sched_setaffinity(0, {core}),
        )
        walls.append(time.perf_counter() - began)
        if r.returncode != 0 or f'"requests": {REQUESTS}' not in r.stdout:
            sys.exit(f"{' '.join(argv)} failed:\n{r.stderr[-3000:]}")
    return statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    use_pinned_node()
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.csv"
        write_trace(trace)
        inside = in_process(trace, runs)
        for target, (cpu, n) in inside.items():
            assert n == REQUESTS, (target, n)
            wall = command(trace, target, runs)
            verdict = "met" if max(cpu, wall) <= TARGET_S else "MISSED"
            print(
                f"{target:<10} {n:,} requests in 1 h: simulator {cpu:.2f} s CPU ({cpu / n * 1e5:.2f} s per 100,000); "
                f"`switchyard simulate` {wall:.2f} s wall on one core  (target <= {TARGET_S:g} s: {verdict})"
            )
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest command's peak memory: {rss:,.0f} MB")


if __name__ == "__main__":
    main()
