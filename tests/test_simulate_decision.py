"""The plan sized from the simulation (issue 18 item 2), on the fixture copies of the examples.

Every figure is recomputed here from an independent run of the same burst window, or stated as the
relationship a user would notice (the floor is the smallest within the tolerance, the reservation is
the burst's peak, the replica-hours bill sits below the peak bill); none is pasted from a plan.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace

import pytest

from stacks.commands.plan import render_table, to_json
from stacks.profile import Target
from stacks.profile.loader import load_profile, load_settings
from stacks.simulate import window as simwindow
from stacks.simulate.inputs import kubernetes_params
from stacks.simulate.traffic import BURST_MEAN_S, burst_parameters, shape_of
from stacks.simulate.verdict import NOT_MODELLED, simulated
from stacks.simulate.window import BURST_S, WARMUP_S, burst_window, run_kubernetes, run_serverless, settled_replicas
from stacks.targets import decide
from stacks.targets.serverless.simulation import COLD_TOLERANCE, UNBOUNDED, _sized, sim_params
from stacks.targets.serverless.sizing import serverless
from stacks.workloads import Batch
from tests.cli_helpers import switchyard
from tests.conftest import MODEL, PROFILES, VALID


def _workload(name: str, **platform):
    loaded = load_profile(PROFILES / f"{name}.yaml", load_settings(PROFILES))
    if platform:
        settings = loaded.settings.model_copy(update={"platform": loaded.settings.platform.model_copy(update=platform)})
        loaded = replace(loaded, settings=settings)
    return simulated(decide(loaded))


@pytest.fixture(scope="module")
def sentiment():
    return _workload("sentiment-api")


@pytest.fixture(scope="module")
def embeddings():
    return _workload("nightly-embeddings")


def averages(w):
    return serverless(w.profile, w.settings.platform, w.settings.prices)


def burst_with_floor(w, floor: int):
    """The averages' sizing with another floor and a reservation no burst reaches, over the plan's window."""
    s = _sized(averages(w), floor=floor, reserved=UNBOUNDED, reservable=UNBOUNDED)
    return run_serverless(burst_window(shape_of(w.profile)), sim_params(w.profile, s, w.settings.platform))


def _rule(w, target: Target, rule: str):
    found = [r for r in w.decision.option(target).reasons if r.rule == rule]
    assert found, f"{rule} missing for {target.value}"
    return found[0]


def test_the_window_counts_one_burst_after_a_warm_up():
    shape = shape_of(load_profile(PROFILES / "sentiment-api.yaml").profile)
    window = burst_window(shape)
    times = window.arrivals.times
    lo, hi = window.counted
    # 60 s at the base (2.5 % of the active time in bursts: (2 - 0.025 x 40) / 0.975), then 60 s at 40 rps
    assert window.base_rps == pytest.approx((2 - 0.025 * 40) / 0.975)
    assert window.start == 8 * 3600 and window.burst_start == window.start + WARMUP_S
    assert all(t < window.burst_start for t in times[:lo]) and all(
        window.burst_start <= t < window.burst_end for t in times[lo:hi]
    )
    assert hi == len(times)  # nothing after the burst: a later request cannot change a counted one
    assert abs(window.requests - 40 * BURST_S) < 4 * math.sqrt(40 * BURST_S)  # Poisson, within 4 sigma
    assert burst_window(shape) is window and burst_window(shape, 1).arrivals.times != times  # seeded


def test_sentiment_floor_is_the_smallest_within_the_tolerance_and_the_reservation_covers_the_peak(sentiment):
    o = sentiment.decision.option(Target.serverless)
    s, avg = o.sizing, averages(sentiment)
    # The averages' floor lets more than 1 % of the burst's requests pay a 2.6 s cold start (> 1,000 ms).
    first = burst_with_floor(sentiment, avg.pc_min)
    assert first.cold_or_failed_share > COLD_TOLERANCE
    # So the floor rises, to the smallest that keeps the burst within the tolerance.
    assert s.pc_min > avg.pc_min and s.pc_max == max(avg.pc_max, s.pc_min)
    assert burst_with_floor(sentiment, s.pc_min).cold_or_failed_share <= COLD_TOLERANCE
    assert burst_with_floor(sentiment, s.pc_min - 1).cold_or_failed_share > COLD_TOLERANCE
    sizing = _rule(sentiment, Target.serverless, "sim.sizing")
    assert sizing.fired
    assert (
        f"provisioned {avg.pc_min}-{avg.pc_max} -> {s.pc_min}-{s.pc_max}: the averages' floor let "
        f"{first.cold_or_failed_share:.2%} of the burst's {first.summary.requests:,} requests miss the SLA"
    ) in sizing.detail
    # The reservation (free) is twice the burst's peak of environments at that floor, as the averages'
    # is twice their peak: nothing throttled (tests/test_simulate_alarms.py: nor in a day of bursts).
    peak = burst_with_floor(sentiment, s.pc_min).peak
    assert s.reserved_concurrency == 2 * peak and peak > avg.reserved_concurrency
    assert f"reserved {avg.reserved_concurrency} -> {2 * peak}: the simulated burst peaks at {peak}" in sizing.detail
    assert o.simulated.refused_share == 0 and not any(r.rule == "sim.throttle" for r in o.reasons)
    # The accepted share is named with its numbers and why it was accepted.
    cold = _rule(sentiment, Target.serverless, "sim.coldstart")
    assert 0 < o.simulated.cold_share <= COLD_TOLERANCE and not cold.fired
    assert (
        f"{o.simulated.cold_share:.2%} of the burst's {o.simulated.requests:,} requests paid a cold start"
        in cold.detail
    )
    assert "within the 1% of requests a p99 target allows" in cold.detail
    assert s.simulated_cold_share == o.simulated.cold_share  # what ColdStartOverBudget's description states
    # The bill pays for that floor, and for what each burst spills onto on-demand environments.
    lines = {x.name: x for x in o.bill.lines}
    assert f"{s.pc_min} environment(s)" in lines["provisioned_concurrency"].basis
    share, _ = burst_parameters(shape_of(sentiment.profile))
    bursts = share * 10 * 3600 / BURST_MEAN_S * 730 / 24
    assert lines["duration_on_demand"].quantity == pytest.approx(s.burst_on_demand_s * 2 * bursts)
    assert s.burst_on_demand_invocations > 0


def test_a_quota_too_small_for_the_peak_caps_the_reservation_and_names_the_throttled_share(sentiment):
    w = _workload("sentiment-api", lambda_account_concurrency=110)  # 10 reservable
    o = w.decision.option(Target.serverless)
    peak = sentiment.decision.option(Target.serverless).simulated.peak_capacity
    assert o.sizing.reserved_concurrency == 10 < peak
    sizing = _rule(w, Target.serverless, "sim.sizing").detail
    assert "the simulated burst peaks at" in sizing and "(more than the 10 the account leaves)" in sizing
    throttle = _rule(w, Target.serverless, "sim.throttle")
    assert throttle.fired and o.simulated.refused_share > 0
    assert f"{o.simulated.refused_share:.2%} of the burst's requests refused" in throttle.detail
    assert "throttled 429 with reserved concurrency 10" in throttle.detail
    assert "Throttles" in o.simulated.alarms  # the alarm would fire: named, not hidden


def test_kubernetes_starts_settled_at_the_base_and_a_steady_load_moves_nothing(tmp_path):
    # peak = average: no burst, so a settled deployment must neither scale nor refuse
    path = tmp_path / "steady.yaml"
    (tmp_path / "model.py").write_text(MODEL)
    path.write_text(VALID.replace("peak_rps: 20", "peak_rps: 2"), encoding="utf-8")
    w = decide(load_profile(path))
    window = burst_window(shape_of(w.profile))
    params = kubernetes_params(w)
    run = run_kubernetes(window, params)
    # the HPA's own formula at the base load (Little's law: 2 rps x 0.08 s in flight), within min and max
    expected = max(params.min_replicas, 1, min(params.max_replicas, math.ceil(2 * 0.08 / params.http_target)))
    assert run.settled == settled_replicas(window, params) == expected
    assert run.pod_starts == 0 and run.peak == run.settled and run.summary.served == run.summary.requests


def test_the_kubernetes_bill_from_replica_hours_is_below_the_peak_bill_and_both_are_shown(sentiment, embeddings):
    for w in (sentiment, embeddings):
        o = w.decision.option(Target.kubernetes)
        run = run_kubernetes(burst_window(shape_of(w.profile)), kubernetes_params(w))
        u = w.profile.utilization
        share, _ = burst_parameters(shape_of(w.profile))
        bursts = share * u.active_hours_per_day * 3600 / BURST_MEAN_S
        extra = (run.capacity_seconds - run.settled * run.span_s) / 3600  # what one burst adds, scale-down included
        assert extra > 0
        per_day = (
            run.settled * u.active_hours_per_day
            + bursts * extra
            + o.sizing.min_replicas * (24 - u.active_hours_per_day)
        )
        nodes = next(x for x in o.bill.lines if x.name == "cpu_nodes")
        expected = o.bill.total - nodes.usd + nodes.usd * per_day / (o.sizing.billed_replicas * 24)
        assert o.simulated.monthly_usd == pytest.approx(expected, abs=0.01)
        assert o.simulated.monthly_usd < o.bill.total  # the peak x 730 h bill stays the option's bill
        doc = json.loads(json.dumps(to_json(w)))
        assert doc["simulated"]["kubernetes"]["monthly_usd"] == o.simulated.monthly_usd
        assert doc["cost_usd_month"]["kubernetes"]["total"] == pytest.approx(o.bill.total, abs=0.01)
        assert f"{per_day:,.1f} replica-hours a day" in _rule(w, Target.kubernetes, "sim.replica_hours").detail


def test_sentiment_kubernetes_ramp_refuses_requests_and_says_so(sentiment):
    k = sentiment.decision.option(Target.kubernetes).simulated
    # 2 replicas settled for the 1 rps base take a 40 rps burst: pods start in ~24 s, so the full
    # replicas answer 503 meanwhile; named under Kubernetes' own rule ids (an option's reasons are its own)
    assert k.refused_share > 0.05 and _rule(sentiment, Target.kubernetes, "sim.refused").fired
    slow = k.p99_ms > k.sla_p99_ms
    assert _rule(sentiment, Target.kubernetes, "sim.ramp_p99").fired == slow


def test_the_queue_consumers_below_the_peak_are_named_with_the_backlog_rate(embeddings):
    s = embeddings.decision.option(Target.serverless).sizing
    drain = s.queue_max_concurrency / 0.2  # consumers / 200 ms a message
    lag = _rule(embeddings, Target.serverless, "sim.queue_lag")
    assert drain < 100
    assert f"{s.queue_max_concurrency} consumers drain {drain:,.0f} msg/s against peak 100 rps" in lag.detail
    assert f"backlog grows {100 - drain:,.0f} msg/s" in lag.detail
    sim = embeddings.decision.option(Target.serverless).simulated
    assert 0 < sim.max_queue_age_s < 3600
    assert not lag.fired  # a minute's burst leaves a backlog of seconds, far below the alarm


def test_infeasible_and_unmodelled_options_say_why_they_are_not_simulated():
    w = _workload("fraud-scoring")  # 24 GB: Lambda is ruled out
    doc = to_json(w)
    assert doc["simulated"]["serverless"] == {"not_simulated": "it cannot run the workload (limit.memory)"}
    for target in ("managed-instances", "hybrid"):
        assert doc["simulated"][target] == {"not_simulated": NOT_MODELLED}
    text = render_table(Batch([w], []))
    assert "    serverless: not simulated: it cannot run the workload (limit.memory)" in text
    k = w.decision.option(Target.kubernetes).simulated
    assert f"    kubernetes: cold starts {k.cold_share:.2%}, p99 {k.p99_ms:,.0f} ms (SLA 100 ms)" in text


def test_a_plan_reuses_the_sizing_runs_and_a_second_plan_simulates_nothing(monkeypatch, tmp_path):
    calls = []
    for name in ("trace_serverless", "trace_kubernetes"):
        real = getattr(simwindow, name)
        monkeypatch.setattr(simwindow, name, lambda *a, _real=real, _n=name, **k: calls.append(_n) or _real(*a, **k))
    # a profile no other test plans, so nothing is memoised yet
    path = tmp_path / "fresh.yaml"
    (tmp_path / "model.py").write_text(MODEL)
    path.write_text(
        VALID.replace("peak_rps: 20", "peak_rps: 23").replace(
            "cold_start_budget_ms: 10000", "cold_start_budget_ms: 500"
        )
    )
    w = decide(load_profile(path))
    searched = calls.count("trace_serverless")
    assert searched >= 2  # the averages' floor, then the search's probes
    to_json(w)
    # the plan's serverless figures are the search's last run; only Kubernetes is simulated for it
    assert calls.count("trace_serverless") == searched and calls.count("trace_kubernetes") == 1
    decide(load_profile(path))
    to_json(decide(load_profile(path)))
    assert len(calls) == searched + 1


def test_simulate_window_burst_replays_the_plans_figures(tmp_path, sentiment):
    r = switchyard(
        "simulate", str(PROFILES / "sentiment-api.yaml"), "--window", "burst", "--target", "all", "--json", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)["workloads"][0]
    assert doc["traffic"]["description"].startswith("the plan's burst: 60 s at the 40 rps peak")
    for t in doc["targets"]:
        sim = sentiment.decision.option(Target(t["target"])).simulated
        assert t["requests"] == sim.requests and t["cold_start_share"] == sim.cold_share
        assert t["latency_ms"]["p99"] == pytest.approx(sim.p99_ms, abs=0.1)
        assert t["capacity"]["peak"] == sim.peak_capacity
    bad = switchyard(
        "simulate", str(PROFILES / "sentiment-api.yaml"), "--window", "burst", "--hours", "2", cwd=tmp_path
    )
    assert bad.returncode != 0 and "--window burst replays the burst `switchyard plan` simulates" in bad.stderr


def test_the_step_is_deterministic(sentiment):
    again = _workload("sentiment-api")
    for t in (Target.serverless, Target.kubernetes):
        assert again.decision.option(t).simulated == sentiment.decision.option(t).simulated


def test_an_async_plan_does_not_claim_a_floor_search_it_never_ran(tmp_path):
    # Queued traffic is not sized from the simulation (the queue turns a burst into lag): a burst whose
    # cold share is over the tolerance must not be explained as "even with the largest floor the sizing
    # tries", and the floor must be named as the averages'.
    (tmp_path / "model.py").write_text(MODEL)
    path = tmp_path / "queued.yaml"
    text = VALID.replace("mode: sync", "mode: async").replace(
        "cold_start_budget_ms: 10000", "cold_start_budget_ms: 1000"
    )
    path.write_text(text.replace("peak_rps: 20", "peak_rps: 100").replace("inference_ms: 80", "inference_ms: 200"))
    w = simulated(decide(load_profile(path)))
    s = averages(w)
    assert s.provisioned and w.decision.option(Target.serverless).sizing.pc_min == s.pc_min
    reason = _rule(w, Target.serverless, "sim.coldstart")
    assert w.decision.option(Target.serverless).simulated.cold_share > COLD_TOLERANCE
    assert "the sizing tries" not in reason.detail
    assert "queue" in reason.detail and "not raised" in reason.detail


def test_a_large_bursts_floor_search_finds_the_smallest_floor_in_few_probes(tmp_path, monkeypatch):
    # 800 rps bursts over a 100 rps average: each probe replays ~48,000 requests (~0.15 s), and galloping
    # then bisecting up to floor 22 took 10 of them; interpolating the share takes at most 7.
    (tmp_path / "model.py").write_text(MODEL)
    path = tmp_path / "busy.yaml"
    text = VALID.replace("avg_rps: 2", "avg_rps: 100").replace("peak_rps: 20", "peak_rps: 800")
    path.write_text(text.replace("inference_ms: 80", "inference_ms: 30").replace("10000", "1000"))
    probes = []
    real = simwindow.trace_serverless

    def counting(window, params, *args, **kwargs):
        probes.append(params.pc_min)
        return real(window, params, *args, **kwargs)

    monkeypatch.setattr(simwindow, "trace_serverless", counting)
    w = decide(load_profile(path))
    floor = w.decision.option(Target.serverless).sizing.pc_min
    assert len(probes) <= 8, probes  # 7 floors searched, then the sized function's own run
    monkeypatch.setattr(simwindow, "trace_serverless", real)
    share = lambda run: run.cold_or_failed_share  # noqa: E731
    assert floor > averages(w).pc_min
    assert share(burst_with_floor(w, floor)) <= COLD_TOLERANCE < share(burst_with_floor(w, floor - 1))


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*\.?\d*", text)]


def test_the_duration_lines_are_recomputable_from_the_figures_they_print(sentiment):
    # A reader checks a bill line by multiplying what its basis prints. With a burst spilling past the
    # floor, the spilled invocations' duration moves from the provisioned line to the on-demand one:
    # both bases must print what was moved, or neither line multiplies out.
    bill = sentiment.decision.option(Target.serverless).bill
    lines = {line.name: line for line in bill.lines}
    on_pc, on_demand = lines["duration_on_provisioned"], lines["duration_on_demand"]
    assert sentiment.decision.option(Target.serverless).sizing.burst_on_demand_invocations > 0
    requests, secs, gb, *_ = _numbers(on_pc.basis.split("(")[0])
    moved = _numbers(on_pc.basis.split("less")[1])
    invocations, per, gb2, bursts = moved[:4]
    assert on_pc.quantity == pytest.approx(requests * secs * gb - invocations * per * gb2 * bursts, rel=1e-3)
    overflow = _numbers(on_demand.basis.split("overflow")[1])[0]
    spill = _numbers(on_demand.basis.split("spill:")[1])
    assert on_demand.quantity == pytest.approx(overflow + spill[1] * spill[2] * spill[3], rel=1e-3, abs=0.5)


def test_a_cut_bursts_spill_is_billed_for_the_full_burst_the_month_counts(tmp_path, monkeypatch):
    # Beyond MAX_BURST_REQUESTS the window keeps only the burst's ramp (1,500 rps: 40 s of 60), but the
    # bill multiplies a burst's spill by bursts a month of the model's full length. The on-demand
    # environments the ramp starts keep serving for the rest of the burst: their invocations must be
    # billed for it, within 5 % of what a full-length burst spills.
    (tmp_path / "model.py").write_text(MODEL)
    path = tmp_path / "big.yaml"
    text = VALID.replace("avg_rps: 2", "avg_rps: 30").replace("peak_rps: 20", "peak_rps: 1500")
    path.write_text(text.replace("10000", "1000"))
    w = decide(load_profile(path))
    s = w.decision.option(Target.serverless).sizing
    assert burst_window(shape_of(w.profile)).burst_s < BURST_S
    monkeypatch.setattr(simwindow, "MAX_BURST_REQUESTS", 10**6)
    full = burst_window.__wrapped__(shape_of(w.profile))
    assert full.burst_s == BURST_S
    run = simwindow.trace_serverless(full, sim_params(w.profile, s, w.settings.platform))[0]
    assert s.burst_on_demand_invocations == pytest.approx(run.on_demand_invocations, rel=0.05)
    assert s.burst_on_demand_s == pytest.approx(run.on_demand_s, rel=0.05)
