"""Hybrid rules: what rules it out (async only, a worker for the model), and what explains its
sizing (scale to zero against the cold-start budget, the queue's scaling, the middle band, bursts),
plus the kubernetes target's GPU and packing rules applied to the worker it runs on the cluster.
"""

from __future__ import annotations

from collections.abc import Callable

from stacks.decision.describe import workload_phrase
from stacks.decision.option import Facts
from stacks.decision.reason import Reason, cmp
from stacks.profile import Gpu, Mode, Preset
from stacks.targets.hybrid.keda import KEDA_POLLING_S, QUEUE_DRAIN_TARGET_S, SQS_COUNT_LAG_S
from stacks.targets.hybrid.sizing import HybridSizing
from stacks.targets.kubernetes.rules import gpu_share, node_packing

HybridFacts = Facts[HybridSizing]
Rule = Callable[[HybridFacts], list[Reason]]
MIDDLE_BAND = (0.20, 0.60)  # sustained utilisation where neither pay-per-request nor a held fleet fits well


def async_only(f: HybridFacts) -> list[Reason]:
    p = f.p
    mode = p.sla.mode
    if mode is Mode.async_:
        detail = (
            "mode async: callers send to the front's SQS queue and read their results from S3; nothing waits on "
            "the cluster for an answer"
        )
    else:
        waiting = "its callers wait for each answer" if mode is Mode.sync else "its synchronous callers wait"
        detail = (
            f"mode {mode.value}: the hybrid front is a queue and answers nothing synchronously, while {waiting} "
            "(answering them would need a route from AWS into the bare-metal cluster, a public ingress with its "
            f"own authentication or a VPN, billed while it waits); the workload: {workload_phrase(p)}; hybrid "
            "allows sla.mode: async"
        )
        if p.model.gpu is Gpu.required:
            detail += "; a synchronous GPU load is the kubernetes target's, behind its own ingress"
    return [Reason(rule="limit.async_only", fired=mode is not Mode.async_, detail=detail)]


def sqs_worker(f: HybridFacts) -> list[Reason]:
    vllm = f.p.model.preset is Preset.vllm
    detail = (
        "preset vllm: vLLM serves HTTP only, and the hybrid's SQS worker calls a custom model's predict() for "
        f"each message; the workload: {workload_phrase(f.p)}; hybrid allows model.preset: custom (a vLLM model "
        "runs on kubernetes)"
        if vllm
        else f"preset {f.p.model.preset.value}: the SQS worker runs the model's predict in the same serving core "
        "as the server"
    )
    return [Reason(rule="limit.sqs_worker", fired=vllm, detail=detail)]


def scale_to_zero(f: HybridFacts) -> list[Reason]:
    h, budget = f.sizing, f.p.sla.cold_start_budget_ms
    warm = h.worker.min_replicas > 0
    then = (
        "1 worker stays warm"
        if warm
        else f"workers scale to zero (a message at zero waits; at the peak {h.peak_backlog:,} queue meanwhile)"
    )
    return [
        Reason(
            rule="hybrid.min_replicas",
            fired=warm,
            detail=f"a wake-up from zero takes up to {h.wake_up_s:,.0f} s (KEDA polls every {KEDA_POLLING_S} s + SQS "
            f"counts lag ~{SQS_COUNT_LAG_S} s + pod start {h.worker.pod_start_ms / 1000:,.0f} s) "
            f"{cmp(warm)} cold-start budget {budget / 1000:,.0f} s: {then}",
        )
    ]


def availability(f: HybridFacts) -> list[Reason]:
    return [
        Reason(
            rule="hybrid.availability",
            fired=False,
            detail=f"availability {f.p.sla.availability:g}%: callers send to SQS (kept "
            f"{f.platform.queue_retention_days} days), not to the cluster; a node failure delays messages by a pod "
            "start and refuses none, so no worker is held warm for availability",
        )
    ]


def queue_scaling(f: HybridFacts) -> list[Reason]:
    h, u = f.sizing, f.p.utilization
    w = h.worker
    return [
        Reason(
            rule="hybrid.scaling",
            fired=False,
            detail=f"KEDA aws-sqs-queue: queueLength {h.queue_length} messages per replica ({w.replica_concurrency} "
            f"in flight + {w.replica_rps:.1f} rps x {QUEUE_DRAIN_TARGET_S} s of backlog), {w.min_replicas}-"
            f"{w.max_replicas} replicas drain the peak {u.peak_rps:g} rps; cooldown {h.cooldown_s} s",
        )
    ]


def middle_band(f: HybridFacts) -> list[Reason]:
    low, high = MIDDLE_BAND
    inside = low <= f.utilization <= high
    where = "inside" if inside else ("below" if f.utilization < low else "above")
    return [
        Reason(
            rule="hybrid.middle_band",
            fired=inside,
            detail=f"sustained utilisation {f.utilization:.1%} is {where} the middle band ({low:.0%}-{high:.0%}), "
            "where a serverless front with queue-fed GPU workers fits: callers pay per request at the front, the "
            "cluster's GPUs work the queue instead of idling behind an endpoint",
        )
    ]


def burst(f: HybridFacts) -> list[Reason]:
    u, h = f.p.utilization, f.sizing
    ratio = u.peak_rps / u.avg_rps if u.avg_rps else float("inf")
    return [
        Reason(
            rule="hybrid.burst",
            fired=ratio >= 2,
            detail=f"peak {u.peak_rps:g} rps is {ratio:.1f}x the average {u.avg_rps:g} rps: the queue absorbs what "
            f"the cluster cannot (a burst past {h.worker.max_replicas} replicas, or a wake-up) and holds it up to "
            f"{f.platform.queue_retention_days} days, rather than refusing requests",
        )
    ]


def on_the_cluster(f: HybridFacts) -> list[Reason]:
    """The kubernetes target's GPU-share and node-packing rules, on the worker: the same cluster, the
    same model, so the same refusals; their warnings are stated once (kubernetes' rules ran first)."""
    own: list[str] = []
    worker = Facts(f.p, f.settings, f.sizing.worker, f.bill, f.utilization, own, f.refusals)
    reasons = gpu_share(worker) + node_packing(worker)
    f.warnings.extend(w for w in own if w not in f.warnings)
    return [replace_detail(r, f"hybrid workers: {r.detail}") for r in reasons]


def replace_detail(r: Reason, detail: str) -> Reason:
    return r.model_copy(update={"detail": detail})


LIMITS: list[Rule] = [async_only, sqs_worker]
RULES: list[Rule] = [scale_to_zero, availability, queue_scaling, middle_band, burst, on_the_cluster]
