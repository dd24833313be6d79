"""What KEDA's aws-sqs-queue scaler and SQS do to a hybrid worker's start, as figures the decision
sizes with and the Pulumi component (stacks/k8s/hybrid.py) builds with: one source for both.

KEDA v2.20 (pkg/scalers/aws_sqs_queue_scaler.go): at zero replicas it polls every pollingInterval
(30 s); SQS's approximate counts trail the queue by about a minute; the HPA loop is 15 s once
active; cooldownPeriod 300 s by default.
"""

from __future__ import annotations

import math

from stacks.targets.kubernetes.queue import QUEUE_DRAIN_TARGET_S

SQS_COUNT_LAG_S = 60  # SQS's approximate counts trail the queue by about a minute
KEDA_POLLING_S = 30  # KEDA's default pollingInterval: how often it looks at a queue while at zero
HPA_LOOP_S = 15  # the HPA reads the external metric this often once the worker is active
COOLDOWN_S = 300  # KEDA's default; never below the counts' lag plus two polls
# The queue's visibility timeout: the worker extends a message's every third of it while it works it
# (two beats may fail in a row); a worker killed outright leaves its message invisible at most this long.
VISIBILITY_TIMEOUT_S = 60
# The worker's SQS long poll: at most this long to notice SIGTERM while idle (the pod's grace counts
# it); an idle replica's empty receive every 10 s is ~0.26 M requests a month (~$0.10).
WORKER_LONG_POLL_S = 10


def messages_per_replica(concurrency: int, replica_rps: float, drain_target_s: int = QUEUE_DRAIN_TARGET_S) -> int:
    """queueLength: a replica holds `concurrency` messages in flight and should work off its share of
    a backlog within drain_target_s (the same target as the Redis queue's lag trigger)."""
    return max(1, concurrency + math.ceil(replica_rps * drain_target_s))


def wake_up_s(pod_start_ms: float, polling_interval_s: int = KEDA_POLLING_S) -> float:
    """Longest wait of a message sent at zero replicas before a worker runs it: KEDA's next poll,
    SQS's counts catching up, a pod start. Scale to zero only when the cold-start budget covers it."""
    return polling_interval_s + SQS_COUNT_LAG_S + pod_start_ms / 1000


def cooldown_s(polling_interval_s: int = KEDA_POLLING_S) -> int:
    return max(COOLDOWN_S, SQS_COUNT_LAG_S + 2 * polling_interval_s)
