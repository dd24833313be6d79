"""Async ingestion: an encrypted SQS queue with a DLQ feeding the alias, and a results bucket."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.aws.common import expire_after, secure_bucket
from stacks.targets.serverless.delivery import MAX_RECEIVE_COUNT, visibility_timeout_s

# SQS ages a dead letter from its first enqueue, so the DLQ must keep messages longer than the
# queue or they expire on arrival: the SQS maximum, 14 days.
DLQ_RETENTION_DAYS = 14
RESULTS_PREFIX = "results/"


class AsyncIngest(Construct):
    """The queue, its DLQ, the results bucket and the callers' read policy; with `alias`, the Lambda
    event source that consumes the queue (the hybrid target's consumer is its SQS worker instead,
    which passes `queue_visibility_timeout_s`)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        alias: lambda_.IFunction | None,
        function_timeout_s: int | None,
        access_logs: s3.IBucket,
        queue_retention_days: int,
        results_retention_days: int,
        message_max_bytes: int,
        batch_size: int = 0,
        batch_window_s: int = 0,
        max_concurrency: int = 0,
        queue_visibility_timeout_s: int | None = None,
    ) -> None:
        super().__init__(scope, id)
        if queue_visibility_timeout_s is None:
            assert function_timeout_s is not None, "the visibility timeout follows the consuming function's"
            queue_visibility_timeout_s = visibility_timeout_s(function_timeout_s)
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
            visibility_timeout=Duration.seconds(queue_visibility_timeout_s),
            retention_period=Duration.days(queue_retention_days),
            # The same limit as the Kubernetes queue's (platform.async_message_max_kb): one contract.
            max_message_size_bytes=message_max_bytes,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=MAX_RECEIVE_COUNT),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.results = secure_bucket(
            self,
            "Results",
            access_logs=access_logs,
            lifecycle_rules=[expire_after(results_retention_days, prefix=RESULTS_PREFIX)],
        )
        # Each caller reads its own results only: results/<its aws:userid>/..., the SenderId SQS
        # reports for it and the handler files its results under. Callers attach this policy.
        self.results_reader = iam.ManagedPolicy(
            self,
            "ResultsReader",
            description="Read your own async results: results/${aws:userid}/*",
            statements=[
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[self.results.arn_for_objects(f"{RESULTS_PREFIX}${{aws:userid}}/*")],
                )
            ],
        )
        if alias is None:
            return
        alias.add_event_source(
            sources.SqsEventSource(
                self.queue,
                # Sized by the decision (stacks/targets/serverless/sizing.py sqs_batch_size), which the bill also reads.
                batch_size=batch_size,
                max_batching_window=Duration.seconds(batch_window_s),
                report_batch_item_failures=True,
                max_concurrency=max_concurrency,
            )
        )
