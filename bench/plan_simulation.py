"""CPU the simulation adds to a plan: each example profile decided (Lambda's sizing simulates its burst)
and its plan figures computed (each feasible option's burst, Kubernetes included), in-process.

    python bench/plan_simulation.py [--runs N]

Each run starts with empty memos (stacks/simulate/window.py keeps runs in-process), so a figure is
what a fresh `switchyard plan` pays per profile, the interpreter and imports aside; the median of N
runs. Target: <= 100 ms per profile for the decision and its figures together (issue 18: simulating
each decision doubled the suite's CPU once; a plan must stay interactive).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 100.0


def _forget() -> None:
    from stacks.simulate import verdict, window

    window._RUNS.clear()
    window.burst_window.cache_clear()
    verdict._DECIDED.clear()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    from stacks.commands.plan import to_json
    from stacks.profile.loader import load_profile
    from stacks.targets import decide

    profiles = sorted(p for p in (ROOT / "profiles").glob("*.yaml") if p.name != "platform.yaml")
    to_json(decide(load_profile(profiles[0])))  # imports
    for path in profiles:
        loaded = load_profile(path)
        decided, shown = [], []
        for _ in range(runs):
            _forget()
            began = time.process_time()
            w = decide(loaded)
            middle = time.process_time()
            to_json(w)
            decided.append(middle - began)
            shown.append(time.process_time() - middle)
        d, s = statistics.median(decided) * 1000, statistics.median(shown) * 1000
        verdict = "met" if d + s <= TARGET_MS else "MISSED"
        print(f"{path.stem:<20} decide {d:6.1f} ms  plan figures {s:6.1f} ms  (target <= {TARGET_MS:g} ms: {verdict})")


if __name__ == "__main__":
    main()
