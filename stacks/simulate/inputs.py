"""The one adapter between the decision and the simulator: a Workload in, plain parameters out.

Every other module of stacks/simulate reads only params.py's dataclasses, so when the decision's
modules move, this file is the one to fix. Fields read (the decision integration can follow them):

- profile: utilization (avg/peak rps, active hours and window, inference_ms), sla.mode,
  sla.p99_latency_ms (queue depth), model.weights_gb
- the serverless option's sizing (ServerlessSizing, serverless_sizing(w)): memory_mb, architecture, timeout_s, reserved_concurrency,
  cold_start (every term), provisioned, pc_min, pc_max, pc_scheduled, pc_prewarm_minutes,
  queue_max_concurrency, queue_batch_size, queue_batch_window_s, weights_in_image
- the kubernetes option's sizing (KubernetesSizing, kubernetes_sizing(w)): replica_concurrency, min_replicas, max_replicas,
  pod_start_ms and its parts (schedule, image pull, weights, deserialize, engine, compile)
- stacks/limits: LAMBDA_INIT_LIMIT_MS (the on-demand init phase's limit)
- settings.platform: pc_target_utilization, lambda_invoke_overhead_ms, lambda_environment_lifetime_h,
  xray_reservoir_per_s, xray_sampling_rate, lambda_log_bytes_per_invocation, http_api_access_log_bytes,
  k8s_target_utilization (through the ScaledObject's threshold)
- the target builders: stacks/k8s/scaling.scaled_object_spec (pollingInterval, cooldownPeriod,
  HPA behaviour, trigger thresholds), rate_window_s; stacks/packaging.queue_depth; stacks/aws/queue
  (visibility timeout, max receive count); stacks/aws/serving.HOLD_EVERY_MINUTES
- the bill: stacks/decision/cost.py (the plan's Cost, its LineItem format, the Bill builder) and
  stacks/targets/serverless/bill.py (the on-demand duration tiers); each option's bill
"""

from __future__ import annotations

from stacks.decision.cost import DAYS_PER_MONTH, GIB, Bill, Cost, LineItem, monthly_requests
from stacks.decision.workload import Workload
from stacks.k8s import scaling
from stacks.k8s.settings import ClusterSettings
from stacks.limits import LAMBDA_INIT_LIMIT_MS
from stacks.packaging import queue_depth
from stacks.profile import Mode, Preset, Target
from stacks.simulate.params import KubernetesParams, ServerlessParams, TrafficShape
from stacks.targets.kubernetes import kubernetes_sizing
from stacks.targets.serverless import serverless_sizing
from stacks.targets.serverless.bill import duration_tiers, lambda_rates
from stacks.targets.serverless.delivery import HOLD_EVERY_MINUTES, MAX_RECEIVE_COUNT, visibility_timeout_s

__all__ = [
    "DAYS_PER_MONTH",
    "GIB",
    "Cost",
    "LineItem",
    "Workload",
    "kubernetes_params",
    "kubernetes_sizing",
    "lambda_rates",
    "monthly_requests",
    "new_bill",
    "on_demand_duration",
    "plan_costs",
    "serverless_params",
    "serverless_sizing",
    "traffic_shape",
]


def traffic_shape(w: Workload) -> TrafficShape:
    u = w.profile.utilization
    return TrafficShape(
        avg_rps=u.avg_rps,
        peak_rps=u.peak_rps,
        active_hours=u.active_hours_per_day,
        window=u.window_minutes(),
        zone=u.window_timezone(),
        inference_ms=u.inference_ms,
    )


def serverless_params(w: Workload) -> ServerlessParams:
    s, p, platform = serverless_sizing(w), w.profile, w.settings.platform
    cold = s.cold_start
    return ServerlessParams(
        mode=p.sla.mode.value,
        memory_gb=s.memory_mb / 1024,
        architecture=s.architecture,
        timeout_s=float(s.timeout_s),
        invoke_overhead_s=platform.lambda_invoke_overhead_ms / 1000,
        cold_start_s=cold.total_ms / 1000,
        cold_start_parts_ms={k: v for k, v in cold.model_dump().items()},
        environment_lifetime_s=platform.lambda_environment_lifetime_h * 3600,
        reserved_concurrency=s.reserved_concurrency,
        provisioned=s.provisioned,
        pc_min=s.pc_min,
        pc_max=s.pc_max,
        pc_scheduled=s.pc_scheduled,
        pc_prewarm_s=s.pc_prewarm_minutes * 60.0,
        pc_hold_every_s=HOLD_EVERY_MINUTES * 60.0,
        pc_target_utilization=platform.pc_target_utilization,
        queue_max_concurrency=s.queue_max_concurrency,
        batch_size=s.queue_batch_size,
        batch_window_s=float(s.queue_batch_window_s),
        visibility_timeout_s=float(visibility_timeout_s(s.timeout_s)),
        max_receive_count=MAX_RECEIVE_COUNT,
        weights_gb=p.model.weights_gb,
        weights_in_image=s.weights_in_image,
        init_limit_s=LAMBDA_INIT_LIMIT_MS / 1000,
        xray_reservoir_per_s=platform.xray_reservoir_per_s,
        xray_sampling_rate=platform.xray_sampling_rate,
    )


def kubernetes_params(w: Workload, cluster: ClusterSettings | None = None) -> KubernetesParams:
    cluster = cluster or ClusterSettings()
    k, p = kubernetes_sizing(w), w.profile
    vllm = p.model.preset is Preset.vllm
    spec = scaling.scaled_object_spec(w, cluster, "simulated", vllm=vllm, redis_address="redis:6379", trigger_auth=None)
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    up, down = behavior["scaleUp"], behavior["scaleDown"]
    triggers = {t["name"]: t for t in spec["triggers"]}
    http = triggers.get("requests-in-flight")
    queue = triggers.get("queue-lag")
    parts = {
        name: getattr(k, name)
        for name in ("schedule_ms", "image_pull_ms", "weights_ms", "deserialize_ms", "engine_start_ms", "compile_ms")
    }
    return KubernetesParams(
        mode=p.sla.mode.value,
        serves_http=http is not None,
        works_queue=queue is not None and p.sla.mode is not Mode.sync,
        replica_concurrency=k.replica_concurrency,
        queue_depth=queue_depth(p.sla.p99_latency_ms, p.utilization.inference_ms, k.replica_concurrency),
        timeout_s=float(p.sla.timeout_s),
        min_replicas=spec["minReplicaCount"],
        max_replicas=spec["maxReplicaCount"],
        pod_start_s=k.pod_start_ms / 1000,
        pod_start_parts_ms=parts,
        polling_interval_s=float(spec["pollingInterval"]),
        cooldown_s=float(spec["cooldownPeriod"]),
        scrape_interval_s=float(cluster.scrape_interval_s),
        rate_window_s=float(scaling.rate_window_s(cluster)),
        http_target=float(http["metadata"]["threshold"]) if http else 0.0,
        queue_lag_target=float(queue["metadata"]["lagCount"]) if queue else 0.0,
        scale_up_window_s=float(up["stabilizationWindowSeconds"]),
        scale_up_pods=int(up["policies"][0]["value"]),
        scale_up_period_s=float(up["policies"][0]["periodSeconds"]),
        scale_down_window_s=float(down["stabilizationWindowSeconds"]),
        scale_down_percent=float(down["policies"][0]["value"]),
        scale_down_period_s=float(down["policies"][0]["periodSeconds"]),
        fallback_replicas=int(spec["fallback"]["replicas"]),
    )


def plan_costs(w: Workload) -> tuple[Cost, Cost]:
    """The plan's monthly bills: (serverless, kubernetes)."""
    return w.decision.option(Target.serverless).bill, w.decision.option(Target.kubernetes).bill


def new_bill(w: Workload) -> Bill:
    """A bill priced from this workload's price book (stacks/decision/cost.py's, so no price is duplicated)."""
    return Bill(w.settings.prices)


def on_demand_duration(bill: Bill, gb_s: float, architecture: str, basis: str) -> None:
    duration_tiers(bill, gb_s, architecture, basis)
