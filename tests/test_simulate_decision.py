"""The plan's simulation step: the issue-18 contradictions of the example profiles (fixture copies
with the same numbers) are named by the plan with their numbers, every alarm the simulated traffic
would set off is named, and the Kubernetes bill from replica-hours run sits below the peak bill."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from stacks.commands.plan import to_json
from stacks.profile import Target
from stacks.profile.loader import load_profile, load_settings
from stacks.simulate.inputs import traffic_shape
from stacks.simulate.run import Options, simulate
from stacks.simulate.traffic import peak_window
from stacks.simulate.verdict import serverless_alarms_fired, simulated
from stacks.targets import decide
from stacks.targets.serverless.simulation import COLD_TOLERANCE, _sized, run_peak, sim_params
from stacks.targets.serverless.sizing import serverless
from tests.conftest import PROFILES


def _workload(name: str):
    return decide(load_profile(PROFILES / f"{name}.yaml", load_settings(PROFILES)))


@pytest.fixture(scope="module")
def sentiment():
    return _workload("sentiment-api")


@pytest.fixture(scope="module")
def embeddings():
    return _workload("nightly-embeddings")


def sized_with(w, *, floor: int):
    """The averages' sizing with another floor and all the account's reservable concurrency."""
    platform = w.settings.platform
    reservable = (
        platform.lambda_account_concurrency
        - platform.lambda_unreserved_concurrency
        - platform.lambda_reserved_by_others
    )
    s = serverless(w.profile, platform, w.settings.prices)
    return sim_params(w.profile, _sized(s, floor=floor, reserved=reservable, reservable=reservable, why=""), platform)


def _rule(w, target: Target, rule: str):
    found = [r for r in w.decision.option(target).reasons if r.rule == rule]
    assert found, f"{rule} missing for {target.value}"
    return found[0]


def test_sentiment_burst_raises_the_floor_to_the_smallest_within_the_tolerance_and_reserves_the_peak(sentiment):
    s = sentiment.decision.option(Target.serverless)
    k = sentiment.decision.option(Target.kubernetes).simulated
    # The averages' floor 1-5 let 3.22 % of the 40 rps burst pay a 2.6 s cold start: over the 1 % a
    # p99 target allows, so the floor rises, but only to the smallest that meets it (not to zero cold).
    sizing = _rule(sentiment, Target.serverless, "sim.sizing")
    assert sizing.fired and "provisioned 1-5 -> 7-7" in sizing.detail and "3.22% of 1,771 requests" in sizing.detail
    assert s.sizing.pc_min == 7
    assert run_peak(sentiment.profile, sized_with(sentiment, floor=7)).missed_share <= COLD_TOLERANCE
    lower = sized_with(sentiment, floor=6)
    assert run_peak(sentiment.profile, lower).missed_share > COLD_TOLERANCE  # 6 is not enough
    # The accepted cold share is named with its numbers and why it was accepted.
    cold = _rule(sentiment, Target.serverless, "sim.coldstart")
    assert 0 < s.simulated.cold_share <= COLD_TOLERANCE and not cold.fired
    assert f"{s.simulated.cold_share:.2%} of 1,771 requests paid a cold start" in cold.detail
    assert "within the 1% of requests a p99 target allows" in cold.detail
    # The reservation (free) covers the simulated peak: the burst is not throttled.
    assert "reserved 7 -> 18: the simulated burst peaks at 18 concurrent environments" in sizing.detail
    assert s.sizing.reserved_concurrency == 18 and s.simulated.refused_share == 0
    assert not any(r.rule == "sim.throttle" for r in s.reasons)
    # The bill pays for the floor it was sized with.
    prov = next(line for line in s.bill.lines if line.name == "provisioned_concurrency")
    assert f"{s.sizing.pc_min} environment(s)" in prov.basis
    # Kubernetes at min 2 replicas misses the 300 ms p99 and refuses requests during the ramp: named
    # under its own rule ids (an option's reasons are its own).
    assert k.p99_ms > k.sla_p99_ms == 300
    assert f"p99 {k.p99_ms:,.0f} ms > SLA 300 ms" in _rule(sentiment, Target.kubernetes, "sim.ramp_p99").detail
    assert _rule(sentiment, Target.kubernetes, "sim.refused").fired and k.refused_share > 0.05


def test_a_quota_too_small_for_the_peak_caps_the_reservation_and_names_the_throttled_share():
    loaded = load_profile(PROFILES / "sentiment-api.yaml", load_settings(PROFILES))
    platform = loaded.settings.platform.model_copy(update={"lambda_account_concurrency": 110})  # 10 reservable
    w = decide(replace(loaded, settings=loaded.settings.model_copy(update={"platform": platform})))
    s = w.decision.option(Target.serverless)
    assert s.sizing.reserved_concurrency == 10
    assert "reserved 7 -> 10: the simulated burst peaks at" in _rule(w, Target.serverless, "sim.sizing").detail
    assert "more than the 10 the account leaves" in _rule(w, Target.serverless, "sim.sizing").detail
    throttle = _rule(w, Target.serverless, "sim.throttle")
    assert throttle.fired and s.simulated.refused_share > 0
    assert f"{s.simulated.refused_share:.2%} of requests refused" in throttle.detail
    assert "throttled 429 with reserved concurrency 10" in throttle.detail


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
    # Sized from this traffic: no alarm fires but ColdStartOverBudget, which pages on any cold start
    # over the budget while the sizing accepts up to 1 % of them (sentiment-api 0.62 %, named by
    # sim.coldstart); nightly-embeddings' cold start is within its budget.
    assert fired == (["ColdStartOverBudget"] if name == "sentiment-api" else [])
    if fired:
        assert "ColdStartOverBudget" in _rule(w, Target.serverless, "sim.alarms").detail
    if r.summary.throttled:
        assert "Throttles" in fired


def test_the_step_is_deterministic(sentiment):
    again = simulated(sentiment)
    for t in (Target.serverless, Target.kubernetes):
        assert again.decision.option(t).simulated == sentiment.decision.option(t).simulated
