"""target: hybrid in the decision: its sizing is the kubernetes worker's plus the front's queue, its
bill the front's lines plus the worker's, its rules state why (async only, wake-up from zero, the
middle band), and `auto` weighs it with every other registered target."""

from __future__ import annotations

import math
import shutil

import pytest

from stacks.decision.cost import monthly_requests
from stacks.errors import DecisionError
from stacks.profile import Target
from stacks.profile.loader import load_profile
from stacks.targets import TARGETS, decide
from stacks.targets.hybrid import hybrid_sizing
from stacks.targets.hybrid.keda import KEDA_POLLING_S, SQS_COUNT_LAG_S
from stacks.targets.kubernetes import kubernetes_sizing
from stacks.targets.kubernetes.bill import kubernetes_cost
from tests.conftest import FIXTURES

HYBRID_DIR = FIXTURES / "hybrid"
PROFILE = HYBRID_DIR / "image-tagging.yaml"


def variant(tmp_path, **replace: str):
    tmp_path.mkdir(parents=True, exist_ok=True)
    """The fixture profile with some lines replaced, in a directory with the same platform file."""
    text = PROFILE.read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "platform.yaml").write_text((HYBRID_DIR / "platform.yaml").read_text(encoding="utf-8"))
    shutil.copytree(HYBRID_DIR / "models", tmp_path / "models")
    path = tmp_path / "image-tagging.yaml"
    path.write_text(text, encoding="utf-8")
    return load_profile(path)


def rule(w, name):
    return next(r for r in w.decision.option(Target.hybrid).reasons if r.rule == name)


def test_the_middle_band_gpu_profile_is_planned_on_every_registered_target_with_reasons():
    w = decide(load_profile(PROFILE))
    d = w.decision
    assert w.target is Target.hybrid and d.utilization == pytest.approx(0.40)
    assert list(d.options) == [t.target for t in TARGETS]
    for option in d.options.values():
        assert option.reasons and option.bill.total > 0
    assert [r.rule for r in d.option(Target.serverless).hard_limits] == ["limit.gpu", "limit.memory"]
    assert (
        rule(w, "hybrid.middle_band").fired
        and "40.0% is inside the middle band (20%-60%)" in rule(w, "hybrid.middle_band").detail
    )
    assert rule(w, "hybrid.burst").fired and "2.5x the average" in rule(w, "hybrid.burst").detail


def test_workers_scale_to_zero_only_when_the_budget_covers_a_wake_up(tmp_path):
    w = decide(load_profile(PROFILE))
    h = hybrid_sizing(w)
    pod_start_s = kubernetes_sizing(w).pod_start_ms / 1000
    assert h.wake_up_s == pytest.approx(KEDA_POLLING_S + SQS_COUNT_LAG_S + pod_start_s)
    assert h.wake_up_s < 180 and h.worker.min_replicas == 0
    # kubernetes keeps two warm for availability; the hybrid's callers reach SQS, not the cluster
    assert kubernetes_sizing(w).min_replicas == 2
    assert h.peak_backlog == math.ceil(20 * h.wake_up_s)
    tight = decide(variant(tmp_path, **{"cold_start_budget_ms: 180000": "cold_start_budget_ms: 120000"}))
    assert hybrid_sizing(tight).worker.min_replicas == 1
    assert (
        rule(tight, "hybrid.min_replicas").fired
        and "> cold-start budget 120 s: 1 worker stays warm" in rule(tight, "hybrid.min_replicas").detail
    )


def test_replicas_drain_the_peak_and_queue_length_is_what_one_replica_holds():
    w = decide(load_profile(PROFILE))
    h, k = hybrid_sizing(w), kubernetes_sizing(w)
    assert h.worker.max_replicas == k.max_replicas == math.ceil(20 / k.replica_rps)
    assert h.worker.gpu_type == "L4" and h.worker.queue is None and k.queue is not None
    assert h.queue_length == k.replica_concurrency + math.ceil(k.replica_rps * 30)


def test_the_bill_is_the_fronts_lines_plus_the_kubernetes_workers():
    w = decide(load_profile(PROFILE))
    h = hybrid_sizing(w)
    bill = w.decision.option(Target.hybrid).bill
    worker = kubernetes_cost(w.profile, h.worker, w.settings.prices, w.settings.platform)
    names = [line.name for line in bill.lines]
    assert names[: -len(worker.lines)] == [
        "sqs",
        "results_put",
        "results_get",
        "results_storage",
        "access_logs",
        "alarms",
    ]
    assert bill.lines[-len(worker.lines) :] == worker.lines
    assert "queue_redis" not in names  # the queue is SQS: no Redis on the cluster
    messages = monthly_requests(w.profile)
    sqs = bill.lines[0]
    assert sqs.quantity == pytest.approx(h.sqs.total / 1e6) and h.sqs.total > 3 * messages
    # scale to zero: no warm replica long-polls, KEDA reads every HPA loop (active all day)
    assert h.sqs.idle_polls == 0 and h.sqs.scaler_reads == pytest.approx(730 * 3600 / 15)
    assert bill.items["results_put"] == pytest.approx(
        messages / 1000 * w.settings.prices.s3_put_per_thousand_usd, abs=0.01
    )


@pytest.mark.parametrize("mode", ["sync", "both"])
def test_sync_modes_rule_the_hybrid_out_saying_why(tmp_path, mode):
    loaded = variant(tmp_path, **{"mode: async": f"mode: {mode}"})
    with pytest.raises(DecisionError, match=r"image-tagging.yaml:5: target: hybrid is impossible: mode " + mode):
        decide(loaded)
    auto = decide(variant(tmp_path / "auto", **{"mode: async": f"mode: {mode}", "target: hybrid": "target: auto"}))
    option = auto.decision.option(Target.hybrid)
    assert not option.feasible and auto.target is Target.kubernetes
    assert "a route from AWS into the bare-metal cluster" in option.hard_limits[0].detail
    assert "Hybrid ruled out by async_only" in auto.decision.reasons[-1].detail


def test_a_vllm_model_has_no_sqs_worker(tmp_path):
    (tmp_path / "x").mkdir()
    loaded = variant(
        tmp_path / "x",
        **{
            "preset: custom\n  entrypoint: models/sentiment/model.py\n": "preset: vllm\n",
            '  requirements: ["numpy>=1.26"]\n': "  args:\n    model: acme/tagger\n",
            "target: hybrid": "target: auto",
        },
    )
    option = decide(loaded).decision.option(Target.hybrid)
    assert [r.rule for r in option.hard_limits] == ["limit.sqs_worker"]


def test_auto_weighs_the_hybrid_and_chooses_the_cheapest_feasible(tmp_path):
    w = decide(variant(tmp_path, **{"target: hybrid": "target: auto"}))
    feasible = {t: o.bill.total for t, o in w.decision.options.items() if o.feasible}
    assert Target.hybrid in feasible and w.target is min(feasible, key=feasible.get)
    compare = next(r for r in w.decision.reasons if r.rule == "cost.compare").detail
    assert "hybrid $" in compare
