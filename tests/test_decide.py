"""Hard limits, explicit targets, cost formulas against hand calculations, sizing, break-even."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stacks.errors import DecisionError
from stacks.profile import Target
from stacks.profile.loader import load_profile
from stacks.targets import decide
from tests.conftest import MODEL, VALID

DAYS = 730 / 24


def edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text


# ----------------------------------------------------------------- hard limits

LIMITS = {
    "gpu": (("  gpu: none", "  gpu: required\n  accelerator: L4:1"), "gpu is required: Lambda has no GPU"),
    "memory": (("  memory_gb: 2", "  memory_gb: 10.5"), "memory 10,752 MB > Lambda's 10,240 MB"),
    "image": (("  memory_gb: 2", "  memory_gb: 2\n  image_gb: 10.5"), "image 10.5 GB > Lambda's 10 GB"),
    "timeout": (("  timeout_s: 30", "  timeout_s: 901"), "longest request 901 s > Lambda's 900 s"),
}


@pytest.mark.parametrize("limit", list(LIMITS))
def test_hard_limit_rules_out_lambda(limit, write_profile):
    pair, detail = LIMITS[limit]
    w = decide(load_profile(write_profile(edit(VALID, pair))))
    # Rule ids are each target's own: read Lambda's from the serverless option.
    fired = {r.rule: r.detail for r in w.decision.option(Target.serverless).reasons if r.fired}
    assert fired[f"limit.{limit}"] == detail
    assert w.target is Target.kubernetes
    assert not w.decision.option(Target.serverless).feasible
    target = next(r.detail for r in w.decision.fired() if r.rule == "target")
    assert f"Lambda ruled out by {limit}" in target


def test_limits_sit_exactly_at_lambdas_quotas(write_profile):
    at_limit = edit(
        VALID, ("  memory_gb: 2", "  memory_gb: 10\n  image_gb: 10"), ("  timeout_s: 30", "  timeout_s: 900")
    )
    w = decide(load_profile(write_profile(at_limit)))
    assert not w.decision.option(Target.serverless).hard_limits
    assert w.decision.option(Target.serverless).sizing.memory_mb == 10240


@pytest.mark.parametrize("limit", list(LIMITS))
def test_explicit_serverless_with_a_violated_limit_is_an_error(limit, write_profile):
    pair, detail = LIMITS[limit]
    path = write_profile(edit(VALID, pair, ("target: auto", "target: serverless")))
    with pytest.raises(DecisionError) as info:
        decide(load_profile(path))
    assert str(info.value) == (
        f"{path}:3: target: serverless is impossible: {detail}. Allowed: target: kubernetes or auto, or change the profile."
    )


def test_explicit_costlier_target_is_honoured_with_a_warning(write_profile):
    auto = decide(load_profile(write_profile(VALID)))
    assert auto.target is Target.serverless
    forced = decide(load_profile(write_profile(edit(VALID, ("target: auto", "target: kubernetes")))))
    assert forced.target is Target.kubernetes
    k, s = forced.decision.option(Target.kubernetes).bill.total, forced.decision.option(Target.serverless).bill.total
    assert forced.decision.warnings == [
        f"target kubernetes costs ${k:,.2f}/month; serverless would cost ${s:,.2f}/month"
    ]


def test_latency_sla_lambda_cannot_meet_sends_the_workload_to_kubernetes(write_profile):
    w = decide(load_profile(write_profile(edit(VALID, ("  p99_latency_ms: 300", "  p99_latency_ms: 90")))))
    assert w.target is Target.kubernetes
    fired = {r.rule: r.detail for r in w.decision.option(Target.serverless).reasons if r.fired}
    assert fired["sla.latency"] == "warm Lambda latency 80 + 20 ms invoke = 100 ms > p99 target 90 ms"
    target = next(r.detail for r in w.decision.fired() if r.rule == "target")
    assert target.startswith("kubernetes: the only option meeting every hard limit and the SLA")
    assert "; serverless misses the SLA (latency)" in target  # other targets may add theirs


# ----------------------------------------------------------------- sizing and its reasons
# (the bill itself is recomputed line by line in tests/test_cost.py)


def test_provisioned_concurrency_follows_the_cold_start_terms(write_profile):
    text = edit(
        VALID,
        ("  cold_start_budget_ms: 10000", "  cold_start_budget_ms: 500"),
        ("  active_hours_per_day: 10", '  active_hours_per_day: 10\n  active_window: "08:00-18:00 UTC"'),
    )
    w = decide(load_profile(write_profile(text)))
    s = w.decision.option(Target.serverless).sizing
    # runtime init 250 + 1 GB image x 100 ms + imports 500 + 0.5 GB at 200 MB/s 2,500 + at 1,000 MB/s 500
    assert s.cold_start.total_ms == 3850
    assert s.provisioned and s.pc_scheduled
    # The averages give 1 (0.16 / 0.7) to 3 (20 x 0.08 / 0.7); the simulated 20 rps burst may raise the
    # floor (never the other way), and says from what (tests/test_simulate_decision.py: by how much).
    averages = (1, math.ceil(20 * 0.08 / 0.7))
    assert s.pc_min >= averages[0] and s.pc_max == max(averages[1], s.pc_min)
    if s.pc_min > averages[0]:
        assert s.raised_by_simulation.startswith(f"provisioned {averages[0]}-{averages[1]} -> {s.pc_min}-{s.pc_max}:")
    # billed from the pre-warm 15 minutes before the window to its end
    assert s.pc_hours_per_day == 10.25 and s.pc_prewarm_minutes == 15
    line = next(x for x in w.decision.option(Target.serverless).bill.lines if x.name == "provisioned_concurrency")
    assert line.quantity == pytest.approx(s.pc_min * 2 * 10.25 * 3600 * DAYS)


def test_provisioned_without_window_is_billed_all_day_and_says_so(write_profile):
    text = edit(VALID, ("  cold_start_budget_ms: 10000", "  cold_start_budget_ms: 500"))
    w = decide(load_profile(write_profile(text)))
    assert w.decision.option(Target.serverless).sizing.pc_hours_per_day == 24
    assert w.decision.warnings == [
        "provisioned concurrency is billed 24 h/day because utilization.active_window is not set; "
        "setting it would bill 10 h/day"
    ]


def test_async_batches_messages_for_requests_and_queue_calls(write_profile):
    w = decide(load_profile(write_profile(edit(VALID, ("  mode: sync", "  mode: async")))))
    s = w.decision.option(Target.serverless).sizing
    # 2 messages a second fill a batch of 2 within the 1 s window
    assert (s.queue_batch_size, s.queue_batch_window_s, s.messages_per_invocation) == (10, 1, 2)
    messages = 2 * 10 * 3600 * DAYS
    lines = {x.name: x for x in w.decision.option(Target.serverless).bill.lines}
    assert lines["requests"].quantity == pytest.approx(messages / 2 / 1e6)
    assert lines["sqs"].quantity == pytest.approx(messages * (1 + 2 / 2) / 1e6)
    assert lines["results_put"].quantity == pytest.approx(messages / 1000)
    assert s.queue_max_concurrency == 4  # min(reserved 4, EFS 3000/200 = 15)


def test_async_batches_are_billed_at_the_size_the_event_source_really_uses(write_profile):
    """A 2 s timeout fits 3 messages at the 600 ms p99: the event source takes 3 per invocation, so
    20 messages a second are 20 / 3 invocations, not 20 / 10 (the bill used the SQS maximum)."""
    text = edit(
        VALID,
        ("  mode: sync", "  mode: async"),
        ("  timeout_s: 30", "  timeout_s: 2"),
        ("  p99_latency_ms: 300", "  p99_latency_ms: 600"),
        ("  avg_rps: 2", "  avg_rps: 20"),
    )
    w = decide(load_profile(write_profile(text)))
    s = w.decision.option(Target.serverless).sizing
    assert (s.queue_batch_size, s.messages_per_invocation) == (3, 3)
    messages = 20 * 10 * 3600 * DAYS
    lines = {x.name: x for x in w.decision.option(Target.serverless).bill.lines}
    assert lines["requests"].quantity == pytest.approx(messages / 3 / 1e6)
    assert lines["sqs"].quantity == pytest.approx(messages * (1 + 2 / 3) / 1e6)


def test_interface_endpoints_cost_per_az_hour_once_for_the_platform(write_profile):
    from stacks.targets.serverless.bill import shared_platform_cost

    path = write_profile(VALID)  # the endpoints are shared by the directory's workloads: platform.yaml
    (path.parent / "platform.yaml").write_text("platform:\n  interface_endpoints: [xray, sqs]\n")
    w = decide(load_profile(path))
    shared = shared_platform_cost(w.settings.prices, w.settings.platform)
    assert shared.items["vpc_interface_endpoints"] == pytest.approx(2 * 2 * 730 * 0.01)
    assert (
        "vpc_interface_endpoints" not in w.decision.option(Target.serverless).bill.items
    )  # not again in each workload


def test_cpu_replicas_pack_after_the_nodes_reserve_and_surge_is_billed(write_profile):
    w = decide(load_profile(write_profile(VALID)))
    k = w.decision.option(Target.kubernetes).sizing
    # one prediction at a time per replica: 1 / 0.08 s x 70 % = 8.75 rps; 20 rps peak -> 3 replicas
    assert k.replica_rps == pytest.approx(8.75)
    # the default 99.9 % availability keeps two, on two nodes; a rollout surges one more
    assert (k.min_replicas, k.max_replicas, k.rollout_max_surge, k.billed_replicas) == (2, 3, 1, 4)
    assert k.spread_across_nodes
    # 16 vCPU less 110 m reserved and 500 m of DaemonSets holds 15 one-vCPU replicas, not 16
    assert (k.replicas_per_node, k.packing_limit) == (15, "cpu")
    assert w.decision.option(Target.kubernetes).bill.items["cpu_nodes"] == round(4 * 730 * 0.40 / 15, 2)


def test_a_big_replica_is_limited_by_memory_and_strands_the_rest(write_profile):
    w = decide(load_profile(write_profile(edit(VALID, ("  memory_gb: 2", "  memory_gb: 20")))))
    k = w.decision.option(Target.kubernetes).sizing
    # 57.4 GB allocatable holds two 20 GB replicas: each blocks half a node, not 20/64 of it
    assert (k.replicas_per_node, k.packing_limit) == (2, "memory")


def test_pod_start_shows_every_term(write_profile):
    w = decide(load_profile(write_profile(VALID)))
    k = w.decision.option(Target.kubernetes).sizing
    # schedule 5,000 + 1 GB pull at 100 MB/s 10,000 + 0.5 GB cache read at 500 MB/s 1,000
    # + deserialize 500 + engine 3,000 + compile 0
    assert (k.schedule_ms, k.image_pull_ms, k.weights_ms, k.deserialize_ms, k.engine_start_ms, k.compile_ms) == (
        5000,
        10000,
        1000,
        500,
        3000,
        0,
    )
    assert k.pod_start_ms == 19500
    assert k.first_start_ms == 19500 + 2500  # a new weights version is first copied at 200 MB/s
    detail = next(r.detail for r in w.decision.reasons if r.rule == "coldstart.min_replicas")
    assert detail == (
        "pod start ~19,500 ms (schedule 5,000 + image pull 1 GB at 100 MB/s 10,000 + weights 0.5 GB from the model "
        "cache at 500 MB/s 1,000 + deserialize 500 + engine start 3,000 + compile 0; a new weights version first "
        "copies them at 200 MB/s, 2,500 more) > budget 10,000 ms: kubernetes keeps at least 1 replica warm"
    )


def test_vllm_pod_start_includes_engine_and_compile(write_profile):
    text = edit(
        VALID,
        ("  preset: custom\n  entrypoint: model.py\n", "  preset: vllm\n"),
        ("  gpu: none", "  gpu: required\n  accelerator: A100-80GB:1\n  args: {model: m}"),
        ("  weights_gb: 0.5", "  weights_gb: 16"),
        ("  memory_gb: 2", "  memory_gb: 64"),
        ("  p99_latency_ms: 300", "  p99_latency_ms: 3000"),
        ("  inference_ms: 80", "  inference_ms: 1500"),
        ("  timeout_s: 30", "  timeout_s: 120"),
    )
    k = decide(load_profile(write_profile(text))).decision.option(Target.kubernetes).sizing
    # 10 GB vLLM image at 100 MB/s, 16 GB from the cache at 500 MB/s + 16,000 deserialize, engine 30 s, compile 60 s
    assert k.pod_start_ms == 5000 + 100_000 + 32_000 + 16_000 + 30_000 + 60_000


def test_min_replicas_follow_the_pod_start(write_profile):
    low_sla = ("  cold_start_budget_ms: 10000", "  availability: 99\n  cold_start_budget_ms: 10000")
    tight = decide(
        load_profile(
            write_profile(edit(VALID, low_sla, ("  cold_start_budget_ms: 10000", "  cold_start_budget_ms: 19000")))
        )
    )
    loose_text = edit(VALID, low_sla, ("  cold_start_budget_ms: 10000", "  cold_start_budget_ms: 20000"))
    loose = decide(load_profile(write_profile(loose_text)))
    loose_async = decide(load_profile(write_profile(edit(loose_text, ("mode: sync", "mode: async")))))
    assert tight.decision.option(Target.kubernetes).sizing.pod_start_ms == 19500
    assert tight.decision.option(Target.kubernetes).sizing.min_replicas == 1
    # Within the budget only a queue may scale to zero: nothing starts a pod for an HTTP request.
    assert loose.decision.option(Target.kubernetes).sizing.min_replicas == 1
    assert loose_async.decision.option(Target.kubernetes).sizing.min_replicas == 0


def test_reasons_carry_the_numbers(write_profile):
    w = decide(load_profile(write_profile(VALID)))
    rules = {r.rule: r.detail for r in w.decision.reasons}
    assert rules["traffic.utilization"] == (
        "sustained utilization 4.2% (avg 2 rps x 10 h / peak 20 rps x 24 h); serverless usually fits below 30%"
    )
    assert rules["coldstart.provisioned"] == (
        "Lambda cold start ~3,850 ms (runtime init 250 + image 1 GB loaded lazily 100 + imports 500 + weights "
        "0.5 GB from EFS at 200 MB/s 2,500 + deserialize at 1,000 MB/s 500) <= budget 10,000 ms: no provisioned concurrency"
    )


def test_platform_file_overrides_a_cold_start_assumption(write_profile):
    text = VALID + "overrides:\n  platform:\n    lambda_imports_ms: 4000\n    efs_read_mb_per_s: 500\n"
    s = decide(load_profile(write_profile(text))).decision.option(Target.serverless).sizing
    assert (s.cold_start.imports_ms, s.cold_start.weights_ms) == (4000, 1000)


# ----------------------------------------------------------------- break-even


def _cpu_break_even_rps(node_hour: float) -> float:
    """Where on-demand Lambda's bill meets the CPU replicas' bill, from the price book alone.

    The profile: 2 GB, 100 ms, 24 h a day, peak 200 rps, no provisioned concurrency, environments
    living all day (no recycling). Above 1 rps every line is linear in the rps.
    """
    second = 24 * 3600 * DAYS  # active seconds a month
    per_rps = second * (
        0.100 * 2 * 0.0000166667  # duration
        + 0.20 / 1e6  # requests
        + 0.05 * 5.00 / 1e6  # X-Ray: 5 % of the requests beyond the first each second
        + 600 / 2**30 * 0.50  # logs
    )
    fixed = (
        0.5 * 0.30  # EFS storage
        + 20 * DAYS * 0.5 * 0.03  # 200 rps x 0.1 s = 20 environments read 0.5 GB once a day
        + 0.5 * 0.023  # weights in S3
        + 1.0 * 0.10  # 1 GB image in ECR
        + (1 - 0.05) * second * 5.00 / 1e6  # X-Ray's first trace each second
        # alarms: errors, throttles, p99, model errors, URL 5xx, and the cold-start share (metric math
        # over 2 metrics: CloudWatch bills each)
        + 7 * 0.10
        + 2 * 0.30  # cold starts over the budget (metric filter) and Powertools ColdStart metrics
    )
    # 1 / 0.1 s x 70 % = 7 rps a replica: 29 for 200 rps, + 1 surge; 15 replicas a node
    kubernetes = (29 + 1) * 730 * node_hour / 15 + 2 * 0.10 + 0.5 * 0.023
    return (kubernetes - fixed) / per_rps


BREAK_EVEN = edit(
    VALID,
    ("  cold_start_budget_ms: 10000", "  cold_start_budget_ms: 60000"),
    ("  peak_rps: 20", "  peak_rps: 200"),
    ("  active_hours_per_day: 10", "  active_hours_per_day: 24"),
    ("  inference_ms: 80", "  inference_ms: 100"),
)


@settings(max_examples=40, deadline=None)
@given(
    rps=st.floats(min_value=1.5, max_value=199, allow_nan=False),
    node_hour=st.floats(min_value=0.2, max_value=0.8, allow_nan=False),
)
def test_cpu_decision_flips_at_the_break_even(tmp_path_factory, rps, node_hour):
    edge = _cpu_break_even_rps(node_hour)
    assert 1 < edge < 199  # the range explored contains it
    if abs(rps - edge) < 0.02:  # each line is rounded to the cent: a few thousandths of an rps
        return
    path = tmp_path_factory.mktemp("be") / "p.yaml"
    (path.parent / "model.py").write_text(MODEL, encoding="utf-8")
    overrides = (
        f"overrides:\n  prices:\n    cpu_node_hour_usd: {node_hour!r}\n"
        "  platform:\n    lambda_environment_lifetime_h: 24\n"
    )
    path.write_text(BREAK_EVEN.replace("  avg_rps: 2", f"  avg_rps: {rps!r}") + overrides, encoding="utf-8")
    w = decide(load_profile(path))
    assert w.target is (Target.serverless if rps < edge else Target.kubernetes)


GPU_BREAK_EVEN = edit(
    BREAK_EVEN,
    ("  gpu: none", "  gpu: optional\n  accelerator: T4:1"),
    ("  memory_gb: 2", "  memory_gb: 10"),
    ("  peak_rps: 200", "  peak_rps: 40"),
)


def _gpu_break_even_rps(node_hour: float, sharing: str) -> float:
    """A GPU-optional model: Lambda on CPUs against T4 replicas (whole, or a quarter time-sliced)."""
    second = 24 * 3600 * DAYS
    per_rps = second * (0.100 * 10 * 0.0000166667 + 0.20 / 1e6 + 0.05 * 5.00 / 1e6 + 600 / 2**30 * 0.50)
    fixed = (
        0.5 * 0.30
        + 4 * DAYS * 0.5 * 0.03  # 40 rps x 0.1 s = 4 environments
        + 0.5 * 0.023
        + 1.0 * 0.10
        + (1 - 0.05) * second * 5.00 / 1e6
        + 7 * 0.10
        + 2 * 0.30
    )
    # 7 rps a replica: 6 replicas for 40 rps, no surge on GPUs. A node holds 8 whole-GPU replicas;
    # time-sliced 4 to a GPU it would hold 32, but its CPU (127,110 m / 4,000 m) holds 31.
    per_node = 8 if sharing == "none" else 31
    kubernetes = 6 * 730 * node_hour / per_node + 2 * 0.10 + 0.5 * 0.023
    return (kubernetes - fixed) / per_rps


@settings(max_examples=40, deadline=None)
@given(
    rps=st.floats(min_value=1.5, max_value=40, allow_nan=False),
    node_hour=st.floats(min_value=1.0, max_value=3.0, allow_nan=False),
    sharing=st.sampled_from(["none", "time-slicing"]),
)
def test_gpu_decision_flips_at_the_break_even(tmp_path_factory, rps, node_hour, sharing):
    edge = _gpu_break_even_rps(node_hour, sharing)
    if abs(rps - edge) < 0.02:
        return
    path = tmp_path_factory.mktemp("gbe") / "p.yaml"
    (path.parent / "model.py").write_text(MODEL, encoding="utf-8")
    overrides = (
        f"overrides:\n  prices:\n    gpu_node_hour_usd: {{T4: {node_hour!r}}}\n"
        f"  platform:\n    lambda_environment_lifetime_h: 24\n    gpu_sharing: {sharing}\n"
    )
    path.write_text(GPU_BREAK_EVEN.replace("  avg_rps: 2", f"  avg_rps: {rps!r}") + overrides, encoding="utf-8")
    w = decide(load_profile(path))
    assert w.target is (Target.serverless if rps < edge else Target.kubernetes)


def test_the_break_evens_sit_inside_the_ranges_explored():
    for node_hour in (0.2, 0.8):
        assert 1.5 < _cpu_break_even_rps(node_hour) < 199
    for sharing in ("none", "time-slicing"):
        for node_hour in (1.0, 3.0):
            assert 1.5 < _gpu_break_even_rps(node_hour, sharing) < 40


def test_a_price_override_moves_the_break_even(write_profile):
    # At 60 rps the default book sends this workload to kubernetes; halving Lambda's price brings it back.
    base = BREAK_EVEN.replace("  avg_rps: 2", "  avg_rps: 60")
    assert decide(load_profile(write_profile(base))).target is Target.kubernetes
    cheaper = base + "overrides:\n  prices:\n    lambda_x86_gb_s_usd: 0.0000083333\n"
    assert decide(load_profile(write_profile(cheaper))).target is Target.serverless


@pytest.mark.parametrize(
    ("availability", "replicas", "spread"),
    [(99.0, 1, False), (99.5, 2, True), (99.9, 2, True), (99.95, 2, True), (99.99, 3, True)],
)
def test_availability_sets_min_replicas_and_spread(write_profile, availability, replicas, spread):
    # VALID's cold-start budget (10 s) is below the pod start (15.5 s): at least one replica stays warm.
    text = edit(
        VALID, ("  cold_start_budget_ms: 10000", f"  availability: {availability}\n  cold_start_budget_ms: 10000")
    )
    w = decide(load_profile(write_profile(text)))
    k = w.decision.option(Target.kubernetes).sizing
    assert (k.min_replicas, k.spread_across_nodes) == (replicas, spread)
    assert k.max_replicas >= k.min_replicas
    assert any(r.rule == "sla.availability" and f"min {replicas}" in r.detail for r in w.decision.reasons)


def _gpu_profile(weights_gb: float, sharing: str, accelerator: str = "A100-80GB:1") -> str:
    return (
        edit(
            VALID,
            ("  gpu: none", f"  gpu: required\n  accelerator: {accelerator}"),
            ("  weights_gb: 0.5", f"  weights_gb: {weights_gb}"),
            ("  memory_gb: 2", "  memory_gb: 8"),
        )
        + f"overrides:\n  platform:\n    gpu_sharing: {sharing}\n"
    )


def test_time_sliced_gpu_costs_its_share_and_the_plan_says_which(write_profile):
    from stacks.commands.plan import sizing_line

    w = decide(load_profile(write_profile(_gpu_profile(10, "time-slicing"))))
    k = w.decision.option(Target.kubernetes).sizing
    assert (k.gpu_sharing, k.gpu_share, k.gpu_product_suffix) == ("time-slicing", 0.25, "-SHARED")
    # 32 quarter-GPU replicas would fit a node's 8 GPUs, but its CPU (127,110 m / 4,000 m) holds 31
    assert (k.replicas_per_node, k.packing_limit) == (31, "cpu")
    assert w.decision.option(Target.kubernetes).bill.items["gpu_nodes"] == round(3 * 730 * 14.40 / 31, 2)
    assert "1/4 A100-80GB time-sliced" in sizing_line(w, Target.kubernetes)
    share = next(r for r in w.decision.reasons if r.rule == "gpu.share")
    assert share.fired and "1/4 of a A100-80GB" in share.detail and "20 GB each" in share.detail
    assert not [m for m in w.decision.warnings if "time-slicing" in m]  # 12 GB fits a 20 GB share


def test_time_slicing_refuses_a_share_too_small_for_the_model(write_profile):
    with pytest.raises(DecisionError) as caught:
        decide(load_profile(write_profile(_gpu_profile(20, "time-slicing"))))
    assert str(caught.value).endswith(
        "model.weights_gb: time-slicing shares one A100-80GB (80 GB) between 4 replicas, 20 GB each, but this model "
        "needs ~24 GB (weights x 1.2): replicas sharing the GPU would run out of memory\n"
        "    allowed: a model needing at most 20 GB; or a lower platform time_slicing_replicas, or mig"
    )


@pytest.mark.parametrize(
    ("weights_gb", "profile", "per_gpu", "per_node", "limit"),
    [(5, "1g.10gb", 7, 31, "cpu"), (12, "1g.20gb", 4, 31, "cpu"), (20, "3g.40gb", 2, 16, "gpu")],
)
def test_mig_picks_the_cheapest_profile_that_fits(write_profile, weights_gb, profile, per_gpu, per_node, limit):
    w = decide(load_profile(write_profile(_gpu_profile(weights_gb, "mig"))))
    k = w.decision.option(Target.kubernetes).sizing
    # GPU memory needed = weights x 1.2: 6 GB fits 1g.10gb; 14.4 GB 1g.20gb; 24 GB needs 3g.40gb.
    # A GPU holds 7, 4 or 2 of them: the share costed is 1/7, 1/4, 1/2 (3g.40gb strands a slice).
    assert (k.gpu_sharing, k.mig_profile, k.gpu_product_suffix) == ("mig", profile, f"-MIG-{profile}")
    assert k.gpu_share == pytest.approx(1 / per_gpu)
    assert (k.replicas_per_node, k.packing_limit) == (per_node, limit)
    assert w.decision.option(Target.kubernetes).bill.items["gpu_nodes"] == round(3 * 730 * 14.40 / per_node, 2)
    share = next(r for r in w.decision.reasons if r.rule == "gpu.share")
    assert f"MIG {profile}" in share.detail and f"{per_gpu} per GPU" in share.detail


def test_mig_falls_back_to_whole_gpus_with_a_warning(write_profile):
    too_big = decide(load_profile(write_profile(_gpu_profile(60, "mig"))))  # 72 GB > 4g.40gb
    no_mig = decide(load_profile(write_profile(_gpu_profile(5, "mig", accelerator="L4:1"))))
    for w in (too_big, no_mig):
        assert (
            w.decision.option(Target.kubernetes).sizing.gpu_sharing,
            w.decision.option(Target.kubernetes).sizing.gpu_share,
        ) == ("none", 1.0)
        assert any("takes whole GPUs" in m for m in w.decision.warnings)
    assert any(m.endswith("takes whole GPUs: L4 has no MIG") for m in no_mig.decision.warnings)


VLLM_ASYNC = """\
name: llm-batch
model:
  preset: vllm
  weights: s3://acme-models/llm/
  weights_gb: 16
  memory_gb: 64
  gpu: required
  accelerator: A100-80GB:1
  args: {model: meta-llama/Llama-3.1-8B-Instruct}
sla: {p99_latency_ms: 60000, cold_start_budget_ms: 600000, availability: 99, mode: async, timeout_s: 120}
utilization: {avg_rps: 1, peak_rps: 2, active_hours_per_day: 24, inference_ms: 1500}
"""


def test_only_a_queue_worker_may_scale_to_zero(write_profile):
    # vLLM has no queue worker: whatever the mode says, its callers wait on HTTP.
    vllm = decide(load_profile(write_profile(VLLM_ASYNC)))
    assert vllm.decision.option(Target.kubernetes).sizing.min_replicas == 1
    custom = decide(
        load_profile(
            write_profile(
                edit(
                    VALID,
                    ("mode: sync", "mode: async"),
                    ("cold_start_budget_ms: 10000", "cold_start_budget_ms: 600000"),
                    ("p99_latency_ms: 300", "p99_latency_ms: 300\n  availability: 99"),
                )
            )
        )
    )
    assert custom.decision.option(Target.kubernetes).sizing.min_replicas == 0
    assert any(r.rule == "coldstart.min_replicas" and "may scale to zero" in r.detail for r in custom.decision.reasons)
