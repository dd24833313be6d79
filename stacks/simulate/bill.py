"""The month's bill from what the simulation used, in the plan's LineItem format and price book entries.

A month repeats the simulated span (730 h / span). Lines whose quantity the simulation measures are
recomputed from it (provisioned GB-s, duration, invocations, SQS requests, results, EFS reads,
X-Ray traces counted second by second, logs from the invocations, replica-hours); lines that follow
the request count (HTTP API requests, stored results) are the plan's scaled by simulated / planned
requests; the rest (storage, alarms, metrics, endpoints) are the plan's own.
"""

from __future__ import annotations

from stacks.pricebook import HOURS_PER_MONTH
from stacks.simulate.inputs import (
    GIB,
    Cost,
    LineItem,
    Workload,
    kubernetes_sizing,
    monthly_requests,
    new_bill,
    on_demand_duration,
    plan_costs,
    serverless_sizing,
)

_SCALED = {"http_api_requests", "results_storage"}


def month_factor(span_s: float) -> float:
    return HOURS_PER_MONTH * 3600 / span_s


def _copy(bill, line: LineItem, quantity: float | None = None, basis: str | None = None) -> None:
    bill.add(
        line.name,
        line.quantity if quantity is None else quantity,
        line.unit,
        line.price,
        line.basis if basis is None else basis,
        unit_price=line.unit_price_usd,
    )


def serverless_bill(w: Workload, usage: dict[str, float], requests: int, span_s: float) -> Cost:
    plan, _ = plan_costs(w)
    f = month_factor(span_s)
    per = f"x {f:,.4g} (730 h / {span_s / 3600:g} h simulated)"
    planned = next((line for line in plan.lines if line.name == "requests"), None)
    plan_requests = _plan_requests(w)
    ratio = requests * f / plan_requests if plan_requests else 0.0
    s = serverless_sizing(w)
    bill = new_bill(w)
    duration_done = False
    for line in plan.lines:
        name = line.name
        if name == "provisioned_concurrency":
            _copy(bill, line, usage["provisioned_gb_s"] * f, f"{usage['provisioned_gb_s']:,.0f} GB-s configured {per}")
        elif name == "duration_on_provisioned":
            q = usage["provisioned_duration_gb_s"]
            _copy(bill, line, q * f, f"{q:,.0f} GB-s on provisioned environments {per}")
        elif name.startswith("duration_on_demand"):
            if not duration_done:
                q = usage["on_demand_duration_gb_s"]
                on_demand_duration(
                    bill, q * f, s.architecture, f"{q:,.0f} GB-s on demand, cold-start init included {per}"
                )
                duration_done = True
        elif name == "requests" and planned is not None:
            _copy(bill, line, usage["invocations"] * f / 1e6, f"{usage['invocations']:,.0f} invocations {per}")
        elif name == "sqs":
            q = usage["messages"] + 2 * usage["invocations"]
            _copy(
                bill,
                line,
                q * f / 1e6,
                f"{usage['messages']:,.0f} sends + 2 x {usage['invocations']:,.0f} batches {per}",
            )
        elif name in ("results_put", "results_get"):
            _copy(bill, line, usage["messages"] * f / 1000, f"{usage['messages']:,.0f} results {per}")
        elif name == "efs_reads":
            inits = usage["on_demand_inits"] + usage["provisioned_inits"]
            _copy(
                bill,
                line,
                inits * f * w.profile.model.weights_gb,
                f"{inits:,.0f} environment inits x {w.profile.model.weights_gb:g} GB {per}",
            )
        elif name == "xray_traces":
            q, platform = usage["xray_traces"], w.settings.platform
            _copy(
                bill,
                line,
                q * f / 1e6,
                f"{q:,.0f} traces (each second the first {platform.xray_reservoir_per_s:g}, then "
                f"{platform.xray_sampling_rate:.0%} of the invocations) {per}",
            )
        elif name == "logs_ingestion":
            platform = w.settings.platform
            direct = requests if any(x.name == "http_api_requests" for x in plan.lines) else 0
            log_bytes = (
                usage["invocations"] * platform.lambda_log_bytes_per_invocation
                + direct * platform.http_api_access_log_bytes
            )
            what = f"{usage['invocations']:,.0f} invocations x {platform.lambda_log_bytes_per_invocation} B"
            if direct:
                what += f" + {direct:,} access-log lines x {platform.http_api_access_log_bytes} B"
            _copy(bill, line, log_bytes * f / GIB, f"{what} {per}")
        elif name in _SCALED:
            _copy(
                bill, line, line.quantity * ratio, f"the plan's quantity x {ratio:.4g} (simulated / planned requests)"
            )
        else:
            _copy(bill, line)
    return Cost(lines=bill.lines, notes=[f"a month repeats the simulated {span_s / 3600:g} h"])


def _plan_requests(w: Workload) -> float:
    return monthly_requests(w.profile)


def kubernetes_bill(w: Workload, replica_hours: float, peak: int, span_s: float) -> Cost:
    _, plan = plan_costs(w)
    f = month_factor(span_s)
    k = kubernetes_sizing(w)
    bill = new_bill(w)
    for line in plan.lines:
        if line.name in ("gpu_nodes", "cpu_nodes"):
            _copy(
                bill,
                line,
                replica_hours * f,
                f"{replica_hours:,.1f} replica-hours run in {span_s / 3600:g} h simulated (peak {peak}, "
                f"min {k.min_replicas}) x {f:,.4g}; the plan holds {k.billed_replicas} x 730 h = "
                f"${line.usd:,.2f}",
            )
        else:
            _copy(bill, line)
    return Cost(lines=bill.lines, notes=[f"a month repeats the simulated {span_s / 3600:g} h"])
