"""The serverless sizing checked against its own simulated peak, and the provisioned floor raised
from it where the averages' floor lets a burst spill onto cold starts or throttles.

The target hands the simulator (stacks/simulate's engine and Lambda model, which import nothing of
the decision or the targets) its own parameters, so sizing can use the simulation without the
decision importing a target. Traffic: the profile's burst model with seed SEED, from LEAD_S before
its first burst to TAIL_S after it (stacks/simulate/traffic.peak_window): a day would be too slow
for every plan, and the lead lets target tracking settle at the base rate first.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacks.pricebook import Platform
from stacks.profile import Profile
from stacks.simulate.constants import DEFAULT
from stacks.simulate.engine import Engine
from stacks.simulate.params import ServerlessParams
from stacks.simulate.results import Recorder, Summary, summarize
from stacks.simulate.serverless import ServerlessSim
from stacks.simulate.traffic import Arrivals, peak_window, shape_of
from stacks.targets.serverless.delivery import HOLD_EVERY_MINUTES, MAX_RECEIVE_COUNT, visibility_timeout_s
from stacks.targets.serverless.sizing import ServerlessSizing

SEED = 0
LEAD_S = 900.0
TAIL_S = 300.0
# The floor search stops here: beyond it the burst is a workload for held capacity, and the plan
# names the cold share instead of buying an unbounded floor.
MAX_FLOOR_FACTOR = 4


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


def peak_arrivals(p: Profile) -> Arrivals:
    return peak_window(shape_of(p), seed=SEED, lead_s=LEAD_S, tail_s=TAIL_S)


def run_peak(p: Profile, params: ServerlessParams, arrivals: Arrivals) -> PeakRun:
    engine, rec = Engine(), Recorder(arrivals.times)
    model = ServerlessSim(
        engine, rec, params, arrivals.service_s, shape_of(p), behaviour=DEFAULT, start=arrivals.start, end=arrivals.end
    )
    engine.feed(arrivals.times, model.arrive)
    engine.run(arrivals.end, None)
    model.finish(arrivals.end)
    return PeakRun(summarize(rec), int(model.usage()["on_demand_inits"]), model.peak)


def _clean(r: PeakRun) -> bool:
    """No throttle, no timeout and no cold start at the peak (a cold start here is over the budget)."""
    return r.summary.throttled == 0 and r.summary.timed_out == 0 and r.on_demand_inits == 0


def floor_from_simulation(p: Profile, s: ServerlessSizing, platform: Platform, reservable: int) -> ServerlessSizing:
    """The averages' sizing, or the smallest provisioned floor (with the reservation to hold it) under
    which the simulated burst meets no cold start and no throttle. Only for provisioned HTTP traffic:
    a queue absorbs a burst (its lag is named by sim.queue_lag), and without provisioning the cold
    start is within the budget."""
    if not s.provisioned or p.sla.mode.value == "async":
        return s
    arrivals = peak_arrivals(p)

    def sized(floor: int, why: str = "") -> ServerlessSizing:
        pc_max = max(s.pc_max, floor)
        # The reservation keeps its headroom above the ceiling (a deployment overlaps environments).
        reserved = min(reservable, max(s.reserved_concurrency, pc_max + (s.reserved_concurrency - s.pc_max)))
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

    def clean(floor: int) -> bool:
        return _clean(run_peak(p, sim_params(p, sized(floor), platform), arrivals))

    first = run_peak(p, sim_params(p, s, platform), arrivals)
    if _clean(first):
        return s
    n = first.summary.requests or 1
    why = (
        f"the averages' provisioned {s.pc_min}-{s.pc_max} with reserved {s.reserved_concurrency} let "
        f"{first.summary.throttled:,} of {n:,} requests ({first.summary.throttled / n:.2%}) be throttled and "
        f"{first.on_demand_inits:,} ({first.on_demand_inits / n:.2%}) pay a ~{s.cold_start.total_ms:,.0f} ms cold start "
        f"in {arrivals.description.rpartition('; ')[2]}"
    )
    top = min(reservable, max(s.pc_max, 1) * MAX_FLOOR_FACTOR)
    if top <= s.pc_min or not clean(top):
        return s  # no floor within reach is clean: the plan names the cold and throttled shares
    lo, hi = s.pc_min, top  # lo not clean, hi clean; the share falls as the floor rises
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if clean(mid) else (mid, hi)
    return sized(hi, why)
