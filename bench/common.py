"""Helpers shared by the benchmarks: whole-process timing, medians, a project copy."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "tests" / "fixtures" / "profiles"  # the fixture set: benchmarks never depend on profiles/


def env() -> dict[str, str]:
    """aws-cdk-lib needs node on PATH: prefer the pinned one from package.json."""
    return {**os.environ, "PATH": f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


def time_process(argv: list[str], cwd: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        r = subprocess.run(argv, cwd=cwd, env=env(), capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if r.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed:\n{r.stderr[-3000:]}")
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def project_with(tmp: Path, profiles: dict[str, str]) -> Path:
    """A fresh project directory holding the example model and the given profiles (name -> text)."""
    (tmp / "profiles").mkdir(parents=True)
    shutil.copytree(PROFILES / "models", tmp / "profiles" / "models")
    for name, text in profiles.items():
        (tmp / "profiles" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp


def generated_profiles(n: int) -> dict[str, str]:
    """n copies of the sentiment-api fixture profile under other names (name -> text), and a
    platform.yaml with an account concurrency quota raised for them: plan refuses a set whose
    reserved concurrency exceeds the quota (7 each; the default quota of 1,000 holds 128). Their
    alarms are explicitly unsubscribed, as in the examples: synth refuses alarms nobody hears."""
    base = (PROFILES / "sentiment-api.yaml").read_text()
    generated = {f"gen-{i:03d}": base.replace("name: sentiment-api", f"name: gen-{i:03d}") for i in range(n)}
    platform = (
        f"platform:\n  lambda_account_concurrency: {max(1000, 10 * n + 100)}\n  alarms_without_subscribers: true\n"
    )
    return {**generated, "platform": platform}


def time_over_profile_counts(command: list[str], counts: tuple[int, ...], runs: int) -> dict[int, float]:
    """Median whole-process time of `switchyard <command> profiles` over projects of n generated profiles."""
    import tempfile

    results = {}
    for n in counts:
        with tempfile.TemporaryDirectory() as tmp:
            project = project_with(Path(tmp), generated_profiles(n))
            times = time_process([sys.executable, "-m", "stacks.cli", *command, "profiles"], project, runs)
        results[n] = median(times)
        print(
            f"{' '.join(command)} {n:>3} profiles: median {results[n]:6.2f} s over {runs} runs "
            f"({', '.join(f'{t:.2f}' for t in times)})"
        )
    return results
