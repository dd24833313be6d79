"""Time to synthesize 1, 10 and 50 generated profiles in one `switchyard synth` process.

    python bench/synth_scaling.py [--runs N]

Each generated profile is the sentiment-api example under another name (serverless: the CDK
path, with cdk-nag, is the expensive one). Whole-process wall time, median of N runs.
Target: 50 profiles <= 2 x the time of 1 (the one-off jsii/Node start dominates).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import time_over_profile_counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    results = time_over_profile_counts(["synth"], (1, 10, 50), runs)
    ratio = results[50] / results[1]
    print(f"50 / 1 = {ratio:.2f} x  (target <= 2.0: {'met' if ratio <= 2.0 else 'MISSED'})")
    print(f"10 / 1 = {results[10] / results[1]:.2f} x")


if __name__ == "__main__":
    main()
