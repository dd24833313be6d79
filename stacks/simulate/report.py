"""What `switchyard simulate` prints: a text report per workload and target, or the same as JSON."""

from __future__ import annotations

from typing import Any

from stacks.commands.plan import _cost_json, bill_lines
from stacks.simulate.constants import table
from stacks.simulate.results import TargetResult
from stacks.simulate.run import Skipped
from stacks.simulate.traffic import Arrivals


def _ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f} ms" if x < 10_000 else f"{x / 1000:,.1f} s"


def _share(n: int, total: int) -> str:
    return f"{n:,} ({n / total:.2%})" if total else f"{n:,}"


def text(
    name: str,
    file: str,
    decided: str,
    p99_sla_ms: float,
    arrivals: Arrivals,
    results: list[TargetResult],
    skipped: list[Skipped] = (),
) -> str:
    span_h = (arrivals.end - arrivals.start) / 3600
    out = [f"{name} -> {decided} (decided)  ({file})", f"  traffic: {arrivals.description}; {span_h:g} h simulated"]
    for r in results:
        s = r.summary
        out.append(f"  {r.target}:")
        refused = [f"{s.served:,} served"]
        if s.rejected:
            refused.append(f"{_share(s.rejected, s.requests)} refused 503 (replica full)")
        if s.throttled:
            refused.append(f"{_share(s.throttled, s.requests)} throttled 429")
        if s.timed_out:
            refused.append(f"{_share(s.timed_out, s.requests)} timed out 504")
        if s.dead_lettered:
            refused.append(f"{_share(s.dead_lettered, s.requests)} to the dead-letter queue")
        if s.unfinished:
            refused.append(f"{s.unfinished:,} unanswered at the end")
        out.append(f"    requests   {s.requests:,}: " + ", ".join(refused))
        out.append(f"    cold       {_share(s.cold_starts, s.requests)} requests paid a cold start")
        over = " (over the SLA)" if s.p99_ms is not None and s.p99_ms > p99_sla_ms else ""
        out.append(
            f"    latency    p50 {_ms(s.p50_ms)}, p95 {_ms(s.p95_ms)}, p99 {_ms(s.p99_ms)}{over}; "
            f"SLA p99 {_ms(p99_sla_ms)}"
        )
        if r.max_queue_age_s is not None:
            out.append(f"    queue age  longest wait before a worker took a message: {r.max_queue_age_s:,.1f} s")
        extra = ", ".join(
            f"{k.replace('_', ' ')} {v:,.0f}"
            for k, v in r.usage.items()
            if k in ("pod_starts", "on_demand_inits", "provisioned_inits", "redeliveries", "batch_timeouts")
        )
        out.append(
            f"    capacity   {r.capacity_hours:,.1f} {r.capacity_unit} (peak {r.peak_capacity})"
            + (f"; {extra}" if extra else "")
        )
        out += ["  " + line for line in bill_lines(f"{r.bill_title} (plan ${r.plan_cost_usd:,.2f})", r.cost)]
        out += [f"    note: {n}" for n in r.notes]
    if skipped:
        names = ", ".join(s.target + (" (decided)" if s.decided else "") for s in skipped)
        out.append(f"  not simulated: {names} (no model yet: see --json's not_simulated)")
    return "\n".join(out)


def to_json(
    name: str,
    file: str,
    decided: str,
    arrivals: Arrivals,
    seed: int,
    results: list[TargetResult],
    skipped: list[Skipped] = (),
) -> dict[str, Any]:
    return {
        "name": name,
        "file": file,
        "decided_target": decided,
        "traffic": {
            "description": arrivals.description,
            "requests": len(arrivals.times),
            "span_hours": (arrivals.end - arrivals.start) / 3600,
            "seed": seed,
        },
        "targets": [_result_json(r) for r in results],
        "not_simulated": [{"target": s.target, "decided": s.decided, "why": s.why} for s in skipped],
    }


def _result_json(r: TargetResult) -> dict[str, Any]:
    s = r.summary
    return {
        "target": r.target,
        "feasible": not r.blockers,
        "blockers": r.blockers,
        "mode": r.mode,
        "requests": s.requests,
        "served": s.served,
        "rejected_503": s.rejected,
        "throttled_429": s.throttled,
        "timed_out_504": s.timed_out,
        "dead_lettered": s.dead_lettered,
        "unfinished": s.unfinished,
        "cold_starts": s.cold_starts,
        "cold_start_share": round(s.cold_share, 6),
        "latency_ms": {"p50": _round(s.p50_ms), "p95": _round(s.p95_ms), "p99": _round(s.p99_ms)},
        "max_queue_age_s": _round(r.max_queue_age_s),
        "capacity": {"unit": r.capacity_unit, "hours": round(r.capacity_hours, 4), "peak": r.peak_capacity},
        "usage": {k: round(v, 4) for k, v in r.usage.items()},
        "cost_usd_month": _cost_json(r.cost),
        "plan_cost_usd_month": r.plan_cost_usd,
        "notes": r.notes,
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def constants_json() -> list[dict[str, Any]]:
    return [{"name": n, "value": v, "source": s} for n, v, s in table()]
