"""`switchyard simulate`: replay traffic against each target's scaling and report what callers live through."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from stacks.commands.report import exit_code, print_failures, print_no_profiles
from stacks.errors import SwitchyardError
from stacks.simulate.chart import draw
from stacks.simulate.report import constants_json, text, to_json
from stacks.simulate.run import Options, arrivals_for, not_simulated, simulate, targets_for
from stacks.workloads import Batch, Failure, load_all

PROGRESS_AFTER_S = 2.0  # a run shorter than this prints nothing on stderr


class _Progress:
    """One stderr line now and then for long runs; nothing for short ones."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.shown = 0.0

    def __call__(self, label: str, now: float, start: float, end: float) -> None:
        wall = time.monotonic()
        if wall - self.began < PROGRESS_AFTER_S or wall - self.shown < 1.0:
            return
        self.shown = wall
        done = (now - start) / (end - start) if end > start else 1.0
        print(f"simulating {label}: {done:.0%} of the span", file=sys.stderr, flush=True)


def run(
    paths: list[Path],
    *,
    target: str = "auto",
    as_json: bool = False,
    chart_dir: Path | None = None,
    chart_format: str = "png",
    options: Options | None = None,
) -> int:
    options = options or Options()
    if chart_dir is not None and chart_dir.exists() and not chart_dir.is_dir():
        raise SwitchyardError(f"--chart {chart_dir}: exists and is not a directory; name a directory for the images")
    batch = load_all(paths)
    progress = _Progress()
    opts = Options(**{**options.__dict__, "progress": progress})
    docs, texts, charts = [], [], []
    failures = list(batch.failures)
    for w in batch.workloads:
        try:
            chosen = targets_for(w, target)
        except SwitchyardError as exc:
            failures.append(Failure(w.file, exc))
            continue
        skipped = not_simulated(w, target)
        arrivals = arrivals_for(w, opts)
        results = [simulate(w, t, arrivals, opts) for t in chosen]
        sla = w.profile.sla.p99_latency_ms
        if as_json:
            docs.append(to_json(w.name, str(w.file), w.target.value, arrivals, opts.seed, results, skipped))
        else:
            texts.append(text(w.name, str(w.file), w.target.value, sla, arrivals, results, skipped))
        if chart_dir is not None:
            try:
                charts.append(draw(w.name, sla, results, chart_dir, chart_format))
            except OSError as exc:
                raise SwitchyardError(f"--chart {chart_dir}: cannot write the images ({exc.strerror or exc})") from None
    if as_json:
        doc = {
            "workloads": docs,
            "errors": [
                {"file": str(f.file), "message": str(f.error), "exit_code": f.error.exit_code} for f in failures
            ],
            "constants": constants_json(),
        }
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        if texts:
            print("\n\n".join(texts))
        print_failures(failures)
    for path in charts:
        print(f"wrote {path}", file=sys.stderr)
    print_no_profiles(batch, paths)
    return exit_code(Batch(batch.workloads, failures))
