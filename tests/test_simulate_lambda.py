"""The Lambda model against figures worked out by hand from the platform's documented behaviour.

Each case is small enough to follow on paper: a few requests, one function, its parameters set
here. The figures are what AWS documents (the init phase's 10 s limit and its retry inside the
first invocation, provisioned concurrency kept through its schedule, the SQS event source adding
pollers every minute), not what the model happened to print.
"""

from __future__ import annotations

import dataclasses

import pytest

from stacks.simulate.constants import DEFAULT
from stacks.simulate.engine import Engine
from stacks.simulate.params import ServerlessParams, TrafficShape
from stacks.simulate.results import OK, THROTTLED, TIMED_OUT, Recorder, summarize
from stacks.simulate.serverless import ServerlessSim

OVERHEAD = 0.02
BASE = ServerlessParams(
    mode="sync",
    memory_gb=2.0,
    architecture="x86_64",
    timeout_s=30.0,
    invoke_overhead_s=OVERHEAD,
    cold_start_s=2.5,
    cold_start_parts_ms={},
    environment_lifetime_s=7200.0,
    reserved_concurrency=7,
    provisioned=False,
    pc_min=0,
    pc_max=0,
    pc_scheduled=False,
    pc_prewarm_s=900.0,
    pc_hold_every_s=900.0,
    pc_target_utilization=0.7,
    queue_max_concurrency=0,
    batch_size=0,
    batch_window_s=0.0,
    visibility_timeout_s=180.0,
    max_receive_count=5,
    weights_gb=0.4,
    weights_in_image=True,
)
ALL_DAY = TrafficShape(avg_rps=1, peak_rps=1, active_hours=24, window=None, zone="UTC", inference_ms=100)
OFFICE = TrafficShape(avg_rps=1, peak_rps=1, active_hours=10, window=(480, 1080), zone="UTC", inference_ms=100)


def replay(times, service, *, shape=ALL_DAY, start=0.0, end=3600.0, **changes):
    params = dataclasses.replace(BASE, **changes)
    engine, rec = Engine(), Recorder(times)
    model = ServerlessSim(engine, rec, params, service, shape, behaviour=DEFAULT, start=start, end=end)
    engine.feed(times, model.arrive)
    engine.run(end)
    model.finish(end)
    return summarize(rec), model, rec


def test_a_cold_burst_pays_the_cold_start_and_reserved_concurrency_throttles_exactly_the_excess():
    s, _model, rec = replay([1.0] * 10, [0.1] * 10)
    assert (s.served, s.throttled, s.cold_starts) == (7, 3, 7)
    assert list(rec.code) == [OK] * 7 + [THROTTLED] * 3
    assert rec.latency[0] == pytest.approx(OVERHEAD + 2.5 + 0.1)


def test_an_init_within_10_s_does_not_count_against_the_function_timeout():
    """Lambda's init phase has its own 10 s limit; the function timeout covers the invocation."""
    _s, model, rec = replay([1.0], [1.0], timeout_s=3.0)
    assert rec.code[0] == OK, "a 2.5 s init and a 1 s prediction fit a 3 s timeout"
    assert rec.latency[0] == pytest.approx(OVERHEAD + 2.5 + 1.0)
    assert model.usage()["on_demand_duration_gb_s"] == pytest.approx((2.5 + 1.0) * 2)  # the init is billed


def test_an_init_over_10_s_is_cut_and_run_again_inside_the_first_invocation():
    """The plan's coldstart.init_limit: the init is cut at 10 s and repeated under the function
    timeout, so the first request pays 10 s + the whole init + its prediction."""
    _, model, rec = replay([1.0, 100.0], [1.0, 1.0], cold_start_s=12.0, timeout_s=30.0)
    assert rec.code[0] == OK
    assert rec.latency[0] == pytest.approx(OVERHEAD + 10.0 + 12.0 + 1.0)
    assert rec.latency[1] == pytest.approx(OVERHEAD + 1.0)  # warm afterwards
    assert model.usage()["on_demand_duration_gb_s"] == pytest.approx((10.0 + 12.0 + 1.0 + 1.0) * 2)
    # A timeout shorter than the repeated init: the invocation times out 10 s + the timeout after
    # the request arrived, and the environment is discarded (the next request starts again).
    s, _model, rec = replay([1.0, 100.0], [1.0, 1.0], cold_start_s=12.0, timeout_s=5.0)
    assert list(rec.code) == [TIMED_OUT, TIMED_OUT]
    assert rec.latency[0] == pytest.approx(OVERHEAD + 10.0 + 5.0)
    assert s.cold_starts == 2


def test_a_span_opening_inside_the_provisioned_window_finds_the_floor_already_warm():
    """Scheduled provisioned concurrency (08:00-18:00, pre-warm 15 min) has been in place since
    07:45 when a span opens at 10:00 (a hold tick): the first request takes it, no cold start."""
    ten = 10 * 3600.0
    times = [ten + i for i in range(120)]
    s, model, _ = replay(
        times, [0.1] * 120, shape=OFFICE, start=ten, end=ten + 3600, provisioned=True, pc_min=1, pc_max=1,
        pc_scheduled=True,
    )  # fmt: skip
    assert s.cold_starts == 0 and model.usage()["on_demand_inits"] == 0
    assert model.usage()["provisioned_gb_s"] == pytest.approx(3600 * 2)


def test_a_span_opening_during_the_pre_warm_waits_for_the_allocation():
    # The pre-warm starts at 07:45; a span opening at 07:45:30 finds it still allocating (60 s + init).
    warm = 7.75 * 3600
    times = [warm + 30.0, warm + 90.0]
    _, _, rec = replay(
        times, [0.1, 0.1], shape=OFFICE, start=warm + 30, end=warm + 3600, provisioned=True, pc_min=1, pc_max=1,
        pc_scheduled=True,
    )  # fmt: skip
    assert list(rec.cold) == [1, 0]  # 07:45:30 is before 07:46:02.5; 07:46:30 is after


def test_the_sqs_event_source_starts_the_added_pollers_when_they_are_added():
    """Five concurrent batches when messages appear, up to 300 more a minute while they wait: the
    ten more that a maximum concurrency of 15 allows start at the first minute, not when one of the
    first five (100 s long) returns."""
    n = 30
    s, _model, rec = replay(
        [0.0] * n, [100.0] * n, end=1000.0, mode="async", queue_max_concurrency=15, batch_size=1, batch_window_s=0.0,
        reserved_concurrency=100, cold_start_s=1.0, timeout_s=900.0, visibility_timeout_s=5400.0,
    )  # fmt: skip
    assert [rec.wait[i] for i in range(5)] == [0.0] * 5
    assert [rec.wait[i] for i in range(5, 15)] == [60.0] * 10
    assert s.served == n
