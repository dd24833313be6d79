"""Speed of `switchyard simulate`: a one-hour trace of 20,000 requests, each target, one core.

    python bench/simulate_speed.py [--runs N]

The trace is written here: 20,000 arrivals in one hour from the burst model (seed 1), as a CSV of
epoch seconds, replayed against the sentiment-api example on both targets. Timed in-process
(trace load + simulation + summary + bill, not the interpreter start or the profile load), the
median of N runs. Target: a few seconds per target (issue 18); reported per target and per
100,000 requests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stacks.cli import use_pinned_node  # noqa: E402

REQUESTS = 20_000
TARGET_S = 3.0


def write_trace(path: Path) -> None:
    from stacks.simulate.params import TrafficShape
    from stacks.simulate.traffic import profile_arrivals

    rate = REQUESTS / 3600
    shape = TrafficShape(avg_rps=rate, peak_rps=rate * 8, active_hours=1, window=None, zone="UTC", inference_ms=80)
    times = profile_arrivals(shape, seed=1, end=3600).times[:REQUESTS]
    base = 1_700_000_000
    path.write_text("TIMESTAMP\n" + "".join(f"{base + t:.6f}\n" for t in times))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    use_pinned_node()
    from stacks.simulate.run import Options, arrivals_for, simulate
    from stacks.workloads import load_all

    (workload,) = load_all([ROOT / "tests" / "fixtures" / "profiles" / "sentiment-api.yaml"]).workloads
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.csv"
        write_trace(trace)
        options = Options(trace=trace, hours=1)
        simulate(workload, "serverless", arrivals_for(workload, options), options)  # imports, caches
        for target in ("serverless", "kubernetes"):
            times = []
            for _ in range(runs):
                began = time.process_time()
                arrivals = arrivals_for(workload, options)
                result = simulate(workload, target, arrivals, options)
                times.append(time.process_time() - began)
            t = statistics.median(times)
            n = result.summary.requests
            verdict = "met" if t <= TARGET_S else "MISSED"
            print(
                f"{target:<10} {n:,} requests in 1 h: {t:.2f} s CPU ({t / n * 1e5:.2f} s per 100,000)  "
                f"(target <= {TARGET_S:g} s: {verdict})"
            )


if __name__ == "__main__":
    main()
