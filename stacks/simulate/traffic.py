"""Arrivals: the profile's shape expanded by a stated, seeded burst model, or a trace of timestamps.

Burst model (profile traffic). Inside the active period, arrivals are a two-state Markov-modulated
Poisson process: a base state at rate b and a burst state at the profile's peak_rps. Bursts last
BURST_MEAN_S on average (exponentially distributed; the peak is "the busiest sustained minute")
and take a share f of the active time, so f * peak + (1 - f) * b = avg_rps; f is BURST_SHARE, or
half of avg/peak when that is smaller (a base rate of at least half the average). Outside the
active period there is no traffic. The seed fixes every draw: same inputs and seed, same arrivals.

Service times: the profile's inference_ms for every request (`fixed`), exponentially distributed
with that mean (`exponential`), or per request from a trace column.

Trace (CSV, read by trace.py). The simulated clock is UTC on the first timestamp's date; the span
opens at the first arrival; `speed` compresses the trace around it.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from stacks.errors import SwitchyardError
from stacks.profile import Profile
from stacks.simulate.params import DAY_S, TrafficShape
from stacks.simulate.trace import TraceRows, iso, read_trace

BURST_MEAN_S = 60.0
BURST_SHARE = 0.05
SERVICE_MODELS = ("fixed", "exponential")


@dataclass(frozen=True)
class Arrivals:
    times: list[float]  # seconds since 00:00 of the simulated day, ascending
    service_s: list[float]  # per request
    start: float  # simulated span
    end: float
    day: date | None  # set for a trace: the clock is UTC on this date
    description: str


def shape_of(p: Profile) -> TrafficShape:
    """The profile's traffic as the simulator reads it."""
    u = p.utilization
    return TrafficShape(
        avg_rps=u.avg_rps,
        peak_rps=u.peak_rps,
        active_hours=u.active_hours_per_day,
        window=u.window_minutes(),
        zone=u.window_timezone(),
        inference_ms=u.inference_ms,
    )


def burst_parameters(shape: TrafficShape) -> tuple[float, float]:
    """(share of active time in bursts, base rate)."""
    if shape.peak_rps <= shape.avg_rps or shape.avg_rps <= 0:
        return 0.0, shape.avg_rps
    share = min(BURST_SHARE, shape.avg_rps / shape.peak_rps / 2)
    base = (shape.avg_rps - share * shape.peak_rps) / (1 - share)
    return share, base


def _service(rng: random.Random, n: int, mean_s: float, model: str) -> list[float]:
    if model == "exponential":
        return [rng.expovariate(1 / mean_s) for _ in range(n)]
    return [mean_s] * n


def profile_arrivals(
    shape: TrafficShape, *, seed: int, start: float = 0.0, end: float = DAY_S, service: str = "fixed"
) -> Arrivals:
    rng = random.Random(seed)
    share, base = burst_parameters(shape)
    gap_mean = BURST_MEAN_S * (1 - share) / share if share else math.inf
    times: list[float] = []
    first, _ = shape.active_seconds()
    length = shape.active_hours * 3600
    day = 0
    while first + day * DAY_S < end:
        lo, hi = first + day * DAY_S, first + day * DAY_S + length
        t, burst = lo, False
        # Start in the base state after a random part of a gap, so bursts do not line up with the window.
        switch = lo + (rng.expovariate(1 / gap_mean) if share else math.inf)
        while t < hi:
            rate = shape.peak_rps if burst else base
            nxt = t + rng.expovariate(rate) if rate > 0 else math.inf
            if nxt >= switch:
                t, burst = switch, not burst
                switch = t + rng.expovariate(1 / (BURST_MEAN_S if burst else gap_mean))
                continue
            t = nxt
            if t >= end:
                break  # nothing later is kept; stopping here keeps a short span cheap
            if t < hi and t >= start:
                times.append(t)
        day += 1
    service_s = _service(rng, len(times), shape.inference_ms / 1000, service)
    what = (
        f"profile shape: {shape.avg_rps:g} rps average, bursts at {shape.peak_rps:g} rps "
        f"({share:.1%} of the active time, {BURST_MEAN_S:g} s on average; base {base:.3g} rps), "
        f"{shape.active_hours:g} h a day; seed {seed}"
    )
    return Arrivals(times, service_s, start, end, None, what)


def _read(path: Path, column: str | None) -> TraceRows:
    """read_trace, once per file and column while the file is unchanged: several profiles replay
    one trace, and a million rows take seconds to parse."""
    try:
        stat = path.stat()
    except OSError:
        return read_trace(path, column)  # which says why it cannot read it
    return _read_unchanged(path, column, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1)
def _read_unchanged(path: Path, column: str | None, _mtime_ns: int, _size: int) -> TraceRows:
    return read_trace(path, column)


def load_trace(
    path: Path,
    *,
    mean_inference_ms: float,
    speed: float = 1.0,
    inference_ms_column: str | None = None,
    inference_scale_column: str | None = None,
    service: str = "fixed",
    seed: int = 0,
    hours: float | None = None,
) -> Arrivals:
    """Arrivals from a CSV trace (trace.py reads and checks it).

    The span opens at the first arrival and lasts `hours`, or else the whole days that hold the
    trace: a month repeats the span, so a one-hour trace is a day's traffic wherever midnight falls
    in it. The clock stays seconds since 00:00 UTC of the first arrival's date (the provisioned
    concurrency schedule is set in it).
    """
    if speed <= 0 or not math.isfinite(speed):
        raise SwitchyardError(f"--speed {speed}: must be a number > 0")
    rows = _read(path, inference_ms_column or inference_scale_column)
    stamps = rows.stamps
    day = datetime.fromtimestamp(stamps[0], UTC).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    first = stamps[0] - midnight
    times = [first + (s - stamps[0]) / speed for s in stamps]
    start = first
    whole_days = (math.floor((times[-1] - start) / DAY_S) + 1) * DAY_S
    end = start + (hours * 3600 if hours is not None else whole_days)
    kept = [i for i, t in enumerate(times) if t < end]
    if len(kept) < len(times):
        times = [times[i] for i in kept]
    if inference_ms_column:
        service_s = [rows.costs[i] / 1000 for i in kept]
    elif inference_scale_column:
        mean = sum(rows.costs) / len(rows.costs)
        if mean <= 0:
            raise SwitchyardError(f"{path}: {inference_scale_column}: every value is 0; nothing to scale by")
        service_s = [mean_inference_ms / 1000 * rows.costs[i] / mean for i in kept]
    else:
        service_s = _service(random.Random(seed), len(times), mean_inference_ms / 1000, service)
    what = (
        f"trace {path.name}: {len(stamps):,} requests over {(stamps[-1] - stamps[0]) / 60:,.1f} min from "
        f"{iso(stamps[0])}" + (f", {speed:g}x faster" if speed != 1 else "")
    )
    if len(times) < len(stamps):
        what += f", {len(times):,} of them in the simulated {(end - start) / 3600:g} h"
    if inference_ms_column:
        what += f"; service time from column {inference_ms_column} (ms)"
    elif inference_scale_column:
        what += f"; service time {mean_inference_ms:g} ms scaled by column {inference_scale_column}"
    return Arrivals(times, service_s, start, end, day, what)
