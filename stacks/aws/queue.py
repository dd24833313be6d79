"""Async ingestion: an encrypted SQS queue with a DLQ feeding the alias, and a results bucket."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.aws.common import expire_after, secure_bucket

# The handler acknowledges permanent failures (bad input becomes an error result), so only
# transient ones come back: three tries, then the DLQ.
MAX_RECEIVE_COUNT = 3
VISIBILITY_FACTOR = 6  # AWS guidance: visibility timeout >= 6 x the function timeout
# SQS ages a dead letter from its first enqueue, so the DLQ must keep messages longer than the
# queue or they expire on arrival: the SQS maximum, 14 days.
DLQ_RETENTION_DAYS = 14
BATCH_SIZE = 10  # at most; fewer when a batch at the p99 would outlast the function (batch_size())
RESULTS_PREFIX = "results/"


def visibility_timeout_s(function_timeout_s: int) -> int:
    """CDK does not relate the two; a shorter visibility would redeliver messages still in flight.

    Lambda's 900 s cap keeps 6 x timeout (5,400 s) under SQS's 43,200 s maximum.
    """
    return VISIBILITY_FACTOR * function_timeout_s


def batch_size(function_timeout_s: int, p99_latency_ms: float) -> int:
    """Messages per invocation such that a batch whose every message takes the p99 still finishes.

    The handler works a batch's messages one after another in one invocation, whose timeout is
    one request's (sla.timeout_s). A batch that outlasts it times out whole: no partial response,
    every message (the finished ones too) comes back, and after MAX_RECEIVE_COUNT such timeouts
    good messages sit in the DLQ.
    """
    return max(1, min(BATCH_SIZE, int(function_timeout_s * 1000 // p99_latency_ms)))


class AsyncIngest(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        alias: lambda_.IFunction,
        function_timeout_s: int,
        p99_latency_ms: float,
        max_concurrency: int,
        access_logs: s3.IBucket,
        queue_retention_days: int,
        results_retention_days: int,
    ) -> None:
        super().__init__(scope, id)
        assert queue_retention_days < DLQ_RETENTION_DAYS, "platform.queue_retention_days is validated at 1-13"
        self.dlq = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(DLQ_RETENTION_DAYS),
            # Kept when the template drops it (mode sync, a move to Kubernetes, the stack deleted):
            # dead letters are kept for inspection and replay, and the backlog is the callers' work.
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_timeout_s(function_timeout_s)),
            retention_period=Duration.days(queue_retention_days),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=MAX_RECEIVE_COUNT),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.results = secure_bucket(
            self,
            "Results",
            access_logs=access_logs,
            lifecycle_rules=[expire_after(results_retention_days, prefix=RESULTS_PREFIX)],
        )
        alias.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=batch_size(function_timeout_s, p99_latency_ms),
                max_batching_window=Duration.seconds(1),
                report_batch_item_failures=True,
                max_concurrency=max_concurrency,
            )
        )
