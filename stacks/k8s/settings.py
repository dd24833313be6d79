"""Cluster settings: each default here, overridden by Pulumi stack config (namespace `switchyard`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class GpuSharing(StrEnum):
    none = "none"
    time_slicing = "time-slicing"
    mig = "mig"


class MetricsDiscovery(StrEnum):
    pod_monitor = "pod-monitor"
    annotations = "annotations"


class RedisMode(StrEnum):
    deploy = "deploy"
    existing = "existing"


class ClusterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    profiles: str = Field("profiles", description="directory of profiles, relative to the project root")
    kube_context: str | None = Field(None, description="kubeconfig context; the current context when unset")
    drivers_preinstalled: bool = Field(
        True, description="nodes have the NVIDIA driver and container toolkit (typical bare metal)"
    )
    gpu_sharing: GpuSharing = Field(GpuSharing.none, description="none | time-slicing | mig")
    time_slicing_replicas: int = Field(4, ge=2, le=48, description="workloads sharing one GPU with time-slicing")
    mig_strategy: str = Field("single", pattern="^(single|mixed)$", description="GPU Operator MIG strategy")
    prometheus_address: str = Field(
        "http://prometheus-operated.monitoring.svc:9090", description="Prometheus that scrapes the serving pods"
    )
    image_registry: str = Field("registry.local:5000/switchyard", description="where built images are pushed")
    model_storage_class: str | None = Field(
        None, description="storage class of the shared model cache (ReadWriteMany); the default class when unset"
    )
    weights_base_uri: str = Field(
        "s3://switchyard-models",
        description="where profiles with local weights have them uploaded (<base>/<name>/<version>/)",
    )
    metrics_discovery: MetricsDiscovery = Field(
        MetricsDiscovery.pod_monitor,
        description="pod-monitor: a PodMonitor per workload (Prometheus Operator) | annotations: prometheus.io/* pod annotations",
    )
    pod_monitor_labels: dict[str, str] = Field(
        default_factory=lambda: {"release": "kube-prometheus-stack"},
        description="labels the cluster's Prometheus selects PodMonitors by (its podMonitorSelector)",
    )
    scrape_interval_s: int = Field(
        15, ge=1, le=300, description="how often Prometheus scrapes the serving pods; KEDA polls no faster"
    )
    redis_mode: RedisMode = Field(
        RedisMode.deploy,
        description="deploy: a password-protected Redis per async workload | existing: use redisAddress",
    )
    redis_address: str = Field(
        "redis.switchyard.svc:6379", description="redis_mode existing: host:port of the Redis the queues live in"
    )
    redis_password_secret: str | None = Field(
        None,
        description="redis_mode existing: Secret (key `password`) in each workload's namespace; no auth when unset",
    )


CONFIG_KEYS = {  # Pulumi config key -> field
    "profiles": "profiles",
    "kubeContext": "kube_context",
    "driversPreinstalled": "drivers_preinstalled",
    "gpuSharing": "gpu_sharing",
    "timeSlicingReplicas": "time_slicing_replicas",
    "migStrategy": "mig_strategy",
    "prometheusAddress": "prometheus_address",
    "imageRegistry": "image_registry",
    "modelStorageClass": "model_storage_class",
    "weightsBaseUri": "weights_base_uri",
    "redisAddress": "redis_address",
    "metricsDiscovery": "metrics_discovery",
    "podMonitorLabels": "pod_monitor_labels",
    "scrapeIntervalSeconds": "scrape_interval_s",
    "redisMode": "redis_mode",
    "redisPasswordSecret": "redis_password_secret",
}


def from_pulumi_config(config: Any) -> ClusterSettings:
    """Only the keys a stack sets are passed on: the defaults live in the model alone."""
    present: dict[str, Any] = {}
    for key, field in CONFIG_KEYS.items():
        annotation = ClusterSettings.model_fields[field].annotation
        if annotation is bool:
            value = config.get_bool(key)
        elif annotation is int:
            value = config.get_int(key)
        elif field == "pod_monitor_labels":
            value = config.get_object(key)
        else:
            value = config.get(key)
        if value is not None:
            present[field] = value
    return ClusterSettings(**present)


class _StackFile:
    """Pulumi.<stack>.yaml's `config:` read the way pulumi.Config reads it (strings, "true"/"false")."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith("switchyard:")}

    def get(self, key: str) -> Any:
        value = self.values.get(key)
        return None if value is None else str(value)

    def get_bool(self, key: str) -> bool | None:
        value = self.get(key)
        return None if value is None else value.lower() == "true"

    def get_int(self, key: str) -> int | None:
        value = self.get(key)
        return None if value is None else int(value)

    def get_object(self, key: str) -> Any:
        return self.values.get(key)


def from_stack_file(path: str) -> ClusterSettings:
    """Settings from a Pulumi stack file, so `switchyard synth` renders what `pulumi up` would create."""
    import yaml

    from stacks.errors import SwitchyardError

    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
        return from_pulumi_config(_StackFile(doc.get("config") or {}))
    except FileNotFoundError:
        raise SwitchyardError(f"{path}: no such Pulumi stack file") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise SwitchyardError(f"{path}: invalid stack settings: {exc}") from None
