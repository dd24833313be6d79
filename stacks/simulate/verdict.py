"""The simulation step of a plan: every target's sizing replayed against the profile's own traffic
around its first burst, so the plan shows what averages hide (cold starts at the peak, throttles,
503s and p99 during a ramp, queue lag, the replica-hours an autoscaler actually runs) and names each
with its numbers (`sim.*` rules).

Deterministic: seed SEED, the profile's burst model (stacks/simulate/traffic.py). Fast enough for
every plan: only LEAD_S before the first burst to TAIL_S after it is simulated (`switchyard simulate`
replays whole days); the lead lets target tracking, KEDA and the HPA settle at the base rate first.
"""

from __future__ import annotations

from dataclasses import replace

from stacks.decision.cost import Cost
from stacks.decision.option import Decision, Option
from stacks.decision.reason import Reason, usd
from stacks.decision.simulated import Simulated
from stacks.decision.workload import Workload
from stacks.profile import Target
from stacks.simulate.inputs import kubernetes_sizing, serverless_params, serverless_sizing
from stacks.simulate.run import Options, simulate
from stacks.simulate.traffic import Arrivals
from stacks.targets.serverless.alarms import serverless_alarms
from stacks.targets.serverless.simulation import COLD_TOLERANCE, LEAD_S, MAX_FLOOR_FACTOR, SEED, TAIL_S, peak_arrivals

ALARM_PERIOD_S = 300.0  # every generated alarm evaluates 5-minute periods (stacks/aws/alarms.py)
SIMULATED = (Target.serverless, Target.kubernetes)


def _periods(values: list[int], bucket_s: float) -> list[int]:
    """Per-bucket counts summed into the alarms' 5-minute periods."""
    per = max(1, round(ALARM_PERIOD_S / bucket_s))
    return [sum(values[i : i + per]) for i in range(0, len(values), per)]


def serverless_alarms_fired(w: Workload, r) -> list[str]:
    """The generated alarms whose condition the simulated series meets (thresholds as in stacks/aws/alarms.py)."""
    s, p = serverless_sizing(w), w.profile
    made = serverless_alarms(p, s)
    inits = r.usage.get("on_demand_inits", 0.0)
    cold = _periods(r.timeline.cold, r.timeline.bucket_s)
    fired = {
        "Throttles": r.summary.throttled > 0,
        "Url5xx": r.summary.timed_out > 0,
        "HttpApi5xx": r.summary.timed_out > 0,
        "DeadLetters": r.summary.dead_lettered > 0,
        "QueueOldestMessage": (r.max_queue_age_s or 0.0) > w.settings.platform.queue_oldest_message_alarm_s,
        "ColdStartOverBudget": inits > 0 and s.cold_start.total_ms > p.sla.cold_start_budget_ms,
        # Sum > 0 for 3 periods in a row: a spill shows at least as a cold start in each.
        "ProvisionedSpillover": any(all(c > 0 for c in cold[i : i + 3]) for i in range(max(0, len(cold) - 2))),
    }
    return [name for name in made if fired.get(name, False)]


def _figures(w: Workload, r, alarms: list[str]) -> Simulated:
    s = r.summary
    refused = s.rejected + s.throttled + s.timed_out + s.dead_lettered
    return Simulated(
        window=r.window,
        span_s=round(r.span_s, 1),
        requests=s.requests,
        cold_share=round(s.cold_share, 6),
        refused_share=round(refused / s.requests, 6) if s.requests else 0.0,
        p99_ms=None if s.p99_ms is None else round(s.p99_ms, 1),
        sla_p99_ms=float(w.profile.sla.p99_latency_ms),
        max_queue_age_s=None if r.max_queue_age_s is None else round(r.max_queue_age_s, 1),
        alarms=alarms,
    )


def _replica_hours_bill(w: Workload, r, plan: Cost) -> tuple[float, str]:
    """A month of the replica-hours the autoscaler runs: the window's mean replicas for the active hours,
    min replicas for the rest of the day (KEDA never goes below minReplicaCount), x 30.42 days."""
    k, u = kubernetes_sizing(w), w.profile.utilization
    mean = r.capacity_hours * 3600 / r.span_s
    active = min(u.active_hours_per_day, 24.0)
    per_day = mean * active + k.min_replicas * (24.0 - active)
    held = k.billed_replicas * 24.0
    nodes = next((line for line in plan.lines if line.name in ("gpu_nodes", "cpu_nodes")), None)
    if nodes is None or held <= 0:
        return plan.total, "no node line to scale"
    run_usd = nodes.usd * per_day / held
    total = plan.total - nodes.usd + run_usd
    basis = (
        f"{per_day:,.1f} replica-hours a day ({mean:.2f} replicas on average while active x {active:g} h + "
        f"min {k.min_replicas} x {24 - active:g} h) instead of {k.billed_replicas} x 24 h: "
        f"{nodes.name} {usd(run_usd)} instead of {usd(nodes.usd)}"
    )
    return total, basis


def _arrivals(w: Workload) -> Arrivals:
    return peak_arrivals(w.profile)


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


def _cold_fired(target: Target, w: Workload, sim: Simulated) -> bool:
    """A serverless cold share over the tolerance the sizing allows is a finding; within it the rule
    states the share and why it was accepted."""
    return target is Target.serverless and sim.cold_share > COLD_TOLERANCE


def _reasons(target: Target, w: Workload, sim: Simulated, extra: dict[str, str]) -> list[Reason]:
    name, window = target.value, f"simulated {sim.window}"  # e.g. "20 min around the first burst at 40 rps"
    rule = RULES[target]
    out = []
    budget = w.profile.sla.cold_start_budget_ms
    raised = serverless_sizing(w).raised_by_simulation if target is Target.serverless else ""
    if raised:
        out.append(Reason(rule="sim.sizing", fired=True, detail=f"{name}: {raised}"))
    out.append(
        Reason(
            rule=rule["cold"],
            fired=_cold_fired(target, w, sim),
            detail=f"{name}: {sim.cold_share:.2%} of {sim.requests:,} requests paid a cold start "
            f"({extra.get('cold', 'none')}; budget {budget:,} ms) in the {window}{extra.get('accepted', '')}",
        )
    )
    over = sim.p99_ms is not None and sim.p99_ms > sim.sla_p99_ms
    p99 = "no request answered" if sim.p99_ms is None else f"p99 {sim.p99_ms:,.0f} ms"
    out.append(
        Reason(
            rule=rule["p99"],
            fired=over,
            detail=f"{name}: {p99} {'>' if over else '<='} SLA {sim.sla_p99_ms:,.0f} ms "
            f"(queueing and cold starts included) in the {window}",
        )
    )
    if sim.refused_share > 0:
        out.append(
            Reason(
                rule=rule["refused"],
                fired=True,
                detail=f"{name}: {sim.refused_share:.2%} of requests refused at the burst ({extra['refused']})",
            )
        )
    if sim.max_queue_age_s is not None:
        limit = w.settings.platform.queue_oldest_message_alarm_s
        out.append(
            Reason(
                rule=rule["lag"],
                fired=sim.max_queue_age_s > limit,
                detail=f"{name}: the oldest message waited {sim.max_queue_age_s:,.1f} s at most "
                f"(QueueOldestMessage alarm at {limit:,} s){extra.get('lag', '')}",
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


_DECIDED: dict[str, Decision] = {}
_DECIDED_KEPT = 64


def simulated(w: Workload) -> Workload:
    """The workload with each simulated target's Option carrying its Simulated figures and `sim.*` reasons.
    Cached by its inputs (the profile, the settings and the decision with every option's sizing): the
    same profile decided again in one process (tests, `plan` then `synth`) is simulated once."""
    key = "\n".join((w.profile.model_dump_json(), w.settings.model_dump_json(), w.decision.model_dump_json()))
    if key not in _DECIDED:
        if len(_DECIDED) >= _DECIDED_KEPT:
            del _DECIDED[next(iter(_DECIDED))]
        _DECIDED[key] = _simulated(w)
    return replace(w, decision=_DECIDED[key])


def _simulated(w: Workload) -> Decision:
    arrivals = _arrivals(w)
    options = dict(w.decision.options)
    added: list[Reason] = []
    for target in SIMULATED:
        if target not in options:
            continue
        r = simulate(w, target.value, arrivals, Options(seed=SEED))
        r.window = arrivals.description.rpartition("; ")[2] + f", seed {SEED}"
        extra: dict[str, str] = {}
        if target is Target.serverless:
            s = serverless_sizing(w)
            params = serverless_params(w)
            alarms = serverless_alarms_fired(w, r)
            sim = _figures(w, r, alarms)
            extra["cold"] = (
                f"{r.usage.get('on_demand_inits', 0):.0f} on-demand inits of ~{s.cold_start.total_ms:,.0f} ms "
                f"beyond provisioned {s.pc_min}-{s.pc_max}"
                if s.provisioned
                else f"{r.usage.get('on_demand_inits', 0):.0f} on-demand inits of ~{s.cold_start.total_ms:,.0f} ms"
            )
            if 0 < sim.cold_share <= COLD_TOLERANCE and s.provisioned:
                extra["accepted"] = (
                    f"; within the {COLD_TOLERANCE:.0%} of requests a p99 target allows above it, so the provisioned "
                    f"floor stays {s.pc_min} ({'raised by the simulation' if s.raised_by_simulation.startswith('provisioned') else 'from the averages'}): "
                    f"target tracking catches up after the burst starts, and a floor with no cold start would be "
                    f"held all the active hours"
                )
            elif sim.cold_share > COLD_TOLERANCE and s.provisioned:
                extra["accepted"] = (
                    f"; over the {COLD_TOLERANCE:.0%} tolerance even with the largest floor the sizing tries "
                    f"({MAX_FLOOR_FACTOR}x the averages' ceiling, within the account): hold capacity for the burst"
                )
            extra["refused"] = (
                f"{r.summary.throttled:,} throttled 429 with reserved concurrency {params.reserved_concurrency}, "
                f"peak {r.peak_capacity} environments; {r.summary.timed_out:,} timed out"
            )
            if s.queue_max_concurrency:
                drain = s.queue_max_concurrency / (w.profile.utilization.inference_ms / 1000)
                peak = w.profile.utilization.peak_rps
                extra["lag"] = (
                    f"; {s.queue_max_concurrency} consumers drain {drain:,.0f} msg/s against peak {peak:g} rps"
                    + (f": a backlog grows {peak - drain:,.0f} msg/s while the peak lasts" if drain < peak else "")
                )
        else:
            sim = _figures(w, r, [])
            extra["refused"] = (
                f"{r.summary.rejected:,} refused 503 with replicas full, {r.summary.timed_out:,} timed out 504; "
                f"min {kubernetes_sizing(w).min_replicas} replicas, peak {r.peak_capacity}"
            )
            monthly, basis = _replica_hours_bill(w, r, options[target].bill)
            sim = sim.model_copy(update={"monthly_usd": round(monthly, 2), "basis": basis})
        reasons = _reasons(target, w, sim, extra)
        added += reasons
        option: Option = options[target]
        options[target] = option.model_copy(update={"simulated": sim, "reasons": option.reasons + reasons})
    # The choice's own reasons (cost.compare, target) stay last: `plan`'s table quotes the last one.
    old = w.decision.reasons
    at = next((i for i, r in enumerate(old) if r.rule in ("cost.compare", "target")), len(old))
    reasons = old[:at] + added + old[at:]
    return w.decision.model_copy(update={"options": options, "reasons": reasons})


__all__ = ["LEAD_S", "SEED", "TAIL_S", "Simulated", "serverless_alarms_fired", "simulated"]
