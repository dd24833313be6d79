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
  HPA behaviour, trigger thresholds), rate_window_s; stacks/packaging.queue_depth;
  stacks/targets/serverless/delivery.py (visibility timeout, max receive count, HOLD_EVERY_MINUTES,
  shared with stacks/aws/queue.py and serving.py, free of aws-cdk-lib so a plan can simulate)
- the bill: stacks/decision/cost.py (the plan's Cost, its LineItem format, the Bill builder) and
  stacks/targets/serverless/bill.py (the on-demand duration tiers); each option's bill
"""

from __future__ import annotations

from stacks.decision.cost import DAYS_PER_MONTH, GIB, Bill, Cost, LineItem, monthly_requests
from stacks.decision.workload import Workload
from stacks.k8s import scaling
from stacks.k8s.settings import ClusterSettings
from stacks.packaging import queue_depth
from stacks.profile import Mode, Preset, Target
from stacks.simulate.params import KubernetesParams, ServerlessParams, TrafficShape
from stacks.simulate.traffic import shape_of
from stacks.targets.kubernetes import kubernetes_sizing
from stacks.targets.serverless import serverless_sizing
from stacks.targets.serverless.bill import duration_tiers, lambda_rates
from stacks.targets.serverless.simulation import sim_params

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
    return shape_of(w.profile)


def serverless_params(w: Workload) -> ServerlessParams:
    """The serverless target's own translation (it simulates its sizing while it sizes)."""
    return sim_params(w.profile, serverless_sizing(w), w.settings.platform)


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
