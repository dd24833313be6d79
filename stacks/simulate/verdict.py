"""What `plan` shows beside each bill: the sized targets replayed against the profile's burst window
(stacks/simulate/window.py), with the figures a caller would live through and `sim.*` reasons naming
what the averages hide (cold starts at the peak, throttles, 503s and p99 during a ramp, queue lag,
the replica-hours an autoscaler actually runs, alarms the traffic would set off).

A report, not a decision: nothing here changes a sizing, a bill or the target (the serverless sizing
simulates its own burst while it sizes, stacks/targets/serverless/simulation.py, and this reuses that
memoised run). So the commands that show a plan call `simulated(w)`; synth, render and the rest never
pay for it. Simulated: serverless (Lambda functions) and kubernetes (KEDA + HPA replicas), each only
when it can run the workload; managed-instances and hybrid are not modelled by the simulator, and the
plan says so.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from stacks.decision.cost import Cost
from stacks.decision.option import Decision, Option
from stacks.decision.reason import Reason, usd
from stacks.decision.simulated import Simulated
from stacks.decision.workload import Workload
from stacks.profile import Target
from stacks.simulate.inputs import kubernetes_params, kubernetes_sizing, serverless_sizing
from stacks.simulate.traffic import BURST_MEAN_S, burst_parameters, shape_of
from stacks.simulate.window import BurstWindow, WindowRun, run_kubernetes
from stacks.targets.serverless.alarms import (
    SUSTAINED_PERIODS,
    cold_share_alarm,
    queue_alarm_s,
    serverless_alarms,
    spill_share_alarm,
)
from stacks.targets.serverless.simulation import COLD_TOLERANCE, MAX_FLOOR_FACTOR, simulated_run, window_of

ALARM_PERIOD_S = 300.0  # every generated alarm evaluates 5-minute periods (stacks/aws/alarms.py)
SIMULATED = (Target.serverless, Target.kubernetes)
NOT_MODELLED = "the simulator models Lambda functions and Kubernetes replicas, not this target"

# Rule ids per target: an option's reasons are its own (no id on two options, tests/test_targets.py),
# and each names the target's mechanism: a Lambda cold start is an init, a Kubernetes one a pod start
# during the ramp; Lambda throttles (429), a full server refuses (503).
RULES = {
    Target.serverless: {
        "cold": "sim.coldstart",
        "p99": "sim.p99",
        "refused": "sim.throttle",
        "lag": "sim.queue_lag",
        "alarms": "sim.alarms",
    },
    Target.kubernetes: {
        "cold": "sim.pod_start",
        "p99": "sim.ramp_p99",
        "refused": "sim.refused",
        "lag": "sim.backlog",
        "alarms": "sim.k8s_alarms",
    },
}


def not_simulated(o: Option) -> str:
    """Why an option carries no simulated figures (the plan prints it in their place)."""
    if o.target not in SIMULATED:
        return NOT_MODELLED
    blockers = ", ".join(r.rule for r in o.blockers)
    return f"it cannot run the workload ({blockers})"


def serverless_alarms_fired(w: Workload, run: WindowRun) -> list[str]:
    """The generated alarms whose condition the simulated burst meets, with the thresholds the stack
    synthesizes (stacks/aws/alarms.py reads the same functions)."""
    s, p, platform = serverless_sizing(w), w.profile, w.settings.platform
    summary = run.summary
    sustained = (SUSTAINED_PERIODS - 1) * ALARM_PERIOD_S
    over_budget = s.cold_start.total_ms > p.sla.cold_start_budget_ms
    # The burst's share bounds any 5-minute period's: the rest of a period adds base requests that
    # start warm (the settled floor holds the base load).
    cold_share = summary.cold_share if over_budget else 0.0
    fired = {
        "Errors": summary.timed_out > 0,
        "Throttles": run.throttled_any,
        "Url5xx": summary.timed_out > 0,
        "HttpApi5xx": summary.timed_out > 0,
        "DeadLetters": summary.dead_lettered > 0,
        "QueueOldestMessage": (run.max_queue_age_s or 0.0) > queue_alarm_s(platform, run.max_queue_age_s)
        or not run.drained,
        # Both need 3 periods in a row: on-demand starts spread over more than two periods.
        "ColdStartOverBudget": cold_share > cold_share_alarm(s) and run.spill_span_s > sustained,
        "ProvisionedSpillover": run.burst_on_demand_share > spill_share_alarm(s) and run.spill_span_s > sustained,
    }
    return [name for name in serverless_alarms(p, s) if fired.get(name, False)]


def _figures(w: Workload, window: BurstWindow, run: WindowRun, alarms: list[str]) -> Simulated:
    s = run.summary
    refused = s.rejected + s.throttled + s.timed_out + s.dead_lettered + s.unfinished
    return Simulated(
        window=window.describe(),
        span_s=round(run.span_s, 1),
        requests=s.requests,
        cold_share=round(s.cold_share, 6),
        refused_share=round(refused / s.requests, 6) if s.requests else 0.0,
        p99_ms=None if s.p99_ms is None else round(s.p99_ms, 1),
        sla_p99_ms=float(w.profile.sla.p99_latency_ms),
        max_queue_age_s=None if run.max_queue_age_s is None else round(run.max_queue_age_s, 1),
        peak_capacity=run.peak,
        alarms=alarms,
    )


def replica_hours_bill(w: Workload, window: BurstWindow, run: WindowRun, plan: Cost) -> tuple[float, str]:
    """A month of the replica-hours the autoscaler runs: the settled replicas all the active hours,
    plus what each burst adds (the run's replica-seconds above the settled count, scale-down included)
    times the bursts a day of the profile's shape holds, plus min replicas outside the active hours
    (KEDA never goes below minReplicaCount). Nodes are billed in proportion; the rest of the bill stays."""
    k, u = kubernetes_sizing(w), w.profile.utilization
    share, _ = burst_parameters(window.shape)
    active = min(u.active_hours_per_day, 24.0)
    bursts = share * active * 3600 / BURST_MEAN_S
    extra_h = max(0.0, run.capacity_seconds - run.settled * run.span_s) / 3600
    held = k.billed_replicas * 24.0
    per_day = min(held, run.settled * active + bursts * extra_h + k.min_replicas * (24.0 - active))
    nodes = next((line for line in plan.lines if line.name in ("gpu_nodes", "cpu_nodes")), None)
    if nodes is None or held <= 0:
        return plan.total, "no node line to scale"
    run_usd = nodes.usd * per_day / held
    basis = (
        f"{per_day:,.1f} replica-hours a day ({run.settled} settled replicas x {active:g} h + "
        f"{bursts:,.1f} bursts x {extra_h:,.2f} replica-hours each + min {k.min_replicas} x {24 - active:g} h) "
        f"instead of {k.billed_replicas} x 24 h: {nodes.name} {usd(run_usd)} instead of {usd(nodes.usd)}"
    )
    return plan.total - nodes.usd + run_usd, basis


def _serverless(w: Workload, window: BurstWindow) -> tuple[Simulated, dict[str, str]]:
    s, p, platform = serverless_sizing(w), w.profile, w.settings.platform
    run = simulated_run(p, s, platform)
    sim = _figures(w, window, run, serverless_alarms_fired(w, run))
    inits = f"{run.on_demand_inits:,} on-demand inits of ~{s.cold_start.total_ms:,.0f} ms"
    extra = {"cold": inits + (f" beyond provisioned {s.pc_min}-{s.pc_max}" if s.provisioned else "")}
    over_budget = s.provisioned and s.cold_start.total_ms > p.sla.cold_start_budget_ms
    if over_budget and sim.cold_share > 0 and p.sla.mode.value == "async":
        # The sizing never searched a floor for a queue (stacks/targets/serverless/simulation.py): say so
        # rather than borrow the synchronous explanation.
        extra["accepted"] = (
            f"; queued: a cold start delays a message in the queue instead of failing a caller, so the floor is "
            f"not raised from the simulation and stays {s.pc_min} (from the averages); ColdStartOverBudget pages "
            f"above {cold_share_alarm(s):.1%} sustained for {SUSTAINED_PERIODS * 5} minutes"
        )
    elif over_budget and 0 < sim.cold_share <= COLD_TOLERANCE:
        origin = "raised by the simulation" if s.raised_by_simulation.startswith("provisioned") else "from the averages"
        extra["accepted"] = (
            f"; within the {COLD_TOLERANCE:.0%} of requests a p99 target allows above it, so the provisioned "
            f"floor stays {s.pc_min} ({origin}): target tracking needs 3 minutes above its target to react, "
            "and a floor with no cold start at all would be held all the active hours"
        )
    elif over_budget and sim.cold_share > COLD_TOLERANCE:
        extra["accepted"] = (
            f"; over the {COLD_TOLERANCE:.0%} tolerance even with the largest floor the sizing tries "
            f"({MAX_FLOOR_FACTOR}x the averages' ceiling, within the account): hold capacity for the burst; "
            f"ColdStartOverBudget pages above {cold_share_alarm(s):.1%}"
        )
    extra["refused"] = (
        f"{run.summary.throttled:,} throttled 429 with reserved concurrency {s.reserved_concurrency}, "
        f"peak {run.peak} environments; {run.summary.timed_out:,} timed out"
    )
    if s.queue_max_concurrency and p.sla.mode.value == "async":
        drain = s.queue_max_concurrency / (p.utilization.inference_ms / 1000)
        peak = p.utilization.peak_rps
        extra["lag"] = (
            f"; {s.queue_max_concurrency} consumers drain {drain:,.0f} msg/s against peak {peak:g} rps"
            + (f": a backlog grows {peak - drain:,.0f} msg/s while a burst lasts" if drain < peak else "")
            + ("" if run.drained else f", and is not worked off within {run.span_s / 60:,.0f} min")
        )
        extra["lag_limit"] = str(queue_alarm_s(platform, run.max_queue_age_s))
    return sim, extra


def _kubernetes(w: Workload, window: BurstWindow, option: Option) -> tuple[Simulated, dict[str, str]]:
    k = kubernetes_sizing(w)
    run = run_kubernetes(window, kubernetes_params(w))
    sim = _figures(w, window, run, [])
    monthly, basis = replica_hours_bill(w, window, run, option.bill)
    sim = sim.model_copy(update={"monthly_usd": round(monthly, 2), "basis": basis})
    extra = {
        "cold": f"{run.pod_starts:,} pod starts of ~{k.pod_start_ms / 1000:,.0f} s" if run.pod_starts else "none",
        "refused": (
            f"{run.summary.rejected:,} refused 503 with replicas full, {run.summary.timed_out:,} timed out 504; "
            f"{run.settled} replicas settled at the base, peak {run.peak}"
        ),
        "lag_limit": str(w.settings.platform.queue_oldest_message_alarm_s),
    }
    return sim, extra


def _reasons(target: Target, w: Workload, sim: Simulated, extra: dict[str, str]) -> list[Reason]:
    name, window = target.value, f"simulated burst ({sim.window})"
    rule = RULES[target]
    out = []
    budget = w.profile.sla.cold_start_budget_ms
    if target is Target.serverless:
        raised = serverless_sizing(w).raised_by_simulation
        if raised:
            out.append(Reason(rule="sim.sizing", fired=True, detail=f"{name}: {raised}"))
    over = target is Target.serverless and serverless_sizing(w).cold_start.total_ms > budget
    out.append(
        Reason(
            rule=rule["cold"],
            fired=over and sim.cold_share > COLD_TOLERANCE,
            detail=f"{name}: {sim.cold_share:.2%} of the burst's {sim.requests:,} requests paid a cold start "
            f"({extra.get('cold', 'none')}; budget {budget:,.0f} ms) in the {window}{extra.get('accepted', '')}",
        )
    )
    slow = sim.p99_ms is not None and sim.p99_ms > sim.sla_p99_ms
    p99 = "no request answered" if sim.p99_ms is None else f"p99 {sim.p99_ms:,.0f} ms"
    out.append(
        Reason(
            rule=rule["p99"],
            fired=slow,
            detail=f"{name}: {p99} {'>' if slow else '<='} SLA {sim.sla_p99_ms:,.0f} ms "
            "(queueing and cold starts included) over the burst's requests",
        )
    )
    if sim.refused_share > 0:
        out.append(
            Reason(
                rule=rule["refused"],
                fired=True,
                detail=f"{name}: {sim.refused_share:.2%} of the burst's requests refused ({extra['refused']})",
            )
        )
    if sim.max_queue_age_s is not None:
        limit = int(extra["lag_limit"])
        lag = extra.get("lag", "")
        out.append(
            Reason(
                rule=rule["lag"],
                fired=sim.max_queue_age_s > limit or "not worked off" in lag,
                detail=f"{name}: the oldest message waited {sim.max_queue_age_s:,.1f} s at most "
                f"(QueueOldestMessage alarm at {limit:,} s){lag}",
            )
        )
    if sim.alarms:
        out.append(
            Reason(
                rule=rule["alarms"],
                fired=True,
                detail=f"{name}: under this traffic these generated alarms fire: {', '.join(sim.alarms)}",
            )
        )
    if sim.monthly_usd is not None:
        out.append(Reason(rule="sim.replica_hours", fired=False, detail=f"{name}: {sim.basis}"))
    return out


_DECIDED: OrderedDict[str, Decision] = OrderedDict()
_DECIDED_KEPT = 64


def simulated(w: Workload) -> Workload:
    """The workload with each simulated option carrying its Simulated figures and `sim.*` reasons.
    Memoised by its inputs (the profile, the settings and the decision with every option's sizing)."""
    key = "\n".join((w.profile.model_dump_json(), w.settings.model_dump_json(), w.decision.model_dump_json()))
    if key not in _DECIDED:
        _DECIDED[key] = _simulated(w)
        while len(_DECIDED) > _DECIDED_KEPT:
            _DECIDED.popitem(last=False)
    return replace(w, decision=_DECIDED[key])


def _simulated(w: Workload) -> Decision:
    window = window_of(w.profile)
    options = dict(w.decision.options)
    added: list[Reason] = []
    for target in SIMULATED:
        option = options.get(target)
        if option is None or not option.feasible:
            continue
        if target is Target.serverless:
            sim, extra = _serverless(w, window)
        else:
            sim, extra = _kubernetes(w, window, option)
        reasons = _reasons(target, w, sim, extra)
        added += reasons
        options[target] = option.model_copy(update={"simulated": sim, "reasons": option.reasons + reasons})
    # The choice's own reasons (cost.compare, target) stay last: `plan`'s table quotes the last one.
    old = w.decision.reasons
    at = next((i for i, r in enumerate(old) if r.rule in ("cost.compare", "target")), len(old))
    return w.decision.model_copy(update={"options": options, "reasons": old[:at] + added + old[at:]})


__all__ = ["NOT_MODELLED", "not_simulated", "replica_hours_bill", "serverless_alarms_fired", "shape_of", "simulated"]
