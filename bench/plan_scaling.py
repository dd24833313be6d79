"""Time of the decision engine: `switchyard plan` over 1, 50 and 200 profiles, and `plan --chart`.

    python bench/plan_scaling.py [--runs N]

Each generated profile is the sentiment-api example under another name. Whole-process wall time,
median of N runs; the per-profile figure is (t(200) - t(1)) / 199, the interpreter start removed.
Targets: <= 20 ms per profile (load, sizing, both bills, the rule table); a chart (about 200
bills, the break-even found by bisection, then drawn) <= 3 s per workload.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROFILES, median, project_with, time_over_profile_counts, time_process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    results = time_over_profile_counts(["plan", "--json"], (1, 50, 200), runs)
    per = (results[200] - results[1]) / 199 * 1000
    print(f"decision per profile: {per:.1f} ms  (target <= 20 ms: {'met' if per <= 20 else 'MISSED'})")
    examples = {p.stem: p.read_text() for p in sorted(PROFILES.glob("*.yaml"))}
    with tempfile.TemporaryDirectory() as tmp:
        project = project_with(Path(tmp), examples)
        plain = median(time_process([sys.executable, "-m", "stacks.cli", "plan", "profiles"], project, runs))
        chart = median(
            time_process([sys.executable, "-m", "stacks.cli", "plan", "profiles", "--chart", "charts"], project, runs)
        )
    each = (chart - plain) / len(examples)
    print(
        f"charts for the {len(examples)} examples: {chart - plain:.2f} s, {each:.2f} s each with matplotlib's import "
        f"(target <= 3 s: {'met' if each <= 3 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
