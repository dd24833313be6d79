"""The serverless sizing checked against its own simulated peak: the reservation (free) covers the
simulated peak concurrency so the burst is not throttled, and the provisioned floor (paid) rises only
where the averages' floor lets more than COLD_TOLERANCE of the requests pay a cold start.

The target hands the simulator (stacks/simulate's engine and Lambda model, which import nothing of
the decision or the targets) its own parameters, so sizing can use the simulation without the
decision importing a target. Traffic: the profile's burst model with seed SEED, from LEAD_S before
its first burst to TAIL_S after it (stacks/simulate/traffic.peak_window): a day would be too slow
for every plan, and the lead lets target tracking settle at the base rate first. Each run is cached
by its inputs (traffic shape and simulator parameters): a process that decides one profile again
(tests, `plan` then `synth`) simulates it once.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacks.pricebook import Platform
from stacks.profile import Profile
from stacks.simulate.constants import DEFAULT
from stacks.simulate.engine import Engine
from stacks.simulate.params import ServerlessParams, TrafficShape
from stacks.simulate.results import OK, Recorder, Summary, summarize
from stacks.simulate.serverless import ServerlessSim
from stacks.simulate.traffic import Arrivals, peak_window, shape_of
from stacks.targets.serverless.delivery import HOLD_EVERY_MINUTES, MAX_RECEIVE_COUNT, visibility_timeout_s
from stacks.targets.serverless.sizing import ServerlessSizing

SEED = 0
LEAD_S = 900.0
TAIL_S = 300.0
# A p99 target allows 1 % of requests above it: a cold share within that is the SLA's own slack, and
# buying a floor to remove it would multiply the bill for what the SLA already permits (sentiment-api:
# removing a 0.06 % share took provisioned 10 instead of 1, $105.61 instead of $21.43).
COLD_TOLERANCE = 0.01
# The floor search stops here: beyond it the burst is a workload for held capacity, and the plan
# names the cold share instead of buying an unbounded floor.
MAX_FLOOR_FACTOR = 4
UNBOUNDED = 1_000_000  # a reservation no burst reaches (Lambda's scaling rate still applies)


def sim_params(p: Profile, s: ServerlessSizing, platform: Platform) -> ServerlessParams:
    cold = s.cold_start
    return ServerlessParams(
        mode=p.sla.mode.value,
        memory_gb=s.memory_mb / 1024,
        architecture=s.architecture,
        timeout_s=float(s.timeout_s),
        invoke_overhead_s=platform.lambda_invoke_overhead_ms / 1000,
        cold_start_s=cold.total_ms / 1000,
        cold_start_parts_ms=dict(cold.model_dump()),
        environment_lifetime_s=platform.lambda_environment_lifetime_h * 3600,
        reserved_concurrency=s.reserved_concurrency,
        provisioned=s.provisioned,
        pc_min=s.pc_min,
        pc_max=s.pc_max,
        pc_scheduled=s.pc_scheduled,
        pc_prewarm_s=s.pc_prewarm_minutes * 60.0,
        pc_hold_every_s=HOLD_EVERY_MINUTES * 60.0,
        pc_target_utilization=platform.pc_target_utilization,
        queue_max_concurrency=s.queue_max_concurrency,
        batch_size=s.queue_batch_size,
        batch_window_s=float(s.queue_batch_window_s),
        visibility_timeout_s=float(visibility_timeout_s(s.timeout_s)),
        max_receive_count=MAX_RECEIVE_COUNT,
        weights_gb=p.model.weights_gb,
        weights_in_image=s.weights_in_image,
    )


@dataclass(frozen=True)
class PeakRun:
    summary: Summary
    on_demand_inits: int
    peak_environments: int
    missed: int  # requests that paid a cold start, or were throttled or timed out: over the SLA

    @property
    def missed_share(self) -> float:
        return self.missed / self.summary.requests if self.summary.requests else 0.0


def peak_arrivals(p: Profile) -> Arrivals:
    return peak_window(shape_of(p), seed=SEED, lead_s=LEAD_S, tail_s=TAIL_S)


_RUNS: dict[tuple[TrafficShape, str], PeakRun] = {}
_RUNS_KEPT = 256


def run_peak(p: Profile, params: ServerlessParams) -> PeakRun:
    """The peak window simulated once per (traffic, parameters) in a process."""
    # ServerlessParams holds a dict (the cold-start parts), so its repr is the hashable part of the key.
    shape = shape_of(p)
    key = (shape, repr(params))
    if key not in _RUNS:
        if len(_RUNS) >= _RUNS_KEPT:
            del _RUNS[next(iter(_RUNS))]
        _RUNS[key] = _simulate_peak(shape, params)
    return _RUNS[key]


def _simulate_peak(shape: TrafficShape, params: ServerlessParams) -> PeakRun:
    arrivals = peak_window(shape, seed=SEED, lead_s=LEAD_S, tail_s=TAIL_S)
    engine, rec = Engine(), Recorder(arrivals.times)
    model = ServerlessSim(
        engine, rec, params, arrivals.service_s, shape, behaviour=DEFAULT, start=arrivals.start, end=arrivals.end
    )
    engine.feed(arrivals.times, model.arrive)
    engine.run(arrivals.end, None)
    model.finish(arrivals.end)
    missed = sum(1 for cold, code in zip(rec.cold, rec.code, strict=True) if cold or code != OK)
    return PeakRun(summarize(rec), int(model.usage()["on_demand_inits"]), model.peak, missed)


def _sized(s: ServerlessSizing, *, floor: int, reserved: int, reservable: int, why: str) -> ServerlessSizing:
    pc_max = max(s.pc_max, floor)
    # The reservation keeps its headroom above the ceiling (a deployment overlaps environments).
    reserved = min(reservable, max(reserved, pc_max + (s.reserved_concurrency - s.pc_max)))
    environments = max(s.environments, pc_max)
    warm = min(environments, max(s.warm_environments, floor))
    return s.model_copy(
        update={
            "pc_min": floor,
            "pc_max": pc_max,
            "reserved_concurrency": reserved,
            "environments": environments,
            "warm_environments": warm,
            "cold_starts_per_day": environments + warm * s.recycles_per_day,
            "raised_by_simulation": why,
        }
    )


def sized_from_simulation(p: Profile, s: ServerlessSizing, platform: Platform, reservable: int) -> ServerlessSizing:
    """The averages' sizing with (1) the provisioned floor raised to the smallest under which at most
    COLD_TOLERANCE of the simulated peak's requests miss the SLA (a cold start over the budget, or a
    timeout), only where the averages' floor exceeds it (else sim.coldstart names the accepted share),
    and (2) the reservation raised to the simulated peak concurrency at that floor, within what the
    account leaves (it costs nothing; a shortfall is named by sim.throttle). HTTP traffic only: a
    queue absorbs a burst into lag (sim.queue_lag), not into throttles."""
    if p.sla.mode.value == "async":
        return s
    window = peak_arrivals(p).description.rpartition("; ")[2]

    def run(floor: int) -> PeakRun:
        # No reservation cap: the burst is not throttled, so its peak is what it needs (the account's
        # share is applied after, and a shortfall is named rather than hidden in the measurement).
        unbounded = _sized(s, floor=floor, reserved=UNBOUNDED, reservable=UNBOUNDED, why="")
        return run_peak(p, sim_params(p, unbounded, platform))

    why: list[str] = []
    floor, first = s.pc_min, run(s.pc_min)
    top = min(reservable, max(s.pc_max, 1) * MAX_FLOOR_FACTOR)
    if (
        s.provisioned
        and first.missed_share > COLD_TOLERANCE
        and top > s.pc_min
        and run(top).missed_share <= COLD_TOLERANCE
    ):
        lo, hi = s.pc_min, top  # lo over the tolerance, hi within it; the share falls as the floor rises
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if run(mid).missed_share <= COLD_TOLERANCE else (mid, hi)
        floor = hi
        why.append(
            f"provisioned {s.pc_min}-{s.pc_max} -> {hi}-{max(s.pc_max, hi)}: the averages' floor let "
            f"{first.missed_share:.2%} of {first.summary.requests:,} requests miss the SLA "
            f"({first.on_demand_inits:,} on-demand cold starts of ~{s.cold_start.total_ms:,.0f} ms, "
            f"{first.summary.timed_out:,} timed out) in the simulated {window}, over the {COLD_TOLERANCE:.0%} "
            f"a p99 target allows; {hi} is the smallest floor within it"
        )
    need = run(floor).peak_environments
    sized = _sized(s, floor=floor, reserved=max(s.reserved_concurrency, need), reservable=reservable, why="")
    if sized.reserved_concurrency > s.reserved_concurrency:
        why.append(
            f"reserved {s.reserved_concurrency} -> {sized.reserved_concurrency}: the simulated burst peaks at "
            f"{need} concurrent environments"
            + (f", more than the {reservable} the account leaves" if need > reservable else "")
        )
    raised = sized.reserved_concurrency != s.reserved_concurrency
    return sized.model_copy(
        update={"raised_by_simulation": "; ".join(why), "reserved_for_simulated_peak": need if raised else 0}
    )
