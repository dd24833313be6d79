"""The serverless sizing checked against its own simulated burst (stacks/simulate/window.py: one burst
at peak_rps from a settled base, the burst's requests counted).

Synchronous traffic (sync, both):
- the provisioned floor (paid) rises only where the averages' floor lets more than COLD_TOLERANCE of
  the burst's requests miss the SLA (a cold start over the budget, a throttle or a timeout), to the
  smallest floor within it (searched up from the averages' floor to MAX_FLOOR_FACTOR x its ceiling);
- the reservation (free) rises to twice the burst's simulated peak of environments (the averages'
  rule, twice the expected peak, applied to the peak cold starts really make: they hold environments
  far beyond the averages' peak, and a day's bursts vary around the simulated one), within what the
  account leaves, so bursts are not throttled.
Queued traffic (async): the queue absorbs a burst into lag, not throttles, and nothing in the sizing
or the bill depends on it: the burst's longest wait (simulated_run) is simulated only where it is shown
or alarmed on (the plan's figures, the queue-age alarm's threshold at synth), not for every decision.

The target hands the simulator its own parameters (sim_params), so the decision never imports a target
and stacks/simulate's models import nothing above the profile. Every run is memoised by its inputs
(stacks/simulate/window.py), so the plan's figures reuse the search's last run.
"""

from __future__ import annotations

import math

from stacks.limits import LAMBDA_INIT_LIMIT_MS
from stacks.pricebook import Platform
from stacks.profile import Mode, Profile
from stacks.simulate.params import ServerlessParams
from stacks.simulate.traffic import shape_of
from stacks.simulate.window import BURST_S, BurstWindow, WindowRun, burst_window, run_serverless
from stacks.targets.serverless.delivery import HOLD_EVERY_MINUTES, MAX_RECEIVE_COUNT, visibility_timeout_s
from stacks.targets.serverless.sizing import ServerlessSizing

# A p99 target allows 1 % of requests above it: a cold share within that is the SLA's own slack, and
# buying a floor to remove it would multiply the bill for what the SLA already permits.
COLD_TOLERANCE = 0.01
# The floor search stops here: beyond it the burst is a workload for held capacity, and the plan
# names the cold share instead of buying an unbounded floor.
MAX_FLOOR_FACTOR = 4
UNBOUNDED = 1_000_000  # a reservation no burst reaches (Lambda's scaling rate still applies)
FLOOR_OF_LOG = 1e-4  # a share of 0 interpolates as this (one request in 10,000)
RESERVE_FACTOR = 2  # stacks/targets/serverless/sizing.py reserves twice the averages' peak likewise


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
        init_limit_s=LAMBDA_INIT_LIMIT_MS / 1000,
        xray_reservoir_per_s=platform.xray_reservoir_per_s,
        xray_sampling_rate=platform.xray_sampling_rate,
    )


def window_of(p: Profile) -> BurstWindow:
    return burst_window(shape_of(p))


def simulated_run(p: Profile, s: ServerlessSizing, platform: Platform) -> WindowRun:
    """The sized function over the profile's burst window (a memoised run the sizing already made)."""
    return run_serverless(window_of(p), sim_params(p, s, platform))


def _sized(s: ServerlessSizing, *, floor: int, reserved: int, reservable: int) -> ServerlessSizing:
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
        }
    )


def _missed_share(run: WindowRun, s: ServerlessSizing) -> float:
    """Requests over the SLA: throttled or timed out, or (when the cold start is over the budget,
    which is when the sizing provisions) paying a cold start."""
    if s.provisioned:
        return run.cold_or_failed_share
    failed = run.summary.requests - run.summary.served
    return failed / run.summary.requests if run.summary.requests else 0.0


def _full_burst_spill(window: BurstWindow, run: WindowRun, cold_s: float) -> tuple[int, float]:
    """A burst's on-demand invocations and billed seconds over the burst model's full length, which the
    bill multiplies by bursts a month. A window cut to MAX_BURST_REQUESTS keeps the ramp, where the cold
    starts are; the environments they start serve on from the end of their cold start to the burst's end,
    so their warm invocations and seconds scale with that span (within ~5 % of a full-length run)."""
    if window.burst_s >= BURST_S:
        return run.on_demand_invocations, run.on_demand_s
    scale = (BURST_S - cold_s) / max(window.burst_s - cold_s, 1.0)
    cold_total = run.on_demand_inits * cold_s
    warm_invocations = max(0, run.on_demand_invocations - run.on_demand_inits)
    warm_s = max(0.0, run.on_demand_s - cold_total)
    return run.on_demand_inits + round(warm_invocations * scale), cold_total + warm_s * scale


def _smallest_floor_within(share, lo: int, lo_share: float, top: int, peak: int) -> int | None:
    """The smallest floor in (lo, top] whose missed share is within COLD_TOLERANCE (None if top misses more),
    given lo misses more. A probe of a large burst costs ~0.2 s, so the search spends few: the burst's own
    peak of environments (the unbounded run's) leaves nothing to start cold, so it brackets the answer
    (doubling on from it in the rare case it does not), and the bracket closes by interpolating the log of
    the share, which falls about geometrically with the floor."""
    hi, step = min(top, max(lo + 1, peak)), 1
    hi_share = share(hi)
    while hi_share > COLD_TOLERANCE:
        if hi >= top:
            return None
        lo, lo_share, step = hi, hi_share, max(step, hi) * 2
        hi = min(top, lo + step)
        hi_share = share(hi)

    # Illinois' regula falsi on g = ln(share / tolerance), positive at lo, negative at hi: a side kept twice
    # in a row has its g halved, so the bracket closes from both sides instead of creeping from one.
    def g(v: float) -> float:
        return math.log(max(v, FLOOR_OF_LOG) / COLD_TOLERANCE)

    g_lo, g_hi, kept = g(lo_share), g(hi_share), 0
    while hi - lo > 1:
        mid = min(hi - 1, max(lo + 1, math.ceil(lo + g_lo / (g_lo - g_hi) * (hi - lo))))
        mid_share = share(mid)
        if mid_share <= COLD_TOLERANCE:
            hi, g_hi = mid, g(mid_share)
            kept = kept + 1 if kept > 0 else 1
            if kept > 1:
                g_lo /= 2
        else:
            lo, g_lo = mid, g(mid_share)
            kept = kept - 1 if kept < 0 else -1
            if kept < -1:
                g_hi /= 2
    return hi


def sized_from_simulation(p: Profile, s: ServerlessSizing, platform: Platform, reservable: int) -> ServerlessSizing:
    """The averages' sizing checked against its simulated burst (see the module's note)."""
    if p.sla.mode is Mode.async_:
        return s
    window = window_of(p)

    def run(floor: int) -> WindowRun:
        # No reservation cap: the burst is not throttled, so its peak is what it needs (the account's
        # share is applied after, and a shortfall is named rather than hidden in the measurement).
        unbounded = _sized(s, floor=floor, reserved=UNBOUNDED, reservable=UNBOUNDED)
        return run_serverless(window, sim_params(p, unbounded, platform))

    why: list[str] = []
    floor, first = s.pc_min, run(s.pc_min)
    top = min(reservable, max(s.pc_max, 1) * MAX_FLOOR_FACTOR)
    if s.provisioned and _missed_share(first, s) > COLD_TOLERANCE and top > s.pc_min:
        hi = _smallest_floor_within(
            lambda f: _missed_share(run(f), s), s.pc_min, _missed_share(first, s), top, first.peak
        )
        if hi is not None:
            floor = hi
            why.append(
                f"provisioned {s.pc_min}-{s.pc_max} -> {hi}-{max(s.pc_max, hi)}: the averages' floor let "
                f"{_missed_share(first, s):.2%} of the burst's {first.summary.requests:,} requests miss the SLA "
                f"({first.on_demand_inits:,} on-demand cold starts of ~{s.cold_start.total_ms:,.0f} ms, "
                f"{first.summary.timed_out:,} timed out), over the {COLD_TOLERANCE:.0%} a p99 target allows; "
                f"{hi} is the smallest floor within it"
            )
    chosen = run(floor)
    need = RESERVE_FACTOR * chosen.peak
    sized = _sized(s, floor=floor, reserved=max(s.reserved_concurrency, need), reservable=reservable)
    if sized.reserved_concurrency > s.reserved_concurrency:
        why.append(
            f"reserved {s.reserved_concurrency} -> {sized.reserved_concurrency}: the simulated burst peaks at "
            f"{chosen.peak} concurrent environments, reserved {RESERVE_FACTOR}x as the averages' peak is"
            + (f" (more than the {reservable} the account leaves)" if need > reservable else "")
        )
    raised = sized.reserved_concurrency != s.reserved_concurrency
    update: dict[str, object] = {
        "raised_by_simulation": "; ".join(why),
        "reserved_for_simulated_peak": chosen.peak if raised else 0,
    }
    if s.provisioned:
        # What callers of the sized function live through: the same run unless the account capped the
        # reservation below the peak (then throttles change it; the plan's figures need that run anyway).
        final = run_serverless(window, sim_params(p, sized, platform))
        requests = final.summary.requests
        update["simulated_cold_share"] = round(final.summary.cold_starts / requests, 6) if requests else 0.0
        invocations, seconds = _full_burst_spill(window, final, s.cold_start.total_ms / 1000)
        update["burst_on_demand_invocations"] = invocations
        update["burst_on_demand_s"] = round(seconds, 3)
        update["burst_on_demand_share"] = round(final.burst_on_demand_share, 6)
    return sized.model_copy(update=update)
