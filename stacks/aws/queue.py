"""Async ingestion: an encrypted SQS queue with a DLQ feeding the alias, and a results bucket."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.aws.platform import secure_bucket

MAX_RECEIVE_COUNT = 5
VISIBILITY_FACTOR = 6  # AWS guidance: visibility timeout >= 6 x the function timeout
DLQ_RETENTION = Duration.days(14)
BATCH_SIZE = 10


def visibility_timeout_s(function_timeout_s: int) -> int:
    """CDK does not relate the two; a shorter visibility would redeliver messages still in flight.

    Lambda's 900 s cap keeps 6 x timeout (5,400 s) under SQS's 43,200 s maximum.
    """
    return VISIBILITY_FACTOR * function_timeout_s


class AsyncIngest(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        alias: lambda_.IFunction,
        function_timeout_s: int,
        max_concurrency: int,
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, id)
        self.dlq = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_timeout_s(function_timeout_s)),
            retention_period=DLQ_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=MAX_RECEIVE_COUNT),
        )
        self.results = secure_bucket(self, "Results", access_logs=access_logs)
        alias.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                max_batching_window=Duration.seconds(1),
                report_batch_item_failures=True,
                max_concurrency=max_concurrency,
            )
        )
