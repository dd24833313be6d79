"""Alarms a platform team pages on, each notifying the platform's alarm topic.

Errors, throttles, p99 over the SLA, spillover, cold starts over budget; 5xx answers from the
Function URL or HTTP API; model errors (the handler's EMF metric); the queue's oldest message,
the DLQ's depth and failed result writes (the handler's EMF metric).

`managed_instances`: the Lambda Managed Instances function's set (stacks/targets/managed_instances/
alarms.py): no provisioned concurrency to spill over, and no cold start on a request's path (nor
the metric filter that would count one); its metrics are the function's, every version.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.decision.workload import Workload
from stacks.profile import Mode
from stacks.targets.managed_instances.alarms import managed_instances_alarms
from stacks.targets.serverless import serverless_sizing
from stacks.targets.serverless.alarms import (
    SUSTAINED_PERIODS,
    cold_share_alarm,
    queue_alarm_s,
    serverless_alarms,
    spill_share_alarm,
)
from stacks.targets.serverless.installation import metrics_namespace
from stacks.targets.serverless.simulation import simulated_run

MODEL_ERRORS = "ModelErrors"
RESULT_WRITE_FAILURES = "ResultWriteFailures"


class WorkloadAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        workload: Workload,
        alias: lambda_.IFunction,
        log_group: logs.ILogGroup,
        topic: sns.ITopic,
        queue: sqs.IQueue | None = None,
        dlq: sqs.IQueue | None = None,
        function_url: bool = False,
        http_stage: apigw.HttpStage | None = None,
        managed_instances: bool = False,
    ) -> None:
        super().__init__(scope, id)
        five = Duration.minutes(5)
        # The handler's Powertools metrics and the cold-start filter: one namespace per installation,
        # dimension service=<workload>, so two installations' alarms never count each other's metrics.
        namespace = metrics_namespace(workload.settings.platform.installation)
        p99_ms = workload.profile.sla.p99_latency_ms
        self.alarms: dict[str, cw.Alarm] = {}
        action = cw_actions.SnsAction(topic)

        def alarm(key: str, metric: cw.IMetric, threshold: float, description: str, periods: int = 1) -> None:
            self.alarms[key] = metric.create_alarm(
                self,
                key,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            self.alarms[key].add_alarm_action(action)
            self.alarms[key].add_ok_action(action)

        alarm("Errors", alias.metric_errors(period=five, statistic="Sum"), 0, f"{workload.name}: invocations failed")
        alarm(
            "Throttles",
            alias.metric_throttles(period=five, statistic="Sum"),
            0,
            f"{workload.name}: invocations throttled (reserved concurrency or account quota)",
        )
        alarm(
            "DurationP99",
            alias.metric_duration(period=five, statistic="p99"),
            p99_ms,
            f"{workload.name}: p99 duration above the SLA's {p99_ms:g} ms",
            periods=SUSTAINED_PERIODS,
        )
        if not managed_instances and serverless_sizing(workload).provisioned:
            sizing = serverless_sizing(workload)
            spill = cw.Metric(
                namespace="AWS/Lambda",
                metric_name="ProvisionedConcurrencySpilloverInvocations",
                dimensions_map={"FunctionName": _function_name(alias), "Resource": alias.function_name},
                period=five,
                statistic="Sum",
            )
            threshold = spill_share_alarm(sizing)
            accepted = sizing.burst_on_demand_share
            # Bursts spill past the floor by design (the sizing accepts it); what lasts 15 minutes above
            # the share a burst spills is a floor that no longer holds the load.
            alarm(
                "ProvisionedSpillover",
                cw.MathExpression(
                    expression="100 * FILL(spill, 0) / FILL(invocations, 1)",
                    using_metrics={
                        "spill": spill,
                        "invocations": alias.metric_invocations(period=five, statistic="Sum"),
                    },
                    label="invocations beyond the provisioned floor, % of invocations",
                    period=five,
                ),
                round(threshold * 100, 3),
                f"{workload.name}: more than {threshold:.0%} of invocations ran beyond provisioned concurrency "
                f"for {SUSTAINED_PERIODS * 5} minutes"
                + (
                    ""
                    if accepted is None
                    else f"; the plan's simulated burst spills {accepted:.1%} of its invocations onto on-demand "
                    "environments (switchyard plan)"
                ),
                periods=SUSTAINED_PERIODS,
            )
        # The handler answers a model crash with a 500 and counts it; the invocation itself succeeds,
        # so Errors never sees it.
        alarm(
            "ModelErrors",
            cw.Metric(
                namespace=namespace,
                metric_name=MODEL_ERRORS,
                dimensions_map={"service": workload.name},
                period=five,
                statistic="Sum",
            ),
            0,
            f"{workload.name}: the model raised on valid input",
        )
        if function_url:
            alarm(
                "Url5xx",
                cw.Metric(
                    namespace="AWS/Lambda",
                    metric_name="Url5xxCount",
                    dimensions_map={"FunctionName": _function_name(alias), "Resource": alias.function_name},
                    period=five,
                    statistic="Sum",
                ),
                0,
                f"{workload.name}: the Function URL answered 5xx (model crash, timeout or throttle)",
            )
        if http_stage is not None:
            alarm(
                "HttpApi5xx",
                http_stage.metric_server_error(period=five, statistic="Sum"),
                0,
                f"{workload.name}: the HTTP API answered 5xx (model crash, timeout or throttle)",
            )
        if queue is not None:
            platform = workload.settings.platform
            # An async function's burst, simulated as the plan shows it (a memoised run): the alarm sits
            # above the wait the sizing lets a burst cause. mode both's queue path is not simulated.
            simulated = None
            if not managed_instances and workload.profile.sla.mode is Mode.async_:
                run = simulated_run(workload.profile, serverless_sizing(workload), platform)
                simulated = run.max_queue_age_s
            age = queue_alarm_s(platform, simulated)
            alarm(
                "QueueOldestMessage",
                queue.metric_approximate_age_of_oldest_message(period=five, statistic="Maximum"),
                age,
                f"{workload.name}: the oldest queued message waited more than {age:,} s"
                + ("" if simulated is None else f" (the plan's simulated burst: {simulated:,.0f} s at most)"),
            )
        if dlq is not None:
            alarm(
                "DeadLetters",
                dlq.metric_approximate_number_of_messages_visible(period=five, statistic="Maximum"),
                0,
                f"{workload.name}: messages in the dead-letter queue",
            )
            # The handler counts every result it could not store (EMF); the message is retried, and
            # without this the first sign would be the DLQ, after every receive has been spent.
            alarm(
                "ResultWriteFailures",
                cw.Metric(
                    namespace=namespace,
                    metric_name=RESULT_WRITE_FAILURES,
                    dimensions_map={"service": workload.name},
                    period=five,
                    statistic="Sum",
                ),
                0,
                f"{workload.name}: async results could not be written to the results bucket",
            )
        if managed_instances:
            expected = managed_instances_alarms(workload.profile)
            assert list(self.alarms) == expected, f"alarms {list(self.alarms)} != managed_instances_alarms() {expected}"
            return
        # Lambda reports the init duration only in the REPORT record of a cold start. With JSON
        # logs that is a platform.report event with record.metrics.initDurationMs (a text REPORT
        # line ends with the X-Ray trace id when tracing is on, which breaks positional patterns).
        # The filter counts the ones over the budget; the alarm divides them by the invocations.
        budget = workload.profile.sla.cold_start_budget_ms
        filter_ = logs.MetricFilter(
            self,
            "ColdStartFilter",
            log_group=log_group,
            filter_pattern=logs.FilterPattern.literal(
                f'{{ ($.type = "platform.report") && ($.record.metrics.initDurationMs > {budget:g}) }}'
            ),
            metric_namespace=namespace,
            metric_name=f"{workload.name}-ColdStartsOverBudget",
            metric_value="1",
        )
        sizing = serverless_sizing(workload)
        threshold = cold_share_alarm(sizing)
        accepted = sizing.simulated_cold_share
        # A burst spills onto on-demand cold starts by design (the sizing accepts up to the tolerance of a
        # burst's requests); the alarm pages when the share stays above it for 15 minutes.
        share = cw.MathExpression(
            expression="100 * FILL(over, 0) / FILL(invocations, 1)",
            using_metrics={
                "over": filter_.metric(period=five, statistic="Sum"),
                "invocations": alias.metric_invocations(period=five, statistic="Sum"),
            },
            label="cold starts over the budget, % of invocations",
            period=five,
        )
        alarm(
            "ColdStartOverBudget",
            share,
            round(threshold * 100, 3),
            f"{workload.name}: more than {threshold:.1%} of invocations paid a cold start over the {budget:,.0f} ms "
            f"budget for {SUSTAINED_PERIODS * 5} minutes"
            + (
                ""
                if accepted is None
                else f"; the plan accepts {accepted:.2%} of a simulated burst's requests (switchyard plan: sim.coldstart)"
            ),
            periods=SUSTAINED_PERIODS,
        )
        # One list of what exists, for the plan and the cost model (stacks/targets/serverless/alarms.py).
        expected = serverless_alarms(workload.profile, serverless_sizing(workload))
        assert list(self.alarms) == expected, f"alarms {list(self.alarms)} != serverless_alarms() {expected}"


def _function_name(invoked: lambda_.IFunction) -> str:
    """The function's name, for an alias or the function itself."""
    return invoked.lambda_.function_name if isinstance(invoked, lambda_.Alias) else invoked.function_name
