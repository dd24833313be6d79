"""An API Gateway HTTP API in front of alias `live`, for profiles with `sla.endpoint: http_api`.

IAM authorization (the same SigV4 callers as the Function URL), JSON access logs, throttling
sized from the profile's peak so a runaway client cannot exhaust the function's reserved
concurrency. HTTP APIs end integrations at 30 s; the profile rules refuse longer timeouts.
"""

from __future__ import annotations

import json
import math

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.aws.common import LOG_RETENTION

ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "requestTime": "$context.requestTime",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
}


class HttpEndpoint(Construct):
    def __init__(self, scope: Construct, id: str, *, name: str, alias: lambda_.IFunction, peak_rps: float) -> None:
        super().__init__(scope, id)
        self.api = apigw.HttpApi(
            self,
            "Resource",
            api_name=f"switchyard-{name}",  # a label in the console: API names need not be unique
            default_integration=integrations.HttpLambdaIntegration("Serving", alias),
            default_authorizer=authorizers.HttpIamAuthorizer(),
            create_default_stage=False,
        )
        self.log_group = logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN)
        # Twice the profile's busiest minute, so the SLA's own peak never meets a 429.
        rate = max(10, math.ceil(peak_rps * 2))
        self.stage = apigw.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            auto_deploy=True,
            detailed_metrics_enabled=True,
            throttle=apigw.ThrottleSettings(rate_limit=rate, burst_limit=rate * 2),
        )
        # The L2 stage takes access-log settings only through an interface; the L1 property is direct.
        cfn_stage = self.stage.node.default_child
        cfn_stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.log_group.log_group_arn, format=json.dumps(ACCESS_LOG_FORMAT, sort_keys=True)
        )

    @property
    def url(self) -> str:
        return self.stage.url
