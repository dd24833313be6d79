"""One workload on the GPU cluster: namespace, identity, Deployment, Service, guards, ScaledObject."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks.decision.workload import Workload
from stacks.k8s import api_keys, naming, scaling, security
from stacks.k8s.exposure import expose
from stacks.k8s.mirrors import mirrored_image
from stacks.k8s.redis import QueueAccess, queue_for
from stacks.k8s.settings import ClusterSecrets, ClusterSettings, MetricsDiscovery, RedisMode
from stacks.k8s.vendor import AWS_CLI_IMAGE, GPU_PRODUCT_LABEL, GPU_RUNTIME_CLASS, GPU_TAINT_KEY, gfd_products
from stacks.k8s.weights_fetch import RUNTIME_CACHE, fetch_container
from stacks.packaging import K8S_WEIGHTS_DIR, RUN_AS_UID, RUNTIME_CACHE_DIR, PackageSpec
from stacks.targets.kubernetes import kubernetes_sizing

PRESTOP_SECONDS = 10  # endpoints controllers and proxies stop routing before SIGTERM arrives
DRAIN_MARGIN_SECONDS = 5
STARTUP_PERIOD_SECONDS = 5
STARTUP_MARGIN = 3  # the startup budget covers three times the estimated pod start
API_KEY_ENTRY = "api-key"
API_KEYS_ENTRY = "api-keys"

DEPLOY_TIMEOUT_MARGIN = 3  # `pulumi up` waits three estimated pod starts (image pull included) for a rollout
DEPLOY_TIMEOUT_MIN_S = 600  # never below Pulumi's own 10 minutes


@dataclass(frozen=True)
class WorkloadImage:
    """What the program needs from packaging: the pushed image and how to run it."""

    reference: str  # registry/name:content-hash
    spec: PackageSpec
    weights_source: str  # s3:// URI the init container syncs from
    weights_version: str


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "switchyard"}


def gpu_pod_placement(gpu_type: str | None, product_suffix: str) -> dict[str, Any]:
    """A GPU pod's placement (PodSpecArgs keywords): GFD's product label, the GPU taint tolerated,
    NVIDIA's runtime class; all None for a CPU pod. The hybrid's SQS worker is placed the same way."""
    if gpu_type is None:
        return {"runtime_class_name": None, "affinity": None, "tolerations": None}
    # GFD renames the product label under sharing: "-SHARED" (time-slicing), "-MIG-<profile>" (MIG single strategy).
    term = k8s.core.v1.NodeSelectorTermArgs(
        match_expressions=[
            k8s.core.v1.NodeSelectorRequirementArgs(
                key=GPU_PRODUCT_LABEL, operator="In", values=gfd_products(gpu_type, product_suffix)
            )
        ]
    )
    return {
        "runtime_class_name": GPU_RUNTIME_CLASS,
        "affinity": k8s.core.v1.AffinityArgs(
            node_affinity=k8s.core.v1.NodeAffinityArgs(
                required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                    node_selector_terms=[term]
                )
            )
        ),
        "tolerations": [k8s.core.v1.TolerationArgs(key=GPU_TAINT_KEY, operator="Exists", effect="NoSchedule")],
    }


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


def deploy_timeout_s(first_start_ms: float) -> int:
    """How long `pulumi up` waits for a Deployment to become ready (Pulumi's default 10 minutes is
    shorter than a first LLM start that pulls a 10 GB image, copies its weights into the model
    cache and loads them). Give it KubernetesSizing.first_start_ms: a new weights version copies first."""
    return max(DEPLOY_TIMEOUT_MIN_S, math.ceil(first_start_ms / 1000 * DEPLOY_TIMEOUT_MARGIN))


def shm_size_gi(memory_mb: int) -> int:
    """/dev/shm for vLLM (PyTorch passes tensors between its processes there): a quarter of the
    replica's memory, which it counts against, from 1 to 16 GiB."""
    return min(16, max(1, memory_mb // 1024 // 4))


class InferenceWorkload(pulumi.ComponentResource):
    def __init__(
        self,
        w: Workload,
        image: WorkloadImage,
        settings: ClusterSettings,
        *,
        namespace: str,
        ownership: dict[str, str],
        secrets: ClusterSecrets,
        keda: pulumi.Resource | None,
        gpu_operator: pulumi.Resource | None,
        guard: list[pulumi.Resource] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchyard:k8s:InferenceWorkload", w.name, None, opts)
        self.workload = w
        name = w.name
        selector = _labels(name)
        labels = {**selector, **ownership}  # every object: who made it, from which profile and plan

        def opt(*depends: pulumi.Resource | None) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=[d for d in depends if d is not None])

        def meta(obj_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=obj_name, namespace=namespace, labels=labels)

        restricted = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "audit", "warn")}
        vllm = image.spec.flavor == "vllm"
        # A Redis of its own holds the queue's data: deleting the namespace would delete it with
        # everything in it, so the namespace (and the Redis, redis.py) stays when the workload leaves.
        keeps_queue = scaling.works_queue(w, vllm) and settings.redis_mode is RedisMode.deploy
        # The program creates this namespace and owns everything in it; the cluster's never-adopt
        # policy (security.NEVER_ADOPT_POLICY) refuses to label one that already exists.
        # A namespace that keeps a queue outlives the workload (redis.py): a patch, so the next
        # `pulumi up` of this workload applies over it; the guard still refuses one we did not label.
        kind, meta_args = (
            (k8s.core.v1.NamespacePatch, k8s.meta.v1.ObjectMetaPatchArgs)
            if keeps_queue
            else (k8s.core.v1.Namespace, k8s.meta.v1.ObjectMetaArgs)
        )
        self.namespace = kind(
            f"{name}-namespace",
            metadata=meta_args(
                name=namespace,
                labels={
                    **labels,
                    **restricted,
                    **({naming.STACK_LABEL: naming.stack_identity()} if keeps_queue else {}),
                },
                annotations=security.SHARED if keeps_queue else None,
            ),
            opts=pulumi.ResourceOptions.merge(  # created once the guard is in force
                opt(*(guard or [])), pulumi.ResourceOptions(retain_on_delete=keeps_queue or None)
            ),
        )
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount",
            metadata=meta(name),
            automount_service_account_token=False,
            opts=opt(self.namespace),
        )
        keys = api_keys.workload_keys(secrets.api_key, secrets.api_keys, name)
        self.api_keys = keys
        self.api_key = k8s.core.v1.Secret(
            f"{name}-api-key",
            metadata=meta(f"{name}-api-key"),
            type="Opaque",
            # This workload's keys only (derived from the stack's, or its own): one caller's key
            # for a single-key server (vLLM), every caller's for the custom server.
            string_data=security.secret_data(
                {API_KEY_ENTRY: api_keys.primary(keys), API_KEYS_ENTRY: api_keys.as_json(keys)}
            ),
            opts=opt(self.namespace),
        )
        self.weights_credentials = None
        if secrets.weights_access_key_id is not None:
            self.weights_credentials = k8s.core.v1.Secret(
                f"{name}-weights-credentials",
                metadata=meta(f"{name}-weights-credentials"),
                type="Opaque",
                string_data=security.secret_data(
                    {
                        "AWS_ACCESS_KEY_ID": secrets.weights_access_key_id,
                        "AWS_SECRET_ACCESS_KEY": secrets.weights_secret_access_key,
                    }
                ),
                opts=opt(self.namespace),
            )
        # Sized by the decision (platform.model_cache_copies: the version pods run and the one an update
        # copies; weights_fetch keeps no more), which the bill reads.
        cache_gi = kubernetes_sizing(w).model_cache_gi
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
        self.queue: QueueAccess | None = None
        if scaling.works_queue(w, vllm):
            assert kubernetes_sizing(w).queue is not None, "the sizing bounds every queue it deploys"
            self.queue = queue_for(
                self,
                name,
                namespace,
                settings,
                self.namespace,
                selector,
                labels,
                keda,
                kubernetes_sizing(w).queue,
                secrets.redis_password,
            )
        # A rollout of a new weights version starts its pods with the init container's copy from the
        # object store before the server starts: `pulumi up` must wait out that first start.
        timeout = f"{deploy_timeout_s(kubernetes_sizing(w).first_start_ms)}s"
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(name),
            spec=self._deployment_spec(
                w, image, selector, settings, self.queue, has_credentials=self.weights_credentials is not None
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    d
                    for d in (self.namespace, self.cache, self.api_key, self.weights_credentials, gpu_operator)
                    if d is not None
                ],
                # KEDA's HPA owns the replica count once the workload runs.
                ignore_changes=["spec.replicas"],
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout),
            ),
        )
        port = image.spec.port
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(name),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http", protocol="TCP")],
                # kube-proxy prefers endpoints in the caller's zone (1.31+): no cross-zone hop per request
                traffic_distribution="PreferClose" if settings.supports("Service trafficDistribution") else None,
            ),
            opts=opt(self.namespace),
        )
        self.disruption_budget = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(name),
            # maxUnavailable (not minAvailable) so a node drain always makes progress, even at one replica.
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=kubernetes_sizing(w).pdb_max_unavailable,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            ),
            opts=opt(self.namespace),
        )
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-networkpolicy",
            metadata=meta(name),
            spec=security.network_policy_spec(
                selector,
                port,
                settings,
                uses_queue=self.queue is not None,
                queue_pods=self.queue.pod_selector if self.queue else None,
            ),
            opts=opt(self.namespace),
        )
        if settings.expose == "gateway" and settings.gateway_implementation == "cilium":
            k8s.apiextensions.CustomResource(
                f"{name}-cilium-gateway",
                api_version="cilium.io/v2",
                kind="CiliumNetworkPolicy",
                metadata=meta(f"{name}-from-gateway"),
                spec=security.cilium_gateway_spec(selector, port),
                opts=opt(self.namespace),
            )
        if settings.metrics_discovery is MetricsDiscovery.pod_monitor:
            self.pod_monitor = k8s.apiextensions.CustomResource(
                f"{name}-podmonitor",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=name, namespace=namespace, labels={**labels, **settings.pod_monitor_labels}
                ),
                spec=scaling.pod_monitor_spec(selector, settings),
                opts=opt(self.namespace),
            )
        self.route = expose(name, namespace, labels, settings, opt(self.service), timeout_s=w.profile.sla.timeout_s)
        self.scaled_object = k8s.apiextensions.CustomResource(
            f"{name}-scaledobject",
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata=meta(name),
            spec=scaling.scaled_object_spec(
                w,
                settings,
                namespace,
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
        *,
        has_credentials: bool,
    ) -> k8s.apps.v1.DeploymentSpecArgs:
        k, spec, sla = kubernetes_sizing(w), image.spec, w.profile.sla
        gpu = k.gpu_type is not None
        vllm = spec.flavor == "vllm"
        weights_dir = f"{K8S_WEIGHTS_DIR}/{image.weights_version}"
        health, ready = ("/health", "/health") if vllm else ("/healthz", "/readyz")
        limits = {"cpu": f"{k.cpu_millicores}m", "memory": f"{k.memory_mb}Mi"}
        if gpu and k.gpu_resource:
            limits[k.gpu_resource] = str(k.gpus_per_replica)
        api_key = k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                name=f"{w.name}-api-key", key=API_KEY_ENTRY if vllm else API_KEYS_ENTRY
            )
        )
        env = [
            k8s.core.v1.EnvVarArgs(name="WEIGHTS_DIR", value=weights_dir),
            # vLLM reads one key, VLLM_API_KEY; the custom server every caller's, API_KEYS ({caller: key}).
            # Both require one on predictions.
            k8s.core.v1.EnvVarArgs(name="VLLM_API_KEY" if vllm else "API_KEYS", value_from=api_key),
        ]
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
        no_privilege = security.restricted_container()
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
            # HF / vLLM / compile caches: writable, shared by the replicas, kept across restarts
            # (the init container creates the directory before this mount is made).
            k8s.core.v1.VolumeMountArgs(name="model-cache", mount_path=RUNTIME_CACHE_DIR, sub_path=RUNTIME_CACHE),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ]
        if vllm:  # PyTorch shares tensors between processes through /dev/shm
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="dshm",
                    empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                        medium="Memory", size_limit=f"{shm_size_gi(k.memory_mb)}Gi"
                    ),
                )
            )
            mounts.append(k8s.core.v1.VolumeMountArgs(name="dshm", mount_path="/dev/shm"))
        fetch = fetch_container(
            source=image.weights_source,
            version=image.weights_version,
            credentials_secret=f"{w.name}-weights-credentials" if has_credentials else None,
            endpoint_url=settings.weights_endpoint_url,
            region=settings.weights_region,
            security_context=no_privilege,
            image=mirrored_image(AWS_CLI_IMAGE, settings),
        )
        probe = k8s.core.v1.HTTPGetActionArgs
        timing = probe_timing(vllm)
        ports = [k8s.core.v1.ContainerPortArgs(name="http", container_port=spec.port, protocol="TCP")]
        # The custom server answers probes on a port of their own, which the Service does not expose:
        # callers holding connections open cannot make a probe wait. /healthz fails once a prediction
        # is stuck past its timeout (the replica also exits by itself); /readyz while every slot is.
        probe_port = "http"
        if not vllm:
            probe_port = "health"
            ports.append(k8s.core.v1.ContainerPortArgs(name="health", container_port=spec.health_port, protocol="TCP"))
        server = k8s.core.v1.ContainerArgs(
            name="server",
            image=image.reference,
            image_pull_policy="IfNotPresent",
            args=args,
            ports=ports,
            env=env,
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": f"{k.cpu_millicores}m", "memory": f"{k.memory_mb}Mi"}, limits=limits
            ),
            startup_probe=k8s.core.v1.ProbeArgs(
                http_get=probe(path=ready, port=probe_port),
                period_seconds=STARTUP_PERIOD_SECONDS,
                # The startup probe starts with the server container, after the init container's
                # weights copy: the copy (first_start_ms) is not its to wait for. pod_start_ms
                # (cached weights) bounds what remains: it also counts the schedule and image pull,
                # which happen before the container starts, so the budget errs long, never short.
                failure_threshold=startup_failure_threshold(k.pod_start_ms),
                timeout_seconds=2,
            ),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=probe(path=ready, port=probe_port), **timing.readiness),
            liveness_probe=k8s.core.v1.ProbeArgs(http_get=probe(path=health, port=probe_port), **timing.liveness),
            lifecycle=k8s.core.v1.LifecycleArgs(
                pre_stop=k8s.core.v1.LifecycleHandlerArgs(sleep=k8s.core.v1.SleepActionArgs(seconds=PRESTOP_SECONDS))
            ),
            security_context=no_privilege,
            volume_mounts=mounts,
        )
        spread = None
        if k.spread_across_nodes:
            # The availability replicas only count if one node's loss takes one of them: hard spread.
            spread = [
                k8s.core.v1.TopologySpreadConstraintArgs(
                    max_skew=1,
                    topology_key="kubernetes.io/hostname",
                    when_unsatisfiable="DoNotSchedule",
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                    # Only nodes the pod may run on are domains: without Honor, a tainted GPU or
                    # control-plane node counts as an empty one and holds the skew (a pod stays Pending).
                    node_taints_policy="Honor",
                    node_affinity_policy="Honor",
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
                    **gpu_pod_placement(k.gpu_type if gpu else None, k.gpu_product_suffix),
                    topology_spread_constraints=spread,
                    # SIGTERM comes after preStop; the server drains for timeout_s and is gone by
                    # timeout_s + its EXIT_MARGIN_S (3 s) whatever it waits on: inside this margin.
                    termination_grace_period_seconds=PRESTOP_SECONDS + sla.timeout_s + DRAIN_MARGIN_SECONDS,
                    security_context=security.restricted_pod(RUN_AS_UID),
                    init_containers=[fetch],
                    containers=[server],
                    volumes=volumes,
                ),
            ),
        )
