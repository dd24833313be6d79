"""One workload on the GPU cluster: namespace, identity, Deployment, Service, guards, ScaledObject."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from stacks.decide import Workload
from stacks.k8s import scaling
from stacks.k8s.redis import QueueAccess, queue_for
from stacks.k8s.settings import ClusterSettings, MetricsDiscovery
from stacks.k8s.vendor import (
    AWS_CLI_IMAGE,
    GPU_PRODUCT_LABEL,
    GPU_PRODUCTS,
    GPU_RESOURCE,
    GPU_RUNTIME_CLASS,
    GPU_TAINT_KEY,
)
from stacks.packaging import K8S_WEIGHTS_DIR, RUN_AS_UID, PackageSpec

PRESTOP_SECONDS = 10  # endpoints controllers and proxies stop routing before SIGTERM arrives
DRAIN_MARGIN_SECONDS = 5
STARTUP_PERIOD_SECONDS = 5
STARTUP_MARGIN = 3  # the startup budget covers three times the estimated pod start
MARKER = ".switchyard-complete"

FETCH_SCRIPT = f"""set -eu
dest="$CACHE/$VERSION"
if [ -f "$dest/{MARKER}" ]; then echo "weights $VERSION already cached"; exit 0; fi
tmp="$CACHE/.tmp-$VERSION-$HOSTNAME"
rm -rf "$tmp"
aws s3 sync "$SOURCE" "$tmp" --only-show-errors --no-progress
echo "$SOURCE" > "$tmp/{MARKER}"
# Another replica may have finished first: its complete copy wins, ours is dropped.
mv -T "$tmp" "$dest" 2>/dev/null || {{ rm -rf "$tmp"; test -f "$dest/{MARKER}"; }}
echo "weights $VERSION cached"
"""


@dataclass(frozen=True)
class WorkloadImage:
    """What the program needs from packaging: the pushed image and how to run it."""

    reference: str  # registry/name:content-hash
    spec: PackageSpec
    weights_source: str  # s3:// URI the init container syncs from
    weights_version: str


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "switchyard"}


def startup_failure_threshold(pod_start_ms: float) -> int:
    return max(12, math.ceil(pod_start_ms / 1000 * STARTUP_MARGIN / STARTUP_PERIOD_SECONDS))


@dataclass(frozen=True)
class ProbeTiming:
    readiness: dict[str, int]
    liveness: dict[str, int]


def probe_timing(vllm: bool) -> ProbeTiming:
    """Probes that do not flap a busy replica.

    The custom server answers probes on its event loop, apart from the predict threads: short
    timeouts hold. vLLM's /health waits behind the engine loop, which a long prefill or a full
    batch keeps busy for seconds: longer timeouts, and a restart only after a minute of failures.
    """
    if vllm:
        return ProbeTiming(
            readiness={"period_seconds": 10, "timeout_seconds": 5, "failure_threshold": 3},
            liveness={"period_seconds": 15, "timeout_seconds": 10, "failure_threshold": 4},
        )
    return ProbeTiming(
        readiness={"period_seconds": 5, "timeout_seconds": 2, "failure_threshold": 2},
        liveness={"period_seconds": 10, "timeout_seconds": 3, "failure_threshold": 3},
    )


class InferenceWorkload(pulumi.ComponentResource):
    def __init__(
        self,
        w: Workload,
        image: WorkloadImage,
        settings: ClusterSettings,
        keda: pulumi.Resource | None,
        gpu_operator: pulumi.Resource | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchyard:k8s:InferenceWorkload", w.name, None, opts)
        self.workload = w
        name = w.name
        labels = _labels(name)
        child = pulumi.ResourceOptions(parent=self)

        def opt(*depends: pulumi.Resource | None) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=[d for d in depends if d is not None])

        def meta(obj_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=obj_name, namespace=name, labels=labels)

        restricted = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "audit", "warn")}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels={**labels, **restricted}),
            opts=child,
        )
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount",
            metadata=meta(name),
            automount_service_account_token=False,
            opts=opt(self.namespace),
        )
        cache_gi = max(1, math.ceil(w.profile.model.weights_gb * 2.2))  # the current and previous version
        self.cache = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-model-cache",
            metadata=meta(f"{name}-model-cache"),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteMany"],  # every replica, on any node, reads the same cache
                storage_class_name=settings.model_storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": f"{cache_gi}Gi"}),
            ),
            opts=opt(self.namespace),
        )
        vllm = image.spec.flavor == "vllm"
        self.queue: QueueAccess | None = None
        if scaling.works_queue(w, vllm):
            self.queue = queue_for(self, name, settings, self.namespace, labels, keda)
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(name),
            spec=self._deployment_spec(w, image, labels, settings, self.queue),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[d for d in (self.namespace, self.cache, gpu_operator) if d is not None],
                # KEDA's HPA owns the replica count once the workload runs.
                ignore_changes=["spec.replicas"],
            ),
        )
        port = image.spec.port
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(name),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=labels,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http", protocol="TCP")],
            ),
            opts=opt(self.namespace),
        )
        self.disruption_budget = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(name),
            # maxUnavailable (not minAvailable) so a node drain always makes progress, even at one replica.
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=w.decision.kubernetes.pdb_max_unavailable,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            ),
            opts=opt(self.namespace),
        )
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-networkpolicy",
            metadata=meta(name),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                policy_types=["Ingress"],
                # One port serves predictions and /metrics: callers and the Prometheus scraper.
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")]
                    )
                ],
            ),
            opts=opt(self.namespace),
        )
        if settings.metrics_discovery is MetricsDiscovery.pod_monitor:
            self.pod_monitor = k8s.apiextensions.CustomResource(
                f"{name}-podmonitor",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=name, namespace=name, labels={**labels, **settings.pod_monitor_labels}
                ),
                spec=scaling.pod_monitor_spec(labels, settings),
                opts=opt(self.namespace),
            )
        self.scaled_object = k8s.apiextensions.CustomResource(
            f"{name}-scaledobject",
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata=meta(name),
            spec=scaling.scaled_object_spec(
                w,
                settings,
                vllm=vllm,
                redis_address=self.queue.address if self.queue else "",
                trigger_auth=self.queue.trigger_auth if self.queue else None,
            ),
            opts=opt(self.deployment, keda),
        )
        self.register_outputs({"namespace": self.namespace.metadata.name, "service": self.service.metadata.name})

    def _deployment_spec(
        self,
        w: Workload,
        image: WorkloadImage,
        labels: dict[str, str],
        settings: ClusterSettings,
        queue: QueueAccess | None,
    ) -> k8s.apps.v1.DeploymentSpecArgs:
        k, spec, sla = w.decision.kubernetes, image.spec, w.profile.sla
        gpu = k.gpu_type is not None
        vllm = spec.flavor == "vllm"
        weights_dir = f"{K8S_WEIGHTS_DIR}/{image.weights_version}"
        health, ready = ("/health", "/health") if vllm else ("/healthz", "/readyz")
        limits = {"cpu": f"{k.cpu_millicores}m", "memory": f"{k.memory_mb}Mi"}
        if gpu:
            limits[GPU_RESOURCE] = str(k.gpus_per_replica)
        env = [k8s.core.v1.EnvVarArgs(name="WEIGHTS_DIR", value=weights_dir)]
        if queue is not None:
            env += [
                *queue.env(),
                k8s.core.v1.EnvVarArgs(name="QUEUE_NAME", value=scaling.queue_stream(w.name)),
                # The consumer name in the stream's group: a replaced pod's messages are claimed by name.
                k8s.core.v1.EnvVarArgs(
                    name="POD_NAME",
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.name")
                    ),
                ),
            ]
        args = None
        if vllm:
            argv = list(spec.vllm_argv)
            argv[argv.index("--model") + 1] = weights_dir
            args = argv
        no_privilege = k8s.core.v1.SecurityContextArgs(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            run_as_non_root=True,
            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        )
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="model-cache",
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=f"{w.name}-model-cache"
                ),
            ),
            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")),
        ]
        mounts = [
            k8s.core.v1.VolumeMountArgs(name="model-cache", mount_path=K8S_WEIGHTS_DIR, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ]
        if vllm:  # PyTorch shares tensors between processes through /dev/shm
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="dshm", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit="8Gi")
                )
            )
            mounts.append(k8s.core.v1.VolumeMountArgs(name="dshm", mount_path="/dev/shm"))
        fetch = k8s.core.v1.ContainerArgs(
            name="fetch-weights",
            image=AWS_CLI_IMAGE,
            command=["/bin/sh", "-c", FETCH_SCRIPT],
            env=[
                k8s.core.v1.EnvVarArgs(name="SOURCE", value=image.weights_source),
                k8s.core.v1.EnvVarArgs(name="VERSION", value=image.weights_version),
                k8s.core.v1.EnvVarArgs(name="CACHE", value=K8S_WEIGHTS_DIR),
                k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
            ],
            # Credentials for the weights store, when the cluster needs them (IRSA-like setups don't).
            env_from=[
                k8s.core.v1.EnvFromSourceArgs(
                    secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=f"{w.name}-weights-credentials", optional=True)
                )
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "500m", "memory": "512Mi"}, limits={"cpu": "2", "memory": "1Gi"}
            ),
            security_context=no_privilege,
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="model-cache", mount_path=K8S_WEIGHTS_DIR),
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            ],
        )
        probe = k8s.core.v1.HTTPGetActionArgs
        timing = probe_timing(vllm)
        server = k8s.core.v1.ContainerArgs(
            name="server",
            image=image.reference,
            image_pull_policy="IfNotPresent",
            args=args,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=spec.port, protocol="TCP")],
            env=env,
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": f"{k.cpu_millicores}m", "memory": f"{k.memory_mb}Mi"}, limits=limits
            ),
            startup_probe=k8s.core.v1.ProbeArgs(
                http_get=probe(path=ready, port="http"),
                period_seconds=STARTUP_PERIOD_SECONDS,
                failure_threshold=startup_failure_threshold(k.pod_start_ms),
                timeout_seconds=2,
            ),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=probe(path=ready, port="http"), **timing.readiness),
            liveness_probe=k8s.core.v1.ProbeArgs(http_get=probe(path=health, port="http"), **timing.liveness),
            lifecycle=k8s.core.v1.LifecycleArgs(
                pre_stop=k8s.core.v1.LifecycleHandlerArgs(sleep=k8s.core.v1.SleepActionArgs(seconds=PRESTOP_SECONDS))
            ),
            security_context=no_privilege,
            volume_mounts=mounts,
        )
        affinity = None
        tolerations = None
        if gpu:
            affinity = k8s.core.v1.AffinityArgs(
                node_affinity=k8s.core.v1.NodeAffinityArgs(
                    required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                        node_selector_terms=[
                            k8s.core.v1.NodeSelectorTermArgs(
                                match_expressions=[
                                    k8s.core.v1.NodeSelectorRequirementArgs(
                                        key=GPU_PRODUCT_LABEL, operator="In", values=GPU_PRODUCTS[k.gpu_type]
                                    )
                                ]
                            )
                        ]
                    )
                )
            )
            tolerations = [k8s.core.v1.TolerationArgs(key=GPU_TAINT_KEY, operator="Exists", effect="NoSchedule")]
        spread = None
        if k.spread_across_nodes:
            # The availability replicas only count if one node's loss takes one of them: hard spread.
            spread = [
                k8s.core.v1.TopologySpreadConstraintArgs(
                    max_skew=1,
                    topology_key="kubernetes.io/hostname",
                    when_unsatisfiable="DoNotSchedule",
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                )
            ]
        return k8s.apps.v1.DeploymentSpecArgs(
            replicas=max(1, scaling.min_replicas(w)),
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                # From the sizing: CPU surges into cheap headroom; GPU replaces in place (maxUnavailable)
                # rather than surge into a GPU the cost does not count.
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                    max_surge=k.rollout_max_surge, max_unavailable=k.rollout_max_unavailable
                ),
            ),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels=labels, annotations=scaling.scrape_annotations(spec.port, settings) or None
                ),
                spec=k8s.core.v1.PodSpecArgs(
                    service_account_name=w.name,
                    automount_service_account_token=False,
                    runtime_class_name=GPU_RUNTIME_CLASS if gpu else None,
                    affinity=affinity,
                    tolerations=tolerations,
                    topology_spread_constraints=spread,
                    termination_grace_period_seconds=PRESTOP_SECONDS + sla.timeout_s + DRAIN_MARGIN_SECONDS,
                    security_context=k8s.core.v1.PodSecurityContextArgs(
                        run_as_non_root=True,
                        run_as_user=RUN_AS_UID,
                        run_as_group=RUN_AS_UID,
                        fs_group=RUN_AS_UID,
                        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                    ),
                    init_containers=[fetch],
                    containers=[server],
                    volumes=volumes,
                ),
            ),
        )
