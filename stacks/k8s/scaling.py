"""How a workload is scraped and scaled: the PodMonitor (or scrape annotations) and the ScaledObject.

KEDA scales on what Prometheus holds, so the two are built together here:

- Scraping. Prometheus Operator ignores `prometheus.io/*` annotations and selects PodMonitors by
  label; `metricsDiscovery: pod-monitor` (the default) creates one per workload with the labels
  the cluster's Prometheus selects (`podMonitorLabels`), `annotations` annotates the pods for a
  Prometheus that discovers pods by annotation. Either way the scrape interval is ours
  (`scrapeIntervalSeconds`), because the queries below are sized from it.
- Signal. An in-flight gauge sampled every scrape reads 0, 1 or 2 for 25 ms requests: noise.
  The server's latency histogram integrates instead: by Little's law the rate of its `_sum`
  (seconds of requests completed per second) is the average number of requests in the replicas
  over the window, queueing included. KEDA divides it by the per-replica target (the sizing's
  replica concurrency at the target utilization) to get replicas. vLLM exposes its running and
  waiting requests as gauges; their average over the window is the same quantity.
- Queue. Async work scales on two redis-streams triggers (one scaler reads one figure): the
  consumer group's lag (entries not yet delivered), per replica as much as one replica works off
  in QUEUE_DRAIN_TARGET_S, and its pending entries (delivered, not yet acknowledged), per replica
  as many as it works at once. Lag alone reads 0 after a worker is killed holding a message, and
  KEDA would scale to zero with the message stranded; a pending entry keeps a replica up until it
  is reclaimed. `both` adds the HTTP signal (KEDA takes the largest).
- Failure. A query with no series is an error, not a zero (`ignoreNullValues: false`), so KEDA's
  fallback holds the replicas sized for the peak while the signal is missing. A queue-only
  workload is the exception: its signal fails when Redis does, and replicas without Redis cannot
  work (they exit after REDIS_OUTAGE_S), so the peak's replicas would be every GPU crash-looping.
  It falls back to at most its minimum (`currentReplicasIfLower`): never more than it runs.
- Zero. A synchronous caller cannot wait for a pod that nothing starts, so HTTP workloads keep
  at least one replica; only queue-only workloads scale to zero (the queue holds the work), after
  a cooldown longer than a pending message's reclaim time.
"""

from __future__ import annotations

import math
from typing import Any

from stacks.decision.workload import Workload
from stacks.k8s.settings import ClusterSettings, MetricsDiscovery
from stacks.packaging import claim_idle_ms
from stacks.profile import Mode
from stacks.targets.kubernetes import sizing
from stacks.targets.kubernetes.queue import QUEUE_DRAIN_TARGET_S
from stacks.targets.kubernetes.sizing import kubernetes_sizing

QUEUE_SUFFIX = ":queue"
CONSUMER_GROUP = "workers"  # the queue worker's consumer group (templates/kubernetes/queue_worker.py.jinja)
FALLBACK_FAILURES = 3  # failed metric reads before KEDA holds the fallback replicas
COOLDOWN_S = 300  # KEDA's default wait after the last activity before scaling to zero
RATE_WINDOW_SCRAPES = 4  # a rate over fewer scrapes is noise (and empty after one missed scrape)
METRICS_PATH = "/metrics"
METRICS_PORT_NAME = "http"


def queue_stream(name: str) -> str:
    return f"{name}{QUEUE_SUFFIX}"


def queue_result_key(name: str) -> str:
    """Where one caller's result lands, <caller> and <id> to fill in: the worker's result_key
    (templates/kubernetes/queue_worker.py.jinja), serving core result_name under the stream."""
    return f"{queue_stream(name)}:results/<caller>/<id>"


def rate_window_s(settings: ClusterSettings) -> int:
    return settings.scrape_interval_s * RATE_WINDOW_SCRAPES


def polling_interval_s(p99_latency_ms: float, settings: ClusterSettings) -> int:
    """Tight SLAs need KEDA to notice load sooner; never faster than Prometheus gets new samples."""
    wanted = 5 if p99_latency_ms <= 1000 else 15
    return max(wanted, settings.scrape_interval_s)


def serves_http(w: Workload) -> bool:
    return sizing.serves_http(w.profile)


def works_queue(w: Workload, vllm: bool) -> bool:
    return w.profile.sla.mode is not Mode.sync and not vllm


def min_replicas(w: Workload) -> int:
    """The decision's minimum: at least one for HTTP callers (stacks/targets/kubernetes/sizing.py), zero allowed for a queue."""
    return kubernetes_sizing(w).min_replicas


def replica_target(w: Workload) -> float:
    """Requests in one replica (running or queued) at the target utilization."""
    k = kubernetes_sizing(w)
    return k.replica_concurrency * w.settings.platform.k8s_target_utilization


def http_query(ns: str, settings: ClusterSettings, vllm: bool) -> str:
    window = f"{rate_window_s(settings)}s"
    if vllm:
        running = f'sum(avg_over_time(vllm:num_requests_running{{namespace="{ns}"}}[{window}]))'
        waiting = f'sum(avg_over_time(vllm:num_requests_waiting{{namespace="{ns}"}}[{window}]))'
        return f"{running} + {waiting}"
    return f'sum(rate(switchyard_request_duration_seconds_sum{{namespace="{ns}"}}[{window}]))'


def queue_lag_per_replica(w: Workload) -> int:
    return max(1, math.ceil(kubernetes_sizing(w).replica_rps * QUEUE_DRAIN_TARGET_S))


def scaled_object_spec(
    w: Workload, settings: ClusterSettings, ns: str, *, vllm: bool, redis_address: str, trigger_auth: str | None
) -> dict[str, Any]:
    k, p = kubernetes_sizing(w), w.profile
    triggers: list[dict[str, Any]] = []
    if serves_http(w) or vllm:
        triggers.append(
            {
                "type": "prometheus",
                "name": "requests-in-flight",
                "metricType": "AverageValue",
                "metadata": {
                    "serverAddress": settings.prometheus_address,
                    "query": http_query(ns, settings, vllm),
                    "threshold": f"{replica_target(w):g}",
                    "activationThreshold": "0",
                    "ignoreNullValues": "false",
                },
            }
        )
    if works_queue(w, vllm):
        stream = {"address": redis_address, "stream": queue_stream(w.name), "consumerGroup": CONSUMER_GROUP}
        lag: dict[str, Any] = {
            "type": "redis-streams",
            "name": "queue-lag",
            "metricType": "AverageValue",
            "metadata": {**stream, "lagCount": str(queue_lag_per_replica(w)), "activationLagCount": "0"},
        }
        # Active while any entry is pending; a replica holds as many as it works at once.
        pending: dict[str, Any] = {
            "type": "redis-streams",
            "name": "queue-pending",
            "metricType": "AverageValue",
            "metadata": {**stream, "pendingEntriesCount": str(k.replica_concurrency)},
        }
        for trigger in (lag, pending):
            if trigger_auth:
                trigger["authenticationRef"] = {"name": trigger_auth}
            triggers.append(trigger)
    low = min_replicas(w)
    high = max(k.max_replicas, low)
    return {
        "scaleTargetRef": {"name": w.name},
        "minReplicaCount": low,
        "maxReplicaCount": high,
        "pollingInterval": polling_interval_s(p.sla.p99_latency_ms, settings),
        "cooldownPeriod": cooldown_s(w, settings),
        "fallback": fallback(w, vllm, low, high),
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {
                    # Scale up at once; scale down slowly (5-minute window, half at a time): no flapping.
                    "scaleUp": {
                        "stabilizationWindowSeconds": 0,
                        "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}],
                    },
                    "scaleDown": {
                        "stabilizationWindowSeconds": 300,
                        "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
                    },
                }
            }
        },
        "triggers": triggers,
    }


def cooldown_s(w: Workload, settings: ClusterSettings) -> int:
    """Scale to zero only after a killed worker's message could have been reclaimed (its idle time,
    then a KEDA poll to see it pending): never while a stranded message waits for a live replica."""
    reclaim_s = math.ceil(claim_idle_ms(w.profile.sla.timeout_s) / 1000)
    return max(COOLDOWN_S, reclaim_s + 2 * polling_interval_s(w.profile.sla.p99_latency_ms, settings))


def fallback(w: Workload, vllm: bool, low: int, high: int) -> dict[str, Any]:
    """Signal lost: HTTP workloads hold the capacity sized for the peak; a queue-only workload, whose
    signal is Redis and whose replicas cannot work without it, holds at most its minimum."""
    if serves_http(w) or vllm:
        return {"failureThreshold": FALLBACK_FAILURES, "replicas": high}
    return {"failureThreshold": FALLBACK_FAILURES, "replicas": max(1, low), "behavior": "currentReplicasIfLower"}


def pod_monitor_spec(selector: dict[str, str], settings: ClusterSettings) -> dict[str, Any]:
    return {
        "selector": {"matchLabels": selector},
        "podMetricsEndpoints": [
            {
                "port": METRICS_PORT_NAME,
                "path": METRICS_PATH,
                "interval": f"{settings.scrape_interval_s}s",
                "scrapeTimeout": f"{max(1, min(10, settings.scrape_interval_s - 1))}s",
            }
        ],
    }


def scrape_annotations(port: int, settings: ClusterSettings) -> dict[str, str]:
    """Pod annotations for a Prometheus that discovers pods by annotation (no operator)."""
    if settings.metrics_discovery is not MetricsDiscovery.annotations:
        return {}
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": METRICS_PATH}
