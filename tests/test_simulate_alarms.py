"""No generated alarm fires under the traffic it was sized for.

Each serverless fixture profile's day of traffic (its burst model, seed 0: what `switchyard simulate`
replays) runs against the function as the plan sized it, observed the way CloudWatch would see it:
per 5-minute period, the invocations, the ones on on-demand environments (spillover), cold starts
over the budget, throttles, timeouts, durations and the queue's oldest message. Every alarm of the
synthesized stack is then evaluated on that series with the threshold, period and evaluation periods
read from the CloudFormation template (not from the Python that wrote it).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace

import pytest

from stacks.simulate.constants import DEFAULT
from stacks.simulate.engine import Engine
from stacks.simulate.inputs import serverless_params
from stacks.simulate.results import DEAD_LETTER, THROTTLED, TIMED_OUT, Recorder, percentile
from stacks.simulate.serverless import ServerlessSim
from stacks.simulate.traffic import profile_arrivals, shape_of
from stacks.targets.serverless.installation import workload_stack
from stacks.workloads import load_all
from tests.conftest import PROFILES

pytestmark = pytest.mark.timeout(300)
SERVERLESS = ["sentiment-api", "nightly-embeddings"]


class Observed(ServerlessSim):
    """The Lambda model with CloudWatch's view of each invocation recorded (time, seconds, where, cold)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[float, float, bool, bool]] = []
        self._was_cold = False

    def _acquire(self):
        got = super()._acquire()
        self._was_cold = bool(got and got[1])
        return got

    def _bill(self, env, seconds: float) -> None:
        super()._bill(env, seconds)
        self.calls.append((self.e.now, seconds, env.provisioned, self._was_cold))


@dataclass
class Day:
    period: int
    metrics: dict[str, dict[int, float]] = field(default_factory=lambda: defaultdict(dict))

    def series(self, name: str) -> list[float]:
        values = self.metrics[name]
        if not values:
            return [0.0]
        return [values.get(p, 0.0) for p in range(min(values), max(values) + 1)]


def observe(w, period: int) -> Day:
    p = w.profile
    params = serverless_params(w)
    arrivals = profile_arrivals(shape_of(p), seed=0)
    engine, rec = Engine(), Recorder(arrivals.times)
    model = Observed(
        engine, rec, params, arrivals.service_s, shape_of(p), behaviour=DEFAULT, start=arrivals.start, end=arrivals.end
    )
    engine.feed(arrivals.times, model.arrive)
    engine.run(arrivals.end)
    model.finish(arrivals.end)
    day = Day(period)
    m = day.metrics
    budget_s = p.sla.cold_start_budget_ms / 1000
    durations: dict[int, list[float]] = defaultdict(list)
    for t, seconds, provisioned, cold in model.calls:
        k = int(t // period)
        m["Invocations"][k] = m["Invocations"].get(k, 0) + 1
        m["Spillover"][k] = m["Spillover"].get(k, 0) + (not provisioned)
        over = cold and params.cold_start_s > budget_s
        m["ColdStartsOverBudget"][k] = m["ColdStartsOverBudget"].get(k, 0) + over
        # Lambda's Duration excludes the init phase
        durations[k].append((seconds - (params.cold_start_s if cold else 0.0)) * 1000)
    for k, values in durations.items():
        m["DurationP99"][k] = percentile(sorted(values), 99)
    dead = 0
    for t, code, wait in zip(arrivals.times, rec.code, rec.wait, strict=True):
        k = int(t // period)
        m["Throttles"][k] = m["Throttles"].get(k, 0) + (code == THROTTLED)
        m["Errors"][k] = m["Errors"].get(k, 0) + (code == TIMED_OUT)
        dead += code == DEAD_LETTER
        m["DeadLetters"][k] = dead  # the DLQ keeps them: its depth only grows within the day
        taken = int((t + wait) // period)  # a message's age shows while it waits, up to when it is taken
        m["OldestMessage"][taken] = max(m["OldestMessage"].get(taken, 0.0), wait)
    return day


@pytest.fixture(scope="module")
def templates(serverless_assembly):
    return {s.stack_name: s.template for s in serverless_assembly.stacks}


@pytest.fixture(scope="module")
def workloads():
    return {w.name: w for w in load_all([PROFILES]).workloads}


def _kind(logical_id: str) -> str:
    """AlarmsDurationP99A1B2C3D4 -> DurationP99 (CDK's path, then an 8-character hash)."""
    found = re.fullmatch(r"Alarms(\w+?)[0-9A-F]{8}", logical_id)
    assert found, logical_id
    return found.group(1)


def _share(day: Day, props: dict, part: str, metric: str, series: str) -> list[float]:
    """The template's metric math `100 * FILL(part, 0) / FILL(invocations, 1)`, evaluated on the series."""
    queries = {q["Id"]: q for q in props["Metrics"]}
    expression = next(q["Expression"] for q in props["Metrics"] if "Expression" in q)
    assert expression == f"100 * FILL({part}, 0) / FILL(invocations, 1)", "evaluate the alarm's new expression here"
    assert queries[part]["MetricStat"]["Metric"]["MetricName"].endswith(metric)
    assert queries["invocations"]["MetricStat"]["Metric"]["MetricName"] == "Invocations"
    counted, invocations = day.metrics[series], day.metrics["Invocations"]
    return [100 * counted.get(k, 0) / (invocations.get(k) or 1) for k in range(min(invocations), max(invocations) + 1)]


def _cold_share(day: Day, props: dict) -> list[float]:
    return _share(day, props, "over", "-ColdStartsOverBudget", "ColdStartsOverBudget")


def _spill_share(day: Day, props: dict) -> list[float]:
    return _share(day, props, "spill", "ProvisionedConcurrencySpilloverInvocations", "Spillover")


SERIES = {
    "Errors": lambda day, props: day.series("Errors"),  # invocation failures: timeouts (the model never raises)
    "Throttles": lambda day, props: day.series("Throttles"),
    "DurationP99": lambda day, props: day.series("DurationP99"),
    "ProvisionedSpillover": _spill_share,
    "Url5xx": lambda day, props: day.series("Errors"),
    "HttpApi5xx": lambda day, props: day.series("Errors"),
    "QueueOldestMessage": lambda day, props: day.series("OldestMessage"),
    "DeadLetters": lambda day, props: day.series("DeadLetters"),
    "ColdStartOverBudget": _cold_share,
    # What the simulator cannot produce (a model raising on valid input, a failed S3 write) is zero.
    "ModelErrors": lambda day, props: [0.0],
    "ResultWriteFailures": lambda day, props: [0.0],
}


def _fires(values: list[float], threshold: float, periods: int) -> list[int]:
    """Where `periods` periods in a row breach (GreaterThanThreshold, every datapoint of the window)."""
    breach = [v > threshold for v in values]
    return [i for i in range(len(breach) - periods + 1) if all(breach[i : i + periods])]


@pytest.mark.parametrize("name", SERVERLESS)
def test_no_generated_alarm_fires_under_the_days_traffic(templates, workloads, name):
    alarms = {
        _kind(k): r["Properties"]
        for k, r in templates[workload_stack(name)]["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert set(alarms) <= set(SERIES), f"evaluate {set(alarms) - set(SERIES)} here"
    periods = {
        props.get("Period") or next(q["MetricStat"]["Period"] for q in props["Metrics"] if "MetricStat" in q)
        for props in alarms.values()
    }
    (period,) = periods  # every alarm reads 5-minute periods
    day = observe(workloads[name], period)
    assert sum(day.series("Invocations")) > 1000  # a day of traffic, not an empty run
    fired = {}
    for kind, props in alarms.items():
        values = SERIES[kind](day, props)
        at = _fires(values, props["Threshold"], props["EvaluationPeriods"])
        if at:
            fired[kind] = (props["Threshold"], max(values))
    assert fired == {}, f"{name}: alarms firing under the sized-for traffic (threshold, worst period): {fired}"


def test_the_cold_share_alarm_would_page_on_the_averages_floor(templates, workloads):
    """The same evaluation can fail: sentiment-api held at the averages' floor of 1 spills its bursts
    onto cold starts well above the threshold (a single period; the alarm waits for 3 in a row)."""
    w = workloads["sentiment-api"]
    s = w.decision.option(w.target).sizing
    lowered = w.decision.model_copy(
        update={
            "options": {
                **w.decision.options,
                w.target: w.decision.options[w.target].model_copy(
                    update={"sizing": s.model_copy(update={"pc_min": 1})}
                ),
            }
        }
    )
    day = observe(replace(w, decision=lowered), 300)
    alarms = {
        _kind(k): r["Properties"]
        for k, r in templates[workload_stack("sentiment-api")]["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    props = alarms["ColdStartOverBudget"]
    share = _cold_share(day, props)
    assert max(share) > props["Threshold"]
    assert math.isclose(props["Threshold"], 1.0)
