"""Cluster add-ons as components, each a pinned helm.v3.Release: NVIDIA GPU Operator and KEDA."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from stacks.k8s.settings import ClusterSettings, GpuSharing
from stacks.k8s.vendor import GPU_OPERATOR, GPU_RESOURCE, KEDA, Chart

TIME_SLICING_CONFIG = "switchyard-time-slicing"
TIME_SLICING_KEY = "any"


def _namespace(
    parent: pulumi.Resource, name: str, pod_security: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.Namespace:
    labels = {f"pod-security.kubernetes.io/{mode}": pod_security for mode in ("enforce", "audit", "warn")}
    return k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels={**labels, "app.kubernetes.io/managed-by": "switchyard"}),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=parent)),
    )


def _release(
    parent: pulumi.Resource,
    chart: Chart,
    values: dict[str, Any],
    namespace: k8s.core.v1.Namespace,
    opts: pulumi.ResourceOptions,
    depends_on: list[pulumi.Resource] | None = None,
) -> k8s.helm.v3.Release:
    return k8s.helm.v3.Release(
        f"{chart.name}-release",
        name=chart.name,
        chart=chart.name,
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
        namespace=namespace.metadata.name,
        create_namespace=False,  # the component owns the namespace and its Pod Security labels
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=900,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(parent=parent, depends_on=[namespace, *(depends_on or [])])
        ),
    )


def gpu_operator_values(settings: ClusterSettings) -> dict[str, Any]:
    values: dict[str, Any] = {
        # Bare metal usually ships the driver and the container toolkit in the OS image; the
        # operator then only adds the device plugin, GPU Feature Discovery and DCGM.
        "driver": {"enabled": not settings.drivers_preinstalled},
        "toolkit": {"enabled": not settings.drivers_preinstalled},
        "dcgmExporter": {"enabled": True},
    }
    if settings.gpu_sharing is GpuSharing.time_slicing:
        values["devicePlugin"] = {"config": {"name": TIME_SLICING_CONFIG, "default": TIME_SLICING_KEY}}
    elif settings.gpu_sharing is GpuSharing.mig:
        values["mig"] = {"strategy": settings.mig_strategy}
    return values


KEDA_VALUES: dict[str, Any] = {
    "prometheus": {"metricServer": {"enabled": True}, "operator": {"enabled": True}},
}


class GpuOperator(pulumi.ComponentResource):
    def __init__(self, name: str, settings: ClusterSettings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("switchyard:k8s:GpuOperator", name, None, opts)
        child = pulumi.ResourceOptions(provider=opts.provider if opts else None)
        # The operator's DaemonSets run privileged (driver, toolkit, device plugin): its namespace
        # must allow that, and nothing else is scheduled there.
        self.namespace = _namespace(self, GPU_OPERATOR.namespace, "privileged", child)
        depends: list[pulumi.Resource] = []
        if settings.gpu_sharing is GpuSharing.time_slicing:
            sharing = {
                "version": "v1",
                "sharing": {
                    "timeSlicing": {"resources": [{"name": GPU_RESOURCE, "replicas": settings.time_slicing_replicas}]}
                },
            }
            depends.append(
                k8s.core.v1.ConfigMap(
                    f"{name}-time-slicing",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=TIME_SLICING_CONFIG, namespace=GPU_OPERATOR.namespace),
                    data={TIME_SLICING_KEY: yaml.safe_dump(sharing, sort_keys=True)},
                    opts=pulumi.ResourceOptions.merge(
                        child, pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
                    ),
                )
            )
        self.release = _release(self, GPU_OPERATOR, gpu_operator_values(settings), self.namespace, child, depends)
        self.register_outputs({"release": self.release.name})


class Keda(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("switchyard:k8s:Keda", name, None, opts)
        child = pulumi.ResourceOptions(provider=opts.provider if opts else None)
        self.namespace = _namespace(
            self, KEDA.namespace, "restricted", child
        )  # its chart sets a restricted-compliant context
        self.release = _release(self, KEDA, KEDA_VALUES, self.namespace, child)
        self.register_outputs({"release": self.release.name})
