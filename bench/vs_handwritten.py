"""`switchyard synth` of the sentiment-api example against a hand-written CDK app with the same resources.

    python bench/vs_handwritten.py [--runs N]

Both are whole processes, both run the AwsSolutions and Serverless cdk-nag packs; Switchyard also
validates the profile, decides, and renders the build context (the hand-written app is given a
context rendered beforehand). Median of N runs each, and the ratio. Target: <= 1.2 x.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROFILES, ROOT, median, project_with, time_process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        project = project_with(Path(tmp) / "p", {"sentiment-api": (PROFILES / "sentiment-api.yaml").read_text()})
        time_process([sys.executable, "-m", "stacks.cli", "render", "profiles", "--out", "ctx"], project, 1)
        hand = [
            sys.executable,
            str(ROOT / "bench" / "handwritten_app.py"),
            str(project / "ctx" / "sentiment-api"),
            str(project / "profiles" / "models" / "sentiment" / "weights"),
            str(Path(tmp) / "hand.out"),
        ]
        ours = [sys.executable, "-m", "stacks.cli", "synth", "profiles"]
        hand_t, ours_t = [], []
        for _ in range(runs):  # interleaved, so drift on the machine hits both alike
            hand_t += time_process(hand, project, 1)
            ours_t += time_process(ours, project, 1)
    h, o = median(hand_t), median(ours_t)
    print(f"hand-written CDK app : median {h:5.2f} s ({', '.join(f'{t:.2f}' for t in hand_t)})")
    print(f"switchyard synth     : median {o:5.2f} s ({', '.join(f'{t:.2f}' for t in ours_t)})")
    print(f"switchyard / hand-written = {o / h:.2f} x  (target <= 1.2: {'met' if o / h <= 1.2 else 'MISSED'})")


if __name__ == "__main__":
    main()
