"""What a caller would live through on one target, from a simulation of the profile's own traffic.

The decision does not simulate (the simulator reads the targets' sizing, which sits above it); the
target registry's decide() runs stacks/simulate/verdict.py after sizing and attaches this to every
Option, so `plan` shows the simulated figures beside the bill.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Simulated(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    window: str  # which traffic was simulated, and the seed
    span_s: float
    requests: int
    cold_share: float  # requests that paid a cold start
    refused_share: float  # throttled (429), refused (503), timed out (504) or dead-lettered
    p99_ms: float | None  # including queueing and cold starts
    sla_p99_ms: float
    max_queue_age_s: float | None  # async only
    alarms: list[str]  # generated alarms whose condition the simulated series meets
    monthly_usd: float | None = None  # the bill from the capacity the autoscaler would run, where it differs
    basis: str = ""  # how monthly_usd was reached
