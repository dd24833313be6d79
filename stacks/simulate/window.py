"""The traffic a plan simulates for its decision: one burst of the profile's shape, from a settled base.

A day of traffic costs seconds to replay; a plan runs for every profile, often several times in a
process, so the decision simulates only the span that decides (`switchyard simulate --window burst`
replays the same one, with its chart):

- Arrivals: WARMUP_S at the base rate, then BURST_S at peak_rps (the burst model's mean length and
  rates, stacks/simulate/traffic.py), Poisson, seeded. The window opens at the start of the active
  period, so a scheduled provisioned floor is held, as it is all the active hours. A burst of more
  than MAX_BURST_REQUESTS is cut to hold that many (its ramp, where cold starts and throttles
  cluster, is kept; the plan says so): beyond ~1,000 rps a full minute would cost seconds a plan.
- State: each model starts where its autoscaler settles at the base load. Kubernetes: the replicas
  the HPA holds for it (ceil(base in-flight / per-replica target), within min and max), its history
  holding that recommendation. Lambda: the provisioned floor the schedule holds (the averages' floor
  is at least the average load's, so target tracking has nothing to add at the base), the on-demand
  environments the base load keeps warm beyond it (settled_on_demand), and the SQS pollers at the
  event source's maximum (added 300 a minute while messages wait). The warm-up lets Kubernetes'
  scaling metric fill its rate window (Lambda's run opens only LAMBDA_WARMUP_S before the burst);
  its requests are simulated but not counted.
- Counted: the requests arriving during the burst. Every queue the models keep serves first come,
  first served, so a later request cannot change a counted one's outcome: arrivals stop at the
  burst's end, and the run goes on without them until every counted request has its answer and, on
  Kubernetes, the replicas are back to the settled count (the base load's share of the scaling metric
  is added meanwhile: KubernetesSim's base_after), so the replica-seconds a burst adds are measured.

Runs are memoised in-process by their full inputs (window, parameters, behaviour): the floor search,
the plan's figures and a second plan of the same profile share them. A serverless run whose
reservation never bound (the peak stayed below it) is the same run for any reservation at or above
its peak, so one run answers both the search's unbounded question and the sized function's.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
from collections import OrderedDict
from dataclasses import dataclass, replace

from stacks.simulate.constants import DEFAULT, Behaviour
from stacks.simulate.engine import Engine
from stacks.simulate.kubernetes import KubernetesSim
from stacks.simulate.params import KubernetesParams, ServerlessParams, TrafficShape
from stacks.simulate.results import OK, THROTTLED, UNFINISHED, Recorder, Summary, summarize
from stacks.simulate.serverless import ServerlessSim
from stacks.simulate.traffic import BURST_MEAN_S, Arrivals, burst_parameters

SEED = 0
WARMUP_S = 60.0  # the Kubernetes scaling metric's rate window: the shortest memory that settles
# Lambda starts settled (its environments warm, its pollers added, its floor held), so its run opens
# only this long before the burst, for the requests in flight when it starts.
LAMBDA_WARMUP_S = 10.0
BURST_S = BURST_MEAN_S
MAX_BURST_REQUESTS = 60_000
STEP_S = 60.0  # after the last arrival the run goes on in steps of this, checking whether it is done
AFTER_CAP_S = 3600.0  # and stops this long after the burst at the latest (a backlog that never drains)
RUNS_KEPT = 512


@dataclass(frozen=True)
class BurstWindow:
    shape: TrafficShape
    seed: int
    arrivals: Arrivals
    start: float
    burst_start: float
    burst_end: float
    burst_s: float
    base_rps: float
    counted: tuple[int, int]  # arrival indices [first, last) of the burst's requests

    @property
    def requests(self) -> int:
        return self.counted[1] - self.counted[0]

    def describe(self) -> str:
        """e.g. '60 s at the 40 rps peak after 60 s at the 1.03 rps base (not counted); seed 0'."""
        cut = f" (cut from {BURST_S:g} s to hold {MAX_BURST_REQUESTS:,} requests)" if self.burst_s < BURST_S else ""
        return (
            f"{self.burst_s:g} s at the {self.shape.peak_rps:g} rps peak{cut} after {WARMUP_S:g} s at the "
            f"{self.base_rps:.3g} rps base (not counted); seed {self.seed}"
        )


def _poisson(rng: random.Random, rate: float, lo: float, hi: float, out: list[float]) -> None:
    if rate <= 0:
        return
    t = lo + rng.expovariate(rate)
    while t < hi:
        out.append(t)
        t += rng.expovariate(rate)


@functools.lru_cache(maxsize=64)
def burst_window(shape: TrafficShape, seed: int = SEED) -> BurstWindow:
    """The window for a profile's shape. Without bursts (peak_rps <= avg_rps) the 'burst' is a minute
    of the steady rate after the warm-up."""
    _, base = burst_parameters(shape)
    start, _ = shape.active_seconds()
    length = min(BURST_S, MAX_BURST_REQUESTS / shape.peak_rps) if shape.peak_rps > 0 else BURST_S
    burst_start, burst_end = start + WARMUP_S, start + WARMUP_S + length
    rng = random.Random(seed)
    times: list[float] = []
    _poisson(rng, base, start, burst_start, times)
    first = len(times)
    _poisson(rng, shape.peak_rps, burst_start, burst_end, times)
    service = [shape.inference_ms / 1000] * len(times)
    arrivals = Arrivals(times, service, start, burst_end, None, "")
    return BurstWindow(shape, seed, arrivals, start, burst_start, burst_end, length, base, (first, len(times)))


@dataclass(frozen=True)
class WindowRun:
    """One target's simulated burst: the figures over the counted requests, the usage over the run."""

    summary: Summary  # the burst's requests
    cold_or_failed: int  # counted requests that paid a cold start or were not answered 200
    peak: int  # most environments (Lambda, warm) or replicas (Kubernetes) at once, over the run
    capacity_seconds: float  # environment- or replica-seconds over the run
    settled: int  # replicas at the base (Kubernetes); the provisioned floor (Lambda)
    span_s: float  # window start to the run's end
    drained: bool  # every counted request answered before AFTER_CAP_S
    max_queue_age_s: float | None  # async: the longest a message waited before a worker took it
    on_demand_inits: int = 0  # Lambda
    on_demand_invocations: int = 0  # Lambda: invocations on on-demand environments, over the run
    on_demand_s: float = 0.0  # Lambda: their billed duration, cold starts included
    burst_on_demand_share: float = 0.0  # Lambda: of the invocations from the burst on, those on demand
    throttled_any: bool = False  # Lambda: some request (counted or not) was throttled
    pod_starts: int = 0  # Kubernetes
    spill_span_s: float = 0.0  # Lambda: first to last on-demand cold start among the counted requests

    @property
    def cold_or_failed_share(self) -> float:
        return self.cold_or_failed / self.summary.requests if self.summary.requests else 0.0


_RUNS: OrderedDict[tuple, WindowRun] = OrderedDict()


def _remember(key: tuple, run: WindowRun) -> WindowRun:
    _RUNS[key] = run
    while len(_RUNS) > RUNS_KEPT:
        _RUNS.popitem(last=False)
    return run


def _counted_summary(rec: Recorder, window: BurstWindow) -> tuple[Summary, int]:
    lo, hi = window.counted
    part = Recorder(window.arrivals.times[lo:hi])
    part.code, part.latency, part.wait, part.cold = (
        rec.code[lo:hi],
        rec.latency[lo:hi],
        rec.wait[lo:hi],
        rec.cold[lo:hi],
    )
    missed = sum(1 for c, code in zip(part.cold, part.code, strict=True) if c or code != OK)
    return summarize(part), missed


def _unanswered(rec: Recorder, window: BurstWindow) -> bool:
    lo, hi = window.counted
    return UNFINISHED in rec.code[lo:hi]


def _same_run_shape(window: BurstWindow, params: ServerlessParams) -> TrafficShape:
    """The shape as far as a Lambda run depends on it. A synchronous run ends with the burst, inside the
    active period, where the provisioned floor is held throughout; it opens on a whole minute, so the
    scaling rate's 10-second periods fall alike: the same run wherever the active period lies, however
    long it is (a chart's sweep over the active hours, or another window, reuses it)."""
    shape = window.shape
    if params.mode != "async" and shape.active_hours * 3600 >= window.burst_end - window.start:
        return replace(shape, active_hours=24.0, window=None, zone="UTC")
    return shape


def run_serverless(window: BurstWindow, params: ServerlessParams, behaviour: Behaviour = DEFAULT) -> WindowRun:
    """The Lambda model over the window (memoised; see the module's note on reservations)."""
    shape = _same_run_shape(window, params)
    family = ("serverless", shape, window.seed, repr(replace(params, reserved_concurrency=0)), behaviour)
    reserved = params.reserved_concurrency
    for (kind, *rest), run in _RUNS.items():
        if kind == "serverless-run" and tuple(rest[:-1]) == family[1:] and run.peak < rest[-1] and run.peak <= reserved:
            _RUNS.move_to_end((kind, *rest))
            return run
    run, _ = trace_serverless(window, params, behaviour)
    return _remember(("serverless-run", *family[1:], reserved), run)


def settled_on_demand(window: BurstWindow, params: ServerlessParams) -> int:
    """On-demand environments a function keeps warm at the base load: its in-flight requests plus three
    standard deviations (Poisson: an idle environment lives minutes before Lambda reclaims it, so the
    base's busiest moments stay warm), beyond the provisioned floor; a queue's consumers at most."""
    inflight = window.base_rps * (window.shape.inference_ms / 1000 + params.invoke_overhead_s)
    if inflight <= 0:
        return 0
    need = math.ceil(inflight + 3 * math.sqrt(inflight))
    if params.mode == "async":
        return min(need, max(params.queue_max_concurrency, 1))
    return max(0, need - (params.pc_min if params.provisioned else 0))


def trace_serverless(
    window: BurstWindow, params: ServerlessParams, behaviour: Behaviour = DEFAULT
) -> tuple[WindowRun, Recorder]:
    """The run and its per-request record (for `switchyard simulate --window burst`'s chart); not memoised."""
    a = window.arrivals
    engine, rec = Engine(), Recorder(a.times)
    cap = window.burst_end + AFTER_CAP_S
    lead = max(a.start, window.burst_start - LAMBDA_WARMUP_S)
    first = bisect.bisect_left(a.times, lead)
    model = ServerlessSim(
        engine,
        rec,
        params,
        a.service_s,
        window.shape,
        behaviour=behaviour,
        start=lead,
        end=cap,
        settled=window.base_rps > 0,
        warm_on_demand=settled_on_demand(window, params),
    )
    arrive = model.arrive
    engine.feed(a.times[first:], (lambda i: arrive(i + first)) if first else arrive)
    engine.run(window.burst_start)
    od0, invocations0 = model.od_invocations, model.invocations
    engine.run(window.burst_end)
    now = window.burst_end
    while model.queue_mode and (model.queue or model.inflight) and now < cap:
        now = min(cap, now + STEP_S)
        engine.run(now)
    model.finish(now)
    summary, missed = _counted_summary(rec, window)
    lo, hi = window.counted
    colds = [a.times[i] for i in range(lo, hi) if rec.cold[i]]
    run = WindowRun(
        summary=summary,
        cold_or_failed=missed,
        peak=model.peak,
        capacity_seconds=model.pc_env_seconds + model.od_alive_seconds,
        settled=params.pc_min if params.provisioned else 0,
        span_s=now - lead,
        drained=not _unanswered(rec, window),
        max_queue_age_s=model.max_queue_age if model.queue_mode else None,
        on_demand_inits=model.inits,
        on_demand_invocations=model.od_invocations,
        on_demand_s=model.od_billed_seconds,
        burst_on_demand_share=(model.od_invocations - od0) / max(1, model.invocations - invocations0),
        throttled_any=THROTTLED in rec.code,
        spill_span_s=(colds[-1] - colds[0]) if colds else 0.0,
    )
    return run, rec


def settled_replicas(window: BurstWindow, k: KubernetesParams) -> int:
    """The replicas the HPA holds at the base load: its own formula (ceil(metric / target)) with the
    metric at the base in-flight requests (Little's law); a queue worker keeps up with it."""
    inflight = window.base_rps * window.shape.inference_ms / 1000
    if inflight <= 0:
        return k.min_replicas
    per = k.http_target if k.serves_http else float(k.replica_concurrency)
    need = math.ceil(inflight / per - 1e-9) if per > 0 else k.min_replicas
    return max(k.min_replicas, 1, min(k.max_replicas, need))


def run_kubernetes(window: BurstWindow, params: KubernetesParams, behaviour: Behaviour = DEFAULT) -> WindowRun:
    """The Kubernetes model over the window, from the settled replicas (memoised)."""
    key = ("kubernetes-run", window.shape, window.seed, repr(params), behaviour)
    if key in _RUNS:
        _RUNS.move_to_end(key)
        return _RUNS[key]
    return _remember(key, trace_kubernetes(window, params, behaviour)[0])


def trace_kubernetes(
    window: BurstWindow, params: KubernetesParams, behaviour: Behaviour = DEFAULT
) -> tuple[WindowRun, Recorder]:
    """The run and its per-request record; not memoised."""
    a = window.arrivals
    engine, rec = Engine(), Recorder(a.times)
    cap = window.burst_end + AFTER_CAP_S
    settled = settled_replicas(window, params)
    inflight = window.base_rps * window.shape.inference_ms / 1000
    model = KubernetesSim(
        engine,
        rec,
        params,
        a.service_s,
        seed=window.seed,
        behaviour=behaviour,
        start=a.start,
        end=cap,
        settled=settled,
        base_after=(window.burst_end, inflight),
    )
    engine.feed(a.times, model.arrive)
    engine.run(window.burst_end)
    now = window.burst_end
    while now < cap and (_unanswered(rec, window) or model.replicas > settled or len(model.pods) > model.replicas):
        now = min(cap, now + STEP_S)
        engine.run(now)
    model.finish(now)
    summary, missed = _counted_summary(rec, window)
    run = WindowRun(
        summary=summary,
        cold_or_failed=missed,
        peak=model.peak,
        capacity_seconds=model.replica_seconds,
        settled=settled,
        span_s=now - a.start,
        drained=not _unanswered(rec, window),
        max_queue_age_s=model.max_queue_age if model.queue_mode else None,
        pod_starts=model.pod_starts,
    )
    return run, rec


__all__ = [
    "AFTER_CAP_S",
    "BURST_S",
    "LAMBDA_WARMUP_S",
    "MAX_BURST_REQUESTS",
    "SEED",
    "WARMUP_S",
    "BurstWindow",
    "WindowRun",
    "burst_window",
    "run_kubernetes",
    "run_serverless",
    "settled_on_demand",
    "settled_replicas",
    "trace_kubernetes",
    "trace_serverless",
]
