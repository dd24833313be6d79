"""The plan's simulation step: the issue-18 contradictions of the example profiles (fixture copies
with the same numbers) are named by the plan with their numbers, every alarm the simulated traffic
would set off is named, and the Kubernetes bill from replica-hours run sits below the peak bill."""

from __future__ import annotations

import json

import pytest

from stacks.commands.plan import to_json
from stacks.profile import Target
from stacks.profile.loader import load_profile, load_settings
from stacks.simulate.inputs import traffic_shape
from stacks.simulate.run import Options, simulate
from stacks.simulate.traffic import peak_window
from stacks.simulate.verdict import serverless_alarms_fired, simulated
from stacks.targets import decide
from tests.conftest import PROFILES


def _workload(name: str):
    return decide(load_profile(PROFILES / f"{name}.yaml", load_settings(PROFILES)))


@pytest.fixture(scope="module")
def sentiment():
    return _workload("sentiment-api")


@pytest.fixture(scope="module")
def embeddings():
    return _workload("nightly-embeddings")


def _rule(w, target: Target, rule: str):
    found = [r for r in w.decision.option(target).reasons if r.rule == rule]
    assert found, f"{rule} missing for {target.value}"
    return found[0]


def test_sentiment_burst_raises_the_provisioned_floor_and_the_kubernetes_ramp_is_named(sentiment):
    s = sentiment.decision.option(Target.serverless)
    k = sentiment.decision.option(Target.kubernetes).simulated
    # The averages' floor 1-5 with reserved 7 throttled the 40 rps burst; the simulated floor does not.
    floor = _rule(sentiment, Target.serverless, "sim.floor")
    assert floor.fired and "provisioned 1-5 with reserved 7" in floor.detail and "be throttled" in floor.detail
    assert s.sizing.pc_min > 1 and s.sizing.reserved_concurrency > 7
    assert s.simulated.refused_share == 0 and s.simulated.cold_share == 0
    # The bill pays for the floor it was sized with.
    prov = next(line for line in s.bill.lines if line.name == "provisioned_concurrency")
    assert f"{s.sizing.pc_min} environment(s)" in prov.basis
    # Kubernetes at min 2 replicas misses the 300 ms p99 and refuses requests during the ramp: named.
    assert k.p99_ms > k.sla_p99_ms == 300
    assert f"p99 {k.p99_ms:,.0f} ms > SLA 300 ms" in _rule(sentiment, Target.kubernetes, "sim.p99").detail
    assert _rule(sentiment, Target.kubernetes, "sim.throttle").fired and k.refused_share > 0.05


def test_the_kubernetes_bill_from_replica_hours_is_below_the_peak_bill_and_both_are_shown(sentiment, embeddings):
    for w in (sentiment, embeddings):
        o = w.decision.option(Target.kubernetes)
        assert o.simulated.monthly_usd < o.bill.total  # the peak x 730 h bill stays the option's bill
        doc = json.loads(json.dumps(to_json(w)))
        assert doc["simulated"]["kubernetes"]["monthly_usd"] == o.simulated.monthly_usd
        assert doc["cost_usd_month"]["kubernetes"]["total"] == pytest.approx(o.bill.total, abs=0.01)
        assert "replica-hours a day" in _rule(w, Target.kubernetes, "sim.replica_hours").detail


def test_the_queue_consumers_below_the_peak_are_named_with_the_backlog_rate(embeddings):
    lag = _rule(embeddings, Target.serverless, "sim.queue_lag")
    assert "15 consumers drain 75 msg/s against peak 100 rps" in lag.detail
    assert "backlog grows 25 msg/s" in lag.detail
    sim = embeddings.decision.option(Target.serverless).simulated
    assert sim.max_queue_age_s is not None and sim.max_queue_age_s > 0
    assert not lag.fired  # a 60 s burst leaves a backlog of seconds, not the 3,600 s alarm


@pytest.mark.parametrize("name", ["sentiment-api", "nightly-embeddings"])
def test_no_generated_alarm_fires_under_the_traffic_it_was_sized_for(name):
    w = _workload(name)
    # Replay the same window independently and evaluate each generated alarm's condition on it.
    arrivals = peak_window(traffic_shape(w), seed=0, lead_s=900, tail_s=300)
    r = simulate(w, "serverless", arrivals, Options(seed=0))
    fired = serverless_alarms_fired(w, r)
    named = w.decision.option(Target.serverless).simulated.alarms
    assert named == fired
    assert fired == []  # sized from this traffic, no generated alarm fires under it
    if r.summary.throttled:
        assert "Throttles" in fired


def test_the_step_is_deterministic(sentiment):
    again = simulated(sentiment)
    for t in (Target.serverless, Target.kubernetes):
        assert again.decision.option(t).simulated == sentiment.decision.option(t).simulated
