"""The hybrid bill: the AWS front's lines (SQS requests, the results bucket, its access logs, the
queue's alarms) plus the Kubernetes worker's (its share of the GPU nodes, the model cache, the
weights), each from the target that owns the piece.

No Lambda runs in front, so no duration, invocation, trace or CloudWatch Logs line: the worker logs
on the cluster, and SQS authenticates callers by IAM.
"""

from __future__ import annotations

from stacks.decision.cost import DAYS_PER_MONTH, GIB, Bill, Cost, figure
from stacks.pricebook import Platform, PriceBook
from stacks.profile import Mode, Profile
from stacks.targets.hybrid.sizing import HybridSizing
from stacks.targets.kubernetes.bill import kubernetes_cost
from stacks.targets.serverless.bill import results_lines

# The alarms stacks/aws/hybrid.py creates on the front (their construct ids).
FRONT_ALARMS = ("QueueOldestMessage", "DeadLetters")
# One S3 server access-log record (the results bucket logs every PUT and GET to the platform's
# access-log bucket). Assumption: AWS's documented record has ~25 fields, typically 300-500 bytes.
ACCESS_LOG_RECORD_BYTES = 400


def front_lines(bill: Bill, p: Profile, h: HybridSizing, platform: Platform) -> None:
    q = h.sqs
    bill.add(
        "sqs",
        q.total / 1e6,
        "million requests",
        "sqs_requests_per_million_usd",
        f"{figure(q.messages)} messages x (1 send + 1 receive + 1 delete"
        + (f" + {q.heartbeats / q.messages:g} heartbeats" if q.messages and q.heartbeats else "")
        + f") + {figure(q.idle_polls)} empty long polls of {h.worker.min_replicas} warm replica(s) + "
        f"{figure(q.scaler_reads)} KEDA reads (every {h.polling_interval_s} s at zero, every HPA loop while active)",
    )
    results_lines(bill, q.messages, platform)
    records = 2 * q.messages  # each result's PUT and GET
    bill.add(
        "access_logs",
        records * ACCESS_LOG_RECORD_BYTES / GIB / DAYS_PER_MONTH * platform.access_log_retention_days,
        "GB-month",
        "s3_storage_gb_month_usd",
        f"{figure(records)} result PUTs and GETs a month x {ACCESS_LOG_RECORD_BYTES} B access-log records, "
        f"kept {platform.access_log_retention_days} days (platform.access_log_retention_days)",
    )
    bill.add("alarms", len(FRONT_ALARMS), "alarm metrics", "cloudwatch_alarm_month_usd", ", ".join(FRONT_ALARMS))


def hybrid_cost(p: Profile, h: HybridSizing, prices: PriceBook, platform: Platform) -> Cost:
    bill = Bill(prices)
    front_lines(bill, p, h, platform)
    worker = kubernetes_cost(p, h.worker, prices, platform)
    notes = [
        f"front on AWS (SQS, DLQ, results bucket; no Lambda), workers on the cluster: {h.worker.min_replicas}-"
        f"{h.worker.max_replicas} replicas held for the peak"
    ]
    if p.sla.mode is not Mode.async_:
        notes.append(f"mode {p.sla.mode.value}: billed as if every request were queued (the hybrid is async only)")
    return Cost(lines=[*bill.lines, *worker.lines], notes=[*notes, *worker.notes])
