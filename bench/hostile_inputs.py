"""Hostile and generated profiles through the real CLI, each in its own process: no traceback,
no hang, bounded memory, valid JSON.

    python bench/hostile_inputs.py [--generated N]

Runs `switchyard plan --json` and `switchyard validate` on every case of tests/test_hostile.py
(billion laughs, deep nesting, NUL bytes, FIFO, /dev/zero, 100 MB, ...) and on N profiles drawn
from the property test's strategy. Reports the slowest run, the peak memory of any run, and the
counts that must be zero. Target: zero tracebacks, zero hangs (20 s), zero non-JSON output,
every exit code documented, peak RSS under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT, env

from stacks.cli import ExitCode
from tests.conftest import MODEL
from tests.test_hostile import HOSTILE, hostile_profiles

HANG_S = 20


def _no_constants(name: str):
    raise ValueError(name)


def corpus(generated: int) -> list[tuple[str, str | None]]:
    from hypothesis import HealthCheck, given, settings

    cases: list[tuple[str, str | None]] = [(name, text) for name, (text, _) in HOSTILE.items()]
    cases += [("fifo", None), ("dev-zero", None), ("100 MB", None)]
    drawn: list[str] = []

    @settings(max_examples=generated, database=None, suppress_health_check=list(HealthCheck), deadline=None)
    @given(hostile_profiles())
    def collect(text):
        drawn.append(text)

    collect()
    return cases + [(f"generated-{i}", text) for i, text in enumerate(drawn)]


def materialize(directory: Path, name: str, text: str | None) -> None:
    (directory / "model.py").write_text(MODEL)
    path = directory / "p.yaml"
    if name == "fifo":
        os.mkfifo(path)
    elif name == "dev-zero":
        path.symlink_to("/dev/zero")
    elif name == "100 MB":
        with path.open("wb") as fh:
            fh.truncate(100 * 1024 * 1024)
    else:
        path.write_text(text or "", encoding="utf-8", errors="surrogatepass")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generated", type=int, default=300)
    args = parser.parse_args()
    cases = corpus(args.generated)
    documented = {int(c) for c in ExitCode}
    bad: dict[str, list[str]] = {"traceback": [], "hang": [], "not json": [], "undocumented exit": [], "silent": []}
    slowest, runs = (0.0, ""), 0
    for name, text in cases:
        with tempfile.TemporaryDirectory() as tmp:
            materialize(Path(tmp), name, text)
            for command in (["plan", "--json"], ["validate"]):
                runs += 1
                started = time.perf_counter()
                try:
                    r = subprocess.run(
                        [sys.executable, "-m", "stacks.cli", *command, tmp],
                        cwd=ROOT,
                        env=env(),
                        capture_output=True,
                        text=True,
                        timeout=HANG_S,
                    )
                except subprocess.TimeoutExpired:
                    bad["hang"].append(name)
                    continue
                elapsed = time.perf_counter() - started
                slowest = max(slowest, (elapsed, f"{name} ({' '.join(command)})"))
                if "Traceback" in r.stderr:
                    bad["traceback"].append(name)
                if r.returncode not in documented:
                    bad["undocumented exit"].append(f"{name}: {r.returncode}")
                if r.returncode != 0 and "error" not in r.stderr + r.stdout:
                    bad["silent"].append(name)
                if command[0] == "plan":
                    try:
                        json.loads(r.stdout, parse_constant=_no_constants)
                    except ValueError:
                        bad["not json"].append(name)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{len(cases)} inputs, {runs} runs; slowest {slowest[0]:.2f} s: {slowest[1]}; peak RSS {peak_mb:.0f} MB")
    for what, names in bad.items():
        print(f"{what}: {len(names)}{'  ' + ', '.join(names[:10]) if names else ''}")
    return 1 if any(bad.values()) or peak_mb > 300 else 0


if __name__ == "__main__":
    sys.exit(main())
