"""Hybrid sizing: the Kubernetes worker's (GPU, replicas from the queue's drain rate) without its
Redis, with the minimum KEDA's aws-sqs-queue wake-up allows, and the front's queue traffic.

The worker is the kubernetes target's sizing of the same model (stacks/targets/kubernetes/sizing.py),
changed only where the hybrid differs:
- no Redis: the queue is SQS, on AWS (the front);
- min replicas: 0 when the cold-start budget covers a wake-up from zero (KEDA's poll, SQS's count
  lag, a pod start: keda.wake_up_s), else 1. Availability does not hold replicas warm: callers
  reach SQS, not the cluster, and a node failure delays messages by a pod start, it refuses none.
"""

from __future__ import annotations

import math

from stacks.decision.cost import DAYS_PER_MONTH, monthly_requests
from stacks.decision.sizing import Frozen
from stacks.decision.workload import Workload
from stacks.pricebook import HOURS_PER_MONTH, Platform
from stacks.profile import Profile, Target
from stacks.targets.hybrid.keda import (
    HPA_LOOP_S,
    KEDA_POLLING_S,
    VISIBILITY_TIMEOUT_S,
    WORKER_LONG_POLL_S,
    cooldown_s,
    messages_per_replica,
    wake_up_s,
)
from stacks.targets.kubernetes.sizing import KubernetesSizing, kubernetes


class SqsTraffic(Frozen):
    """SQS requests a month, by who makes them (each one billed)."""

    messages: float  # callers' sends
    receives: float  # at most one receive per message under load (a receive takes up to the free slots)
    deletes: float
    heartbeats: float  # ChangeMessageVisibility while a prediction outlasts a third of the visibility timeout
    idle_polls: float  # the warm replicas' empty long polls around the clock
    scaler_reads: float  # KEDA's GetQueueAttributes: every poll at zero, every HPA loop while active

    @property
    def total(self) -> float:
        return self.messages + self.receives + self.deletes + self.heartbeats + self.idle_polls + self.scaler_reads


class HybridSizing(Frozen):
    worker: KubernetesSizing  # one replica and the replica range on the cluster (queue: None)
    wake_up_s: float  # longest wait of a message sent at zero replicas
    queue_length: int  # the ScaledObject's messages per replica (visible + in flight)
    polling_interval_s: int
    cooldown_s: int
    visibility_timeout_s: int
    peak_backlog: int  # messages queued at the peak while a worker wakes from zero (0 when one stays warm)
    sqs: SqsTraffic


def hybrid(p: Profile, platform: Platform) -> HybridSizing:
    k = kubernetes(p, platform)
    wake = wake_up_s(k.pod_start_ms)
    warm = p.sla.cold_start_budget_ms < wake * 1000
    low = 1 if warm else 0
    high = max(k.max_replicas, low)
    worker = k.model_copy(
        update={
            "queue": None,
            "min_replicas": low,
            "max_replicas": high,
            "availability_min_replicas": 0,
            "spread_across_nodes": False,
            "billed_replicas": high + k.rollout_max_surge,
        }
    )
    u = p.utilization
    messages = monthly_requests(p)
    month_s = HOURS_PER_MONTH * 3600
    active_s = u.active_hours_per_day * 3600 * DAYS_PER_MONTH
    beats = max(0, math.ceil(u.inference_ms / 1000 / (VISIBILITY_TIMEOUT_S / 3)) - 1)
    traffic = SqsTraffic(
        messages=messages,
        receives=messages,
        deletes=messages,
        heartbeats=messages * beats,
        idle_polls=low * month_s / WORKER_LONG_POLL_S,
        scaler_reads=(month_s - active_s) / KEDA_POLLING_S + active_s / HPA_LOOP_S,
    )
    return HybridSizing(
        worker=worker,
        wake_up_s=wake,
        queue_length=messages_per_replica(worker.replica_concurrency, worker.replica_rps),
        polling_interval_s=KEDA_POLLING_S,
        cooldown_s=cooldown_s(),
        visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        peak_backlog=0 if warm else math.ceil(u.peak_rps * wake),
        sqs=traffic,
    )


def hybrid_sizing(w: Workload) -> HybridSizing:
    """The hybrid option's sizing, typed: every workload has one, whichever target it chose."""
    return w.decision.sizing(Target.hybrid, HybridSizing)
