"""What a caller lives through, per request and in total, and the run's timeline for the chart.

Outcomes are HTTP-like codes: 200 served, 503 refused by a full replica, 429 throttled by Lambda
(reserved concurrency or the scaling rate), 504 past the timeout, 599 sent to the dead-letter
queue, 0 not answered when the simulated span ended. Latency percentiles are over the requests
that waited for an answer (200 and 504: a caller whose request timed out waited the timeout);
a fast refusal has no latency worth averaging in. Percentiles are nearest-rank, the same function
the validation applies to measured latencies.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

OK, REJECTED, THROTTLED, TIMED_OUT, DEAD_LETTER, UNFINISHED = 200, 503, 429, 504, 599, 0


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    k = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[k - 1]


class Recorder:
    """Per-request outcome, latency, wait before service and cold start, indexed like the arrivals."""

    __slots__ = ("arrivals", "capacity", "code", "cold", "latency", "wait")

    def __init__(self, arrivals: list[float]) -> None:
        n = len(arrivals)
        self.arrivals = arrivals
        self.latency = array("d", bytes(8 * n))
        self.wait = array("d", bytes(8 * n))
        self.code = array("H", bytes(2 * n))
        self.cold = bytearray(n)
        self.capacity: list[tuple[float, int]] = []  # (time, ready capacity) at each change

    def answer(self, i: int, code: int, latency_s: float) -> None:
        self.code[i] = code
        self.latency[i] = latency_s

    def waited(self, i: int, seconds: float) -> None:
        self.wait[i] = seconds

    def mark_cold(self, i: int) -> None:
        self.cold[i] = 1

    def set_capacity(self, t: float, value: int) -> None:
        if not self.capacity or self.capacity[-1][1] != value:
            self.capacity.append((t, value))


@dataclass
class Timeline:
    bucket_s: float
    starts: list[float]  # bucket start, seconds since the simulated day's 00:00
    load_rps: list[float]  # arrivals per second
    capacity: list[float]  # most ready environments / replicas in the bucket
    p50_ms: list[float | None]
    p99_ms: list[float | None]
    max_ms: list[float | None]  # the slowest answer: where a cold start shows when it is rarer than 1 %
    refused: list[int]  # 503 + 429 + 504 + dead letters arriving in the bucket
    cold: list[int]


@dataclass
class Summary:
    requests: int
    served: int
    rejected: int
    throttled: int
    timed_out: int
    dead_lettered: int
    unfinished: int
    cold_starts: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_wait_s: float

    @property
    def cold_share(self) -> float:
        return self.cold_starts / self.requests if self.requests else 0.0


def summarize(rec: Recorder) -> Summary:
    counts = {OK: 0, REJECTED: 0, THROTTLED: 0, TIMED_OUT: 0, DEAD_LETTER: 0, UNFINISHED: 0}
    waited: list[float] = []
    for code, latency in zip(rec.code, rec.latency, strict=True):
        counts[code] = counts.get(code, 0) + 1
        if code in (OK, TIMED_OUT):
            waited.append(latency)
    waited.sort()
    ms = [None if v is None else v * 1000 for v in (percentile(waited, p) for p in (50, 95, 99))]
    return Summary(
        requests=len(rec.code),
        served=counts[OK],
        rejected=counts[REJECTED],
        throttled=counts[THROTTLED],
        timed_out=counts[TIMED_OUT],
        dead_lettered=counts[DEAD_LETTER],
        unfinished=counts[UNFINISHED],
        cold_starts=sum(rec.cold),
        p50_ms=ms[0],
        p95_ms=ms[1],
        p99_ms=ms[2],
        max_wait_s=max(rec.wait, default=0.0),
    )


def timeline(rec: Recorder, start: float, end: float, buckets: int = 288) -> Timeline:
    span = max(end - start, 1.0)
    bucket = max(1.0, span / buckets)
    n = math.ceil(span / bucket)
    arrivals = [0] * n
    refused = [0] * n
    cold = [0] * n
    lat: list[list[float]] = [[] for _ in range(n)]
    for t, code, latency, c in zip(rec.arrivals, rec.code, rec.latency, rec.cold, strict=True):
        b = min(n - 1, max(0, int((t - start) / bucket)))
        arrivals[b] += 1
        cold[b] += c
        if code in (OK, TIMED_OUT):
            lat[b].append(latency)
        if code != OK and code != UNFINISHED:
            refused[b] += 1
    capacity = [0.0] * n
    steps = rec.capacity
    k, level = 0, 0
    for b in range(n):
        lo, hi = start + b * bucket, start + (b + 1) * bucket
        while k < len(steps) and steps[k][0] <= lo:
            level = steps[k][1]
            k += 1
        top = level
        j = k
        while j < len(steps) and steps[j][0] < hi:
            top = max(top, steps[j][1])
            j += 1
        capacity[b] = top
    p50, p99, top = [], [], []
    for values in lat:
        values.sort()
        p50.append(None if not values else percentile(values, 50) * 1000)
        p99.append(None if not values else percentile(values, 99) * 1000)
        top.append(None if not values else values[-1] * 1000)
    return Timeline(
        bucket_s=bucket,
        starts=[start + b * bucket for b in range(n)],
        load_rps=[a / bucket for a in arrivals],
        capacity=capacity,
        p50_ms=p50,
        p99_ms=p99,
        max_ms=top,
        refused=refused,
        cold=cold,
    )


@dataclass
class TargetResult:
    workload: str
    target: str  # serverless | kubernetes
    mode: str  # sync | async | both (both is simulated on its synchronous path)
    span_s: float
    summary: Summary
    max_queue_age_s: float | None  # async: longest a message waited before a worker took it
    capacity_unit: str  # environment-hours | replica-hours
    capacity_hours: float  # what existed (initialising, serving or idle-but-billed) over the span
    peak_capacity: int
    usage: dict[str, float]  # the quantities the bill is priced from, over the span
    cost: object  # stacks.decision.cost.Cost for a month of this traffic
    plan_cost_usd: float  # the plan's monthly figure, for comparison
    timeline: Timeline
    notes: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)  # the plan's reasons this option cannot run (empty: it can)
    bill_title: str = "bill from use"  # --window burst: the plan's bill (a burst is not a month)
