"""Cluster add-ons as components, each a pinned helm.v3.Release: NVIDIA GPU Operator and KEDA.

The platform team decides which the program installs (stack config installGpuOperator,
installKeda, installNfd), for clusters that already run them. Add-ons are declared whether or not
any workload needs them today, and are retained on delete: removing the last GPU workload, turning
an add-on off or `pulumi destroy` never uninstalls a cluster service other tenants may rely on
(uninstall it with helm by hand when nobody does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from stacks.errors import SwitchyardError
from stacks.k8s.mirrors import chart_source, helm_chart_args
from stacks.k8s.naming import addon_ownership
from stacks.k8s.security import SHARED
from stacks.k8s.settings import ClusterSettings
from stacks.k8s.vendor import GPU_OPERATOR, GPU_RESOURCE, KEDA, Chart
from stacks.pricebook import Platform
from stacks.targets.kubernetes.sizing import (  # one table: the decision costs what the MIG manager cuts
    MIG_INSTANCES_PER_GPU,
    kubernetes_sizing,
)
from stacks.workloads import SHARING_FIELDS, sharing_disagreement

TIME_SLICING_CONFIG = "switchyard-time-slicing"
TIME_SLICING_KEY = "any"
MIG_CONFIG = "switchyard-mig-config"
MIG_CONFIG_KEY = "config.yaml"
MIG_DISABLED = "all-disabled"
# MIG instances of one profile that fit an 80 GB A100/H100 (NVIDIA MIG user guide, "Supported MIG Profiles").


@dataclass(frozen=True)
class GpuSharing:
    """The one sharing mode of the cluster, as the platform settings (and so the plan) state it."""

    mode: str  # none | time-slicing | mig
    time_slicing_replicas: int
    mig_strategy: str
    mig_profiles: tuple[str, ...]  # profiles the workloads request, smallest first

    @property
    def mig_node_configs(self) -> dict[str, str]:
        """profile -> the nvidia.com/mig.config value a node must carry to be cut that way."""
        return {p: f"all-{p}" for p in self.mig_profiles}


def gpu_sharing(platform: Platform, workloads: list[Any]) -> GpuSharing:
    """The sharing mode from the platform settings; every GPU workload must agree with it."""
    for w in workloads:
        found = sharing_disagreement(w, platform)
        if found:
            shown, want = found
            raise SwitchyardError(
                f"{w.file}: overrides.platform: {shown} disagrees with the cluster's {want}\n"
                "    allowed: one GPU sharing mode per cluster (the GPU Operator applies one to every node)\n"
                "    hint: set it once in platform.yaml beside the profiles and remove it from the profile"
            )
    profiles = sorted(
        {kubernetes_sizing(w).mig_profile for w in workloads if kubernetes_sizing(w).mig_profile},
        key=lambda p: MIG_INSTANCES_PER_GPU.get(p, 0),
        reverse=True,
    )
    return GpuSharing(*(getattr(platform, f) for f in SHARING_FIELDS), mig_profiles=tuple(profiles))


def _namespace(
    parent: pulumi.Resource, addon: str, name: str, pod_security: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.NamespacePatch:
    labels = {f"pod-security.kubernetes.io/{mode}": pod_security for mode in ("enforce", "audit", "warn")}
    # A patch (security.SHARED): a redeploy after `pulumi destroy`, or a second stack, applies over the
    # retained namespace instead of failing with AlreadyExists; the never-adopt guard refuses it on a
    # namespace Switchyard did not create.
    return k8s.core.v1.NamespacePatch(
        f"{addon}-namespace",
        metadata=k8s.meta.v1.ObjectMetaPatchArgs(
            name=name, labels={**labels, **addon_ownership(addon)}, annotations=SHARED
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=parent, retain_on_delete=True)),
    )


def _release(
    parent: pulumi.Resource,
    chart: Chart,
    values: dict[str, Any],
    namespace: k8s.core.v1.NamespacePatch,
    opts: pulumi.ResourceOptions,
    depends_on: list[pulumi.Resource] | None = None,
) -> k8s.helm.v3.Release:
    source = helm_chart_args(chart)
    return k8s.helm.v3.Release(
        f"{chart.name}-release",
        name=chart.name,
        chart=source["chart"],
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(**source["repository_opts"])
        if source["repository_opts"]
        else None,
        namespace=namespace.metadata.name,
        create_namespace=False,  # the component owns the namespace and its Pod Security labels
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=900,
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                parent=parent,
                depends_on=[namespace, *(depends_on or [])],
                # Other tenants' GPUs and autoscalers depend on it: leaving the program never uninstalls it.
                retain_on_delete=True,
            ),
        ),
    )


def gpu_operator_values(settings: ClusterSettings, sharing: GpuSharing) -> dict[str, Any]:
    values: dict[str, Any] = {
        # Bare metal usually ships the driver in the OS image, often without the container toolkit.
        # The operator creates the `nvidia` RuntimeClass either way, so its toolkit stays on unless
        # the nodes have their own (toolkitPreinstalled): otherwise every GPU pod fails with
        # "no runtime for nvidia".
        "driver": {"enabled": not settings.drivers_preinstalled},
        "toolkit": {"enabled": not settings.toolkit_preinstalled},
        "nfd": {"enabled": settings.install_nfd},
        "dcgmExporter": {
            "enabled": True,
            # kube-prometheus-stack selects ServiceMonitors by label (release: <its release> by default)
            "serviceMonitor": {"enabled": True, "additionalLabels": dict(settings.service_monitor_labels)},
        },
    }
    if sharing.mode == "time-slicing":
        values["devicePlugin"] = {"config": {"name": TIME_SLICING_CONFIG, "default": TIME_SLICING_KEY}}
    elif sharing.mode == "mig":
        values["mig"] = {"strategy": sharing.mig_strategy}
        values["migManager"] = {"enabled": True, "config": {"name": MIG_CONFIG, "default": MIG_DISABLED}}
    return values


def mig_parted_config(sharing: GpuSharing) -> dict[str, Any]:
    """The MIG manager's configs: one `all-<profile>` per profile the workloads request.

    A node is cut by labelling it nvidia.com/mig.config=all-<profile> (README, "GPU sharing");
    unlabelled nodes keep MIG off.
    """
    configs: dict[str, Any] = {MIG_DISABLED: [{"devices": "all", "mig-enabled": False}]}
    for profile, config in sharing.mig_node_configs.items():
        configs[config] = [
            {"devices": "all", "mig-enabled": True, "mig-devices": {profile: MIG_INSTANCES_PER_GPU[profile]}}
        ]
    return {"version": "v1", "mig-configs": configs}


KEDA_VALUES: dict[str, Any] = {
    "prometheus": {"metricServer": {"enabled": True}, "operator": {"enabled": True}},
}


class GpuOperator(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        settings: ClusterSettings,
        sharing: GpuSharing,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchyard:k8s:GpuOperator", name, None, opts)
        child = pulumi.ResourceOptions(
            provider=opts.provider if opts else None, depends_on=opts.depends_on if opts else None
        )
        # The operator's DaemonSets run privileged (driver, toolkit, device plugin): its namespace
        # must allow that, and nothing else is scheduled there.
        self.namespace = _namespace(self, name, settings.gpu_operator_namespace, "privileged", child)
        depends: list[pulumi.Resource] = []
        cm_opts = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(parent=self, depends_on=[self.namespace], retain_on_delete=True)
        )
        labels = addon_ownership(name)
        if sharing.mode == "time-slicing":
            config = {
                "version": "v1",
                "sharing": {
                    "timeSlicing": {"resources": [{"name": GPU_RESOURCE, "replicas": sharing.time_slicing_replicas}]}
                },
            }
            depends.append(
                k8s.core.v1.ConfigMapPatch(
                    f"{name}-time-slicing",
                    metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                        name=TIME_SLICING_CONFIG,
                        namespace=settings.gpu_operator_namespace,
                        labels=labels,
                        annotations=SHARED,
                    ),
                    data={TIME_SLICING_KEY: yaml.safe_dump(config, sort_keys=True)},
                    opts=cm_opts,
                )
            )
        elif sharing.mode == "mig":
            depends.append(
                k8s.core.v1.ConfigMapPatch(
                    f"{name}-mig-config",
                    metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                        name=MIG_CONFIG, namespace=settings.gpu_operator_namespace, labels=labels, annotations=SHARED
                    ),
                    data={MIG_CONFIG_KEY: yaml.safe_dump(mig_parted_config(sharing), sort_keys=False)},
                    opts=cm_opts,
                )
            )
        self.release = _release(
            self,
            chart_source(GPU_OPERATOR, settings),
            gpu_operator_values(settings, sharing),
            self.namespace,
            child,
            depends,
        )
        self.register_outputs({"release": self.release.name})


class Keda(pulumi.ComponentResource):
    def __init__(self, name: str, settings: ClusterSettings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("switchyard:k8s:Keda", name, None, opts)
        child = pulumi.ResourceOptions(
            provider=opts.provider if opts else None, depends_on=opts.depends_on if opts else None
        )
        # its chart sets a restricted-compliant security context
        self.namespace = _namespace(self, name, settings.keda_namespace, "restricted", child)
        self.release = _release(self, chart_source(KEDA, settings), KEDA_VALUES, self.namespace, child)
        self.register_outputs({"release": self.release.name})
