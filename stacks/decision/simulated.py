"""What a caller would live through on one target, from a simulation of the profile's burst.

The decision does not make these (the simulator reads the targets' sizing, which sits above it): the
commands that show a plan run stacks/simulate/verdict.py, which attaches them to each simulated
Option, so `plan` shows them beside the bill.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Simulated(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    window: str  # which traffic was simulated, and the seed
    span_s: float  # the run, from the warm-up to the last counted answer (Kubernetes: the scale-down)
    requests: int  # the burst's: the figures below are over them
    cold_share: float  # requests that paid a cold start
    refused_share: float  # throttled (429), refused (503), timed out (504) or dead-lettered
    p99_ms: float | None  # including queueing and cold starts
    sla_p99_ms: float
    max_queue_age_s: float | None  # async only
    peak_capacity: int  # most environments (Lambda) or replicas (Kubernetes) at once
    alarms: list[str]  # generated alarms whose condition the simulated series meets
    monthly_usd: float | None = None  # the bill from the capacity the autoscaler would run, where it differs
    basis: str = ""  # how monthly_usd was reached
