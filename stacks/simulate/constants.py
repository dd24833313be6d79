"""Platform behaviour the simulator needs and the code does not hold yet: one table, each with its source.

Numbers the project already decides (KEDA polling interval, cooldown, HPA behaviour, the provisioned
concurrency target, the pre-warm, the SQS batch size, the visibility timeout) are read from where
they live, through inputs.py; only what no module states is here. "Assumption" marks a figure AWS or
Kubernetes does not publish; the README's "Simulating traffic" section lists this table.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Behaviour:
    # AWS Lambda
    lambda_scale_environments: int = 1000
    lambda_scale_period_s: float = 10.0
    lambda_idle_reclaim_s: float = 600.0
    pc_alarm_period_s: float = 60.0
    pc_scale_out_datapoints: int = 3
    pc_scale_in_datapoints: int = 15
    pc_scale_in_ratio: float = 0.9
    pc_allocation_s: float = 60.0
    sqs_initial_pollers: int = 5
    sqs_pollers_added_per_minute: int = 300
    # Kubernetes
    hpa_sync_period_s: float = 15.0
    hpa_tolerance: float = 0.1


SOURCES: dict[str, str] = {
    "lambda_scale_environments": "AWS Lambda developer guide, 'Lambda scaling behavior': each function scales by up to "
    "1,000 execution environments every 10 seconds",
    "lambda_scale_period_s": "same page: the 10-second period of that rate",
    "lambda_idle_reclaim_s": "Assumption: Lambda reclaims an idle on-demand environment after a period it does not "
    "publish; measurements report 5-15 minutes",
    "pc_alarm_period_s": "Application Auto Scaling target tracking for Lambda provisioned concurrency: CloudWatch "
    "alarms on one-minute datapoints of ProvisionedConcurrencyUtilization (Average)",
    "pc_scale_out_datapoints": "its scale-out alarm: 3 consecutive one-minute datapoints above the target",
    "pc_scale_in_datapoints": "its scale-in alarm: 15 consecutive one-minute datapoints below 90 % of the target",
    "pc_scale_in_ratio": "same alarm: 90 % of the target",
    "pc_allocation_s": "Assumption: time Lambda takes to allocate provisioned environments beyond their own init "
    "(AWS: 'can take a few minutes'); the function's cold start is added to it",
    "sqs_initial_pollers": "AWS Lambda developer guide, 'Configuring scaling behavior for SQS event source "
    "mappings': five concurrent batches when messages appear",
    "sqs_pollers_added_per_minute": "same page: up to 300 more concurrent batches per minute while messages remain",
    "hpa_sync_period_s": "kube-controller-manager --horizontal-pod-autoscaler-sync-period default (15 s): with "
    "KEDA the HPA reads the external metric each sync; KEDA's pollingInterval governs only 0 <-> 1",
    "hpa_tolerance": "kube-controller-manager --horizontal-pod-autoscaler-tolerance default (0.1)",
}

DEFAULT = Behaviour()


def table() -> list[tuple[str, float, str]]:
    """(name, value, source) for every entry: the docs and `--json` show it."""
    return [(f.name, getattr(DEFAULT, f.name), SOURCES[f.name]) for f in fields(Behaviour)]
