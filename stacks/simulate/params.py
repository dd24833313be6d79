"""Plain simulator parameters: what the models read, with no dependency on the decision's types.

inputs.py fills these from a Workload; tests build them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

DAY_S = 86400.0


@dataclass(frozen=True)
class TrafficShape:
    avg_rps: float
    peak_rps: float
    active_hours: float
    window: tuple[int, int] | None  # (start, end) minutes after 00:00 in `zone`; end <= start crosses midnight
    zone: str
    inference_ms: float

    def active_seconds(self, day: date | None = None) -> tuple[float, float]:
        """(start, end) of the active period in simulated seconds; end - start = the active hours.

        Without a day the clock is the window's own (profile traffic); with one it is UTC on that day
        (a trace), the window converted with the zone's offset on that date. No window: from 00:00.
        """
        if self.window is None:
            return 0.0, self.active_hours * 3600
        start_min, end_min = self.window
        length = ((end_min - start_min) % 1440 or 1440) * 60.0
        start = start_min * 60.0
        if day is not None and self.zone != "UTC":
            local = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(self.zone)) + timedelta(minutes=start_min)
            offset = local.utcoffset() or timedelta(0)
            start = (start - offset.total_seconds()) % DAY_S
        return start, start + length


@dataclass(frozen=True)
class ServerlessParams:
    mode: str  # sync | async | both
    memory_gb: float
    architecture: str
    timeout_s: float
    invoke_overhead_s: float
    cold_start_s: float
    cold_start_parts_ms: dict[str, float]
    environment_lifetime_s: float
    reserved_concurrency: int
    provisioned: bool
    pc_min: int
    pc_max: int
    pc_scheduled: bool
    pc_prewarm_s: float
    pc_hold_every_s: float  # scheduled actions re-apply the floor this often inside the window
    pc_target_utilization: float
    queue_max_concurrency: int
    batch_size: int
    batch_window_s: float
    visibility_timeout_s: float
    max_receive_count: int
    weights_gb: float
    weights_in_image: bool
    init_limit_s: float = 10.0  # an on-demand init longer than this is cut and run again inside the invocation
    xray_reservoir_per_s: float = 1.0  # X-Ray traces the first invocations of each second...
    xray_sampling_rate: float = 0.05  # ...and this share of the rest


@dataclass(frozen=True)
class KubernetesParams:
    mode: str
    serves_http: bool
    works_queue: bool
    replica_concurrency: int
    queue_depth: int
    timeout_s: float
    min_replicas: int
    max_replicas: int
    pod_start_s: float
    pod_start_parts_ms: dict[str, float]
    polling_interval_s: float  # KEDA: activation 0 <-> 1
    cooldown_s: float  # KEDA: last activity -> 0 replicas (min_replicas 0 only)
    scrape_interval_s: float
    rate_window_s: float  # the query's rate window over the latency histogram's _sum
    http_target: float  # requests in a replica (running + waiting) per replica: AverageValue threshold
    queue_lag_target: float  # queue entries per replica
    scale_up_window_s: float
    scale_up_pods: int
    scale_up_period_s: float
    scale_down_window_s: float
    scale_down_percent: float
    scale_down_period_s: float
    fallback_replicas: int = 0
    notes: list[str] = field(default_factory=list)
