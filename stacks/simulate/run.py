"""One simulation: a workload's arrivals replayed against one target's model, summarised and billed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from stacks.errors import SwitchyardError
from stacks.profile import Target
from stacks.simulate.bill import kubernetes_bill, serverless_bill
from stacks.simulate.constants import DEFAULT, Behaviour
from stacks.simulate.engine import Engine
from stacks.simulate.inputs import Workload, kubernetes_params, plan_costs, serverless_params, traffic_shape
from stacks.simulate.kubernetes import KubernetesSim
from stacks.simulate.params import DAY_S
from stacks.simulate.results import Recorder, TargetResult, summarize, timeline
from stacks.simulate.serverless import ServerlessSim
from stacks.simulate.traffic import Arrivals, load_trace, profile_arrivals
from stacks.simulate.window import burst_window, trace_kubernetes, trace_serverless

TARGETS = ("serverless", "kubernetes")


@dataclass(frozen=True)
class Options:
    seed: int = 0
    hours: float | None = None  # None: whole days
    trace: Path | None = None
    speed: float = 1.0
    inference_ms_column: str | None = None
    inference_scale_column: str | None = None
    service: str = "fixed"
    window: str = "day"  # day: whole days (or --hours, --trace); burst: the plan's burst (window.py)
    behaviour: Behaviour = field(default_factory=lambda: DEFAULT)
    progress: Callable[[str, float, float, float], None] | None = None  # (label, now, start, end)


def arrivals_for(w: Workload, o: Options) -> Arrivals:
    shape = traffic_shape(w)
    if o.window == "burst":
        if o.trace is not None or o.hours is not None or o.service != "fixed":
            raise SwitchyardError(
                "--window burst replays the burst `switchyard plan` simulates (the profile's shape, fixed "
                "service times): it takes no --trace, --hours or --service"
            )
        window = burst_window(shape, o.seed)
        return replace(window.arrivals, description=f"the plan's burst: {window.describe()}")
    if o.hours is not None and not (0 < o.hours <= 24 * 31):
        raise SwitchyardError(f"--hours {o.hours:g}: must be > 0 and at most 744 (31 days)")
    if o.trace is not None:
        return load_trace(
            o.trace,
            mean_inference_ms=shape.inference_ms,
            speed=o.speed,
            inference_ms_column=o.inference_ms_column,
            inference_scale_column=o.inference_scale_column,
            service=o.service,
            seed=o.seed,
            hours=o.hours,
        )
    if o.hours is None:
        return profile_arrivals(shape, seed=o.seed, service=o.service)
    # A shorter span opens half an hour before the active period, so a pre-warm is inside it.
    first, _ = shape.active_seconds()
    start = max(0.0, first - 1800)
    return profile_arrivals(shape, seed=o.seed, start=start, end=start + o.hours * 3600, service=o.service)


def simulate_burst(w: Workload, target: str, o: Options) -> TargetResult:
    """The plan's burst window (stacks/simulate/window.py) on one target: the figures over the burst's
    requests, the chart over the whole run; the bill is the plan's (a burst is not a month)."""
    window = burst_window(traffic_shape(w), o.seed)
    plan_s, plan_k = plan_costs(w)
    if target == "serverless":
        run, rec = trace_serverless(window, serverless_params(w), o.behaviour)
        unit, plan = "environment-hours", plan_s
        usage = {
            "on_demand_inits": float(run.on_demand_inits),
            "on_demand_invocations": float(run.on_demand_invocations),
        }
    else:
        run, rec = trace_kubernetes(window, kubernetes_params(w), o.behaviour)
        unit, plan = "replica-hours", plan_k
        usage = {"pod_starts": float(run.pod_starts), "settled_replicas": float(run.settled)}
    counted, warm = window.requests, window.counted[0]
    return TargetResult(
        workload=w.name,
        target=target,
        mode=w.profile.sla.mode.value,
        span_s=run.span_s,
        summary=run.summary,
        max_queue_age_s=run.max_queue_age_s,
        capacity_unit=unit,
        capacity_hours=run.capacity_seconds / 3600,
        peak_capacity=run.peak,
        usage=usage,
        cost=plan,
        plan_cost_usd=plan.total,
        timeline=timeline(rec, window.start, window.start + run.span_s, buckets=max(1, round(run.span_s / 5))),
        bill_title="the plan's bill",
        notes=[
            f"figures over the burst's {counted:,} requests; the warm-up's {warm:,} are simulated, not counted",
            "the bill is the plan's: a burst is not a month (`switchyard plan` shows Kubernetes from replica-hours)",
        ],
    )


def simulate(w: Workload, target: str, arrivals: Arrivals, o: Options) -> TargetResult:
    if o.window == "burst":
        return simulate_burst(w, target, o)
    engine = Engine()
    rec = Recorder(arrivals.times)
    start, end = arrivals.start, arrivals.end
    notes: list[str] = []
    blockers = ruled_out(w, target)
    if blockers:
        notes.append(
            f"the plan rules this option out ({', '.join(blockers)}): the figures are what it would do if it could run"
        )
    if target == "serverless":
        params = serverless_params(w)
        model = ServerlessSim(
            engine,
            rec,
            params,
            arrivals.service_s,
            traffic_shape(w),
            behaviour=o.behaviour,
            start=start,
            end=end,
            day=arrivals.day,
        )
        if params.mode == "both":
            notes.append("mode both: the synchronous path is simulated (every request waits on HTTP)")
    else:
        kparams = kubernetes_params(w)
        model = KubernetesSim(
            engine, rec, kparams, arrivals.service_s, seed=o.seed, behaviour=o.behaviour, start=start, end=end
        )
        if kparams.mode == "both":
            notes.append("mode both: the HTTP path is simulated (the queue worker shares the replicas' slots)")
    engine.feed(arrivals.times, model.arrive)
    progress = None
    if o.progress is not None:
        label = f"{w.name} on {target}"

        def progress(now: float) -> None:
            o.progress(label, now, start, end)

    engine.run(end, progress)
    model.finish(end)
    summary = summarize(rec)
    span = end - start
    plan_s, plan_k = plan_costs(w)
    if target == "serverless":
        usage = model.usage()
        usage["environment_hours"] = (model.pc_env_seconds + model.od_alive_seconds) / 3600
        cost = serverless_bill(w, usage, summary.requests, span)
        return TargetResult(
            workload=w.name,
            target=target,
            mode=w.profile.sla.mode.value,
            span_s=span,
            summary=summary,
            max_queue_age_s=model.max_queue_age if model.queue_mode else None,
            capacity_unit="environment-hours",
            capacity_hours=usage["environment_hours"],
            peak_capacity=model.peak,
            usage=usage,
            cost=cost,
            plan_cost_usd=plan_s.total,
            timeline=timeline(rec, start, end),
            notes=notes,
            blockers=blockers,
        )
    hours = model.replica_seconds / 3600
    usage = {"replica_hours": hours, "pod_starts": float(model.pod_starts)}
    return TargetResult(
        workload=w.name,
        target=target,
        mode=w.profile.sla.mode.value,
        span_s=span,
        summary=summary,
        max_queue_age_s=model.max_queue_age if model.queue_mode else None,
        capacity_unit="replica-hours",
        capacity_hours=hours,
        peak_capacity=model.peak,
        usage=usage,
        cost=kubernetes_bill(w, hours, model.peak, span),
        plan_cost_usd=plan_k.total,
        timeline=timeline(rec, start, end),
        notes=notes,
        blockers=blockers,
    )


# Options of the decision the simulator has no model for, and what that model would have to hold.
NOT_MODELLED = {
    "managed-instances": "Lambda Managed Instances (several requests per environment on EC2 instances that "
    "Lambda scales on CPU, doubling at most every 5 min) has no model yet",
    "hybrid": "the hybrid front (SQS, KEDA's aws-sqs-queue scaler on counts that lag ~1 min, GPU workers "
    "on the cluster) has no model yet",
}


@dataclass(frozen=True)
class Skipped:
    target: str
    decided: bool
    why: str


def targets_for(w: Workload, choice: str) -> list[str]:
    """The targets to simulate. `auto` on a decided target with no model is an error: its
    numbers would be another platform's."""
    decided = w.target.value
    if choice == "all":
        return list(TARGETS)
    if choice != "auto":
        return [choice]
    if decided not in TARGETS:
        raise SwitchyardError(
            f"{w.file}: {w.name} -> {decided} (decided) is not simulated: {NOT_MODELLED[decided]}. "
            "The simulator models serverless (Lambda) and kubernetes; add --target serverless, kubernetes "
            "or all to replay this workload's other options"
        )
    return [decided]


def not_simulated(w: Workload, choice: str) -> list[Skipped]:
    """Under `all`: the decision's options the simulator leaves out, and why."""
    if choice != "all":
        return []
    return [
        Skipped(t.value, t is w.target, NOT_MODELLED.get(t.value, "no model"))
        for t in w.decision.options
        if t.value not in TARGETS
    ]


def ruled_out(w: Workload, target: str) -> list[str]:
    """The plan's blockers of this option (empty when it can run the workload)."""
    option = w.decision.option(Target(target))
    return [] if option.feasible else [r.rule for r in option.blockers]


__all__ = [
    "DAY_S",
    "TARGETS",
    "Options",
    "Skipped",
    "arrivals_for",
    "not_simulated",
    "ruled_out",
    "simulate",
    "targets_for",
]
