"""The hybrid target's AWS side: the async front callers use, and the identities of the cluster's worker and scaler.

Callers see what a serverless async workload offers, unchanged: they send JSON {"id", "inputs"} to
the queue with their own IAM identity (SigV4; `QueueSendPolicyArn` grants it), and read
results/<their SenderId>/<id>.json from the results bucket (`ResultsReadPolicyArn`: their own
prefix only). The queue, DLQ, results bucket and read policy are the serverless target's
(stacks/aws/queue.py AsyncIngest) without the Lambda event source: the consumer is the SQS worker
on the GPU cluster. Request validation (JSON, size, id, batch limits) happens there, in the same
serving core as the Lambda handler's, and a bad message gets the same error result; SQS itself
refuses a message over the size limit at send time.

There is no Lambda in front. An async-only front needs none: SQS authenticates callers (IAM) and
names them (SenderId), and a function that only forwarded messages would add a cold start, a
bill line and a second place to validate. A synchronous path (a Function URL that answers from a
warm replica on the cluster and queues the overflow) is left out: the function would need a
route into the bare-metal cluster (a public ingress with its own authentication, or a VPN/Direct
Connect into the VPC) and would wait on it while billed by duration; workloads that need
synchronous answers and steady GPU load are the `kubernetes` target's, with its own ingress.

The cluster reaches AWS with two IAM users (bare metal has no IRSA), each least privilege:

- WorkerUser: sqs:ReceiveMessage, DeleteMessage, ChangeMessageVisibility (the heartbeat and the
  hand-back), GetQueueAttributes (visibility timeout and maxReceiveCount) on the queue; s3:PutObject
  on results/* (conditional puts; no read, no delete).
- ScalerUser (KEDA's aws-sqs-queue scaler): sqs:GetQueueAttributes on the queue, nothing else.

No access key is created here: a key in a template would be in CloudFormation's outputs or state.
The operator creates one per user (`aws iam create-access-key --user-name <WorkerUserName>`) and
sets it as Pulumi secret config (stacks/k8s/hybrid.py `credentials_from_config`).
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.aws.nag import ack
from stacks.aws.network import PlatformImports
from stacks.aws.queue import MAX_RECEIVE_COUNT, RESULTS_PREFIX, AsyncIngest
from stacks.targets.hybrid.keda import VISIBILITY_TIMEOUT_S

VISIBILITY_RANGE_S = (30, 43_200)  # a beat every 10 s at least; SQS's maximum
WORKER_SQS_ACTIONS = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
]
SCALER_SQS_ACTIONS = ["sqs:GetQueueAttributes"]


class HybridFront(Construct):
    """Queue + DLQ + results bucket (AsyncIngest, no Lambda consumer), the callers' send and read
    policies, the worker's and the scaler's IAM users, and the queue's alarms.

    workload_name: for alarm descriptions
    access_logs: the platform's access-log bucket (the results bucket logs there)
    queue_retention_days / results_retention_days / message_max_bytes: the platform settings
    visibility_timeout_s: the queue's, which the worker's heartbeat keeps renewing (30 s - 12 h)
    alarm_topic: where the queue's alarms notify (None: no alarms)
    oldest_message_alarm_s: the oldest queued message's age that alarms (a worker that never wakes)
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        workload_name: str,
        access_logs: s3.IBucket,
        queue_retention_days: int,
        results_retention_days: int,
        message_max_bytes: int,
        visibility_timeout_s: int = VISIBILITY_TIMEOUT_S,
        alarm_topic: sns.ITopic | None = None,
        oldest_message_alarm_s: int = 900,
    ) -> None:
        super().__init__(scope, id)
        low, high = VISIBILITY_RANGE_S
        if not low <= visibility_timeout_s <= high:
            raise ValueError(f"visibility_timeout_s {visibility_timeout_s}: allowed {low}-{high} s")
        self.ingest = AsyncIngest(
            self,
            "Async",
            alias=None,
            function_timeout_s=None,
            access_logs=access_logs,
            queue_retention_days=queue_retention_days,
            results_retention_days=results_retention_days,
            message_max_bytes=message_max_bytes,
            queue_visibility_timeout_s=visibility_timeout_s,
        )
        self.queue, self.dlq, self.results = self.ingest.queue, self.ingest.dlq, self.ingest.results
        self.results_reader = self.ingest.results_reader
        self.queue_sender = iam.ManagedPolicy(
            self,
            "QueueSender",
            description="Send {id, inputs} to the workload's queue; results are filed under your SenderId",
            statements=[iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])],
        )
        results_objects = self.results.arn_for_objects(f"{RESULTS_PREFIX}*")
        self.worker_user = iam.User(self, "WorkerUser")
        self.worker_policy = iam.ManagedPolicy(
            self,
            "WorkerPolicy",
            description="The cluster's SQS worker: work the queue's messages, write results (no read, no delete)",
            users=[self.worker_user],
            statements=[
                iam.PolicyStatement(actions=WORKER_SQS_ACTIONS, resources=[self.queue.queue_arn]),
                iam.PolicyStatement(actions=["s3:PutObject"], resources=[results_objects]),
            ],
        )
        self.scaler_user = iam.User(self, "ScalerUser")
        self.scaler_policy = iam.ManagedPolicy(
            self,
            "ScalerPolicy",
            description="KEDA's aws-sqs-queue scaler: read the queue's message counts",
            users=[self.scaler_user],
            statements=[iam.PolicyStatement(actions=SCALER_SQS_ACTIONS, resources=[self.queue.queue_arn])],
        )
        self.alarms: dict[str, cw.Alarm] = {}
        if alarm_topic is not None:
            self._alarms(workload_name, alarm_topic, oldest_message_alarm_s)
        self._acknowledge()

    def _alarms(self, workload_name: str, topic: sns.ITopic, oldest_s: int) -> None:
        # The worker's failed result writes are a Prometheus counter on the cluster
        # (switchyard_result_write_failures_total), not a CloudWatch metric: alert on it there.
        five = Duration.minutes(5)
        action = cw_actions.SnsAction(topic)
        for key, metric, threshold, description in (
            (
                "QueueOldestMessage",
                self.queue.metric_approximate_age_of_oldest_message(period=five, statistic="Maximum"),
                oldest_s,
                f"{workload_name}: the oldest queued message waited more than {oldest_s:,} s (workers not "
                "scaling from zero? check the KEDA scaler's credentials)",
            ),
            (
                "DeadLetters",
                self.dlq.metric_approximate_number_of_messages_visible(period=five, statistic="Maximum"),
                0,
                f"{workload_name}: messages in the dead-letter queue",
            ),
        ):
            alarm = metric.create_alarm(
                self,
                key,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.alarms[key] = alarm

    def _acknowledge(self) -> None:
        stack = Stack.of(self)
        results_id = stack.get_logical_id(self.results.node.default_child)
        ack(
            self.dlq,
            "Serverless::Serverless-SQSRedrivePolicy",
            "This queue is the dead-letter queue; a DLQ for the DLQ would defer the same failure. Its depth is alarmed.",
        )
        ack(
            self.worker_policy,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{results_id}.Arn>/{RESULTS_PREFIX}*]",
            "Write-only access to the workload's results prefix; object names are the callers' SenderIds and "
            "message ids, known only at run time. Puts are conditional (If-None-Match), so no result is replaced.",
        )
        ack(
            self.results_reader,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{results_id}.Arn>/{RESULTS_PREFIX}<aws:userid>/*]",
            "Read-only access to the caller's own results prefix, named by the policy variable aws:userid (the "
            "SenderId SQS reports and the worker files results under); object names are the caller's message ids.",
        )


class HybridFrontStack(Stack):
    """One hybrid workload's AWS stack: the front wired to the platform (access logs, alarm topic,
    read from its SSM parameters at deploy time), and the outputs the Pulumi side needs."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        workload_name: str,
        installation: str,
        queue_retention_days: int,
        results_retention_days: int,
        message_max_bytes: int,
        oldest_message_alarm_s: int,
        visibility_timeout_s: int = VISIBILITY_TIMEOUT_S,
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        # Only the access-log bucket and the alarm topic are read: no VPC, no EFS, no endpoints.
        platform = PlatformImports(
            self, "Platform", availability_zones=0, interface_endpoints=False, installation=installation
        )
        self.front = HybridFront(
            self,
            "Front",
            workload_name=workload_name,
            access_logs=platform.access_logs,
            queue_retention_days=queue_retention_days,
            results_retention_days=results_retention_days,
            message_max_bytes=message_max_bytes,
            visibility_timeout_s=visibility_timeout_s,
            alarm_topic=platform.alarm_topic,
            oldest_message_alarm_s=oldest_message_alarm_s,
        )
        f = self.front
        for key, value, description in (
            ("QueueUrl", f.queue.queue_url, "Send {id, inputs} here; the worker's QUEUE_URL and KEDA's queueURL"),
            ("QueueArn", f.queue.queue_arn, "For sqs:SendMessage grants"),
            ("DeadLetterQueueUrl", f.dlq.queue_url, f"Messages that failed {MAX_RECEIVE_COUNT} receives"),
            ("Region", Aws.REGION, "The worker's AWS_REGION and KEDA's awsRegion"),
            ("ResultsBucketName", f.results.bucket_name, "results/<caller>/<id>.json"),
            ("QueueSendPolicyArn", f.queue_sender.managed_policy_arn, "Attach to a caller: send to the queue"),
            (
                "ResultsReadPolicyArn",
                f.results_reader.managed_policy_arn,
                "Attach to a caller: read results/<its SenderId>/ only",
            ),
            (
                "WorkerUserName",
                f.worker_user.user_name,
                "The cluster worker's IAM user: create its access key, set it as Pulumi secret config",
            ),
            (
                "ScalerUserName",
                f.scaler_user.user_name,
                "KEDA's IAM user (sqs:GetQueueAttributes only): create its access key, set it as Pulumi secret config",
            ),
        ):
            CfnOutput(self, key, value=value, description=description)
