"""Arrivals: the profile's shape expanded by a stated, seeded burst model, or a trace of timestamps.

Burst model (profile traffic). Inside the active period, arrivals are a two-state Markov-modulated
Poisson process: a base state at rate b and a burst state at the profile's peak_rps. Bursts last
BURST_MEAN_S on average (exponentially distributed; the peak is "the busiest sustained minute")
and take a share f of the active time, so f * peak + (1 - f) * b = avg_rps; f is BURST_SHARE, or
half of avg/peak when that is smaller (a base rate of at least half the average). Outside the
active period there is no traffic. The seed fixes every draw: same inputs and seed, same arrivals.

Service times: the profile's inference_ms for every request (`fixed`), exponentially distributed
with that mean (`exponential`), or per request from a trace column.

Trace (CSV). A header row with a TIMESTAMP column (any case): ISO 8601 (naive times are UTC) or
epoch seconds; other columns are ignored unless a cost column is named. The simulated clock is
UTC on the first timestamp's date; `speed` compresses the trace around its first arrival.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from stacks.errors import SwitchyardError
from stacks.profile import Profile
from stacks.simulate.params import DAY_S, TrafficShape

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


def _timestamp(text: str) -> datetime:
    text = text.strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    stamp = datetime.fromisoformat(text)  # ValueError for anything else
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _column(header: list[str], wanted: str, path: Path) -> int:
    lowered = [h.strip().lower() for h in header]
    if wanted.lower() not in lowered:
        raise SwitchyardError(
            f"{path}:1: no column '{wanted}' in the header; columns: {', '.join(h.strip() for h in header)}"
        )
    return lowered.index(wanted.lower())


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
    """Arrivals from a CSV trace; every problem names the file and line and what is allowed."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise SwitchyardError(f"--trace {path}: cannot read it ({exc.strerror or exc})") from None
    stamps: list[datetime] = []
    costs: list[float] = []
    cost_column = inference_ms_column or inference_scale_column
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise SwitchyardError(
                    f"{path}:1: empty trace; allowed: a CSV with a TIMESTAMP header and one row per request"
                )
            ts = _column(header, "TIMESTAMP", path)
            cost = _column(header, cost_column, path) if cost_column else None
            for row in reader:
                line = reader.line_num
                if not row or not any(cell.strip() for cell in row):
                    continue
                if ts >= len(row):
                    raise SwitchyardError(f"{path}:{line}: TIMESTAMP: missing (the row has {len(row)} columns)")
                try:
                    stamp = _timestamp(row[ts])
                except ValueError:
                    raise SwitchyardError(
                        f"{path}:{line}: TIMESTAMP: '{row[ts][:40]}' is not a time; allowed: ISO 8601 "
                        "(2023-11-16 18:17:03.98, naive times are UTC) or epoch seconds (1700158623.98)"
                    ) from None
                if stamps and stamp < stamps[-1]:
                    raise SwitchyardError(
                        f"{path}:{line}: TIMESTAMP: {stamp.isoformat()} is earlier than the row before it "
                        f"({stamps[-1].isoformat()}); the trace must be sorted by arrival time"
                    )
                stamps.append(stamp)
                if cost is not None:
                    cell = row[cost] if cost < len(row) else ""
                    try:
                        value = float(cell)
                    except ValueError:
                        value = math.nan
                    if not math.isfinite(value) or value < 0:
                        raise SwitchyardError(f"{path}:{line}: {cost_column}: '{cell[:40]}' is not a number >= 0")
                    costs.append(value)
        except UnicodeDecodeError:
            raise SwitchyardError(f"{path}: not UTF-8 text; allowed: a CSV file with a TIMESTAMP column") from None
        except csv.Error as exc:
            raise SwitchyardError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    if not stamps:
        raise SwitchyardError(f"{path}: no requests after the header; allowed: one row per request")
    if speed <= 0 or not math.isfinite(speed):
        raise SwitchyardError(f"--speed {speed}: must be a number > 0")
    midnight = datetime(stamps[0].year, stamps[0].month, stamps[0].day, tzinfo=UTC)
    first = (stamps[0] - midnight).total_seconds()
    times = [first + ((s - midnight).total_seconds() - first) / speed for s in stamps]
    if hours is not None:
        start, end = math.floor(first / 3600) * 3600.0, math.floor(first / 3600) * 3600.0 + hours * 3600
    else:
        start, end = 0.0, max(1, math.ceil(times[-1] / DAY_S + 1e-12)) * DAY_S
    kept = [i for i, t in enumerate(times) if start <= t < end]
    times = [times[i] for i in kept]
    if inference_ms_column:
        service_s = [costs[i] / 1000 for i in kept]
    elif inference_scale_column:
        mean = sum(costs) / len(costs)
        if mean <= 0:
            raise SwitchyardError(f"{path}: {inference_scale_column}: every value is 0; nothing to scale by")
        service_s = [mean_inference_ms / 1000 * costs[i] / mean for i in kept]
    else:
        service_s = _service(random.Random(seed), len(times), mean_inference_ms / 1000, service)
    span = stamps[-1] - stamps[0]
    what = (
        f"trace {path.name}: {len(stamps):,} requests over {span / timedelta(minutes=1):,.1f} min from "
        f"{stamps[0].isoformat()}" + (f", {speed:g}x faster" if speed != 1 else "")
    )
    if inference_ms_column:
        what += f"; service time from column {inference_ms_column} (ms)"
    elif inference_scale_column:
        what += f"; service time {mean_inference_ms:g} ms scaled by column {inference_scale_column}"
    return Arrivals(times, service_s, start, end, midnight.date(), what)
