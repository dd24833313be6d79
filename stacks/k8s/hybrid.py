"""The hybrid target on the GPU cluster: the SQS worker, its AWS credentials, and KEDA's aws-sqs-queue scaler.

The queue, its dead-letter queue and the results bucket live on AWS (stacks/aws/hybrid.py); the
worker (templates/hybrid/sqs_worker.py) runs here as a Deployment that nothing calls: it pulls
messages and writes results, so it has no Service and no ingress but the scraper's.

Bare metal has no IRSA. Two IAM users, created by the CDK side, reach AWS with access keys that
the operator creates and sets as Pulumi secret config; each lands in a Secret of its own:

- the worker's (`<name>-aws-worker`): receive, delete and extend messages on the queue, read its
  attributes, put results under results/. The pods read it from their environment.
- the scaler's (`<name>-aws-scaler`): sqs:GetQueueAttributes only. A TriggerAuthentication hands it
  to KEDA (podIdentity none); no pod mounts it. KEDA reads a rotated key only after an error or
  a restart of its operator.

Scaling (KEDA's aws-sqs-queue scaler, pkg/scalers/aws_sqs_queue_scaler.go, v2.20.2):

- The metric is ApproximateNumberOfMessages plus, with `scaleOnInFlight` (on), the messages in
  flight: the work in the system, by Little's law. Without in-flight counts a backlog being worked
  reads 0 and the HPA would stop busy replicas (which hand their messages back, which scale them
  up again). `queueLength` is what one replica holds: its concurrency in flight plus the backlog
  it works off in QUEUE_DRAIN_TARGET_S. Delayed messages are not counted (`scaleOnDelayed` off):
  nothing can receive them yet.
- Activation (0 <-> 1) compares the same sum with `activationQueueLength`: 0. Any higher value
  strands that many messages at zero replicas until more arrive (or the retention deletes them).
  In-flight counts can wake a worker with nothing visible (a message held by a console poll, or
  released by a killed worker before its visibility timeout): that costs one pod start and a
  cooldown, and the message it waits for does come back.
- At zero KEDA polls every `pollingInterval` (30 s); SQS's counts lag by about a minute. A message
  arriving at zero waits up to wake_up_s() (poll + lag + pod start) before a worker starts: the
  decision allows zero replicas only when the cold-start budget covers it (minReplicaCount).
- `cooldownPeriod` (scale to zero after the last active reading) outlasts the counts' lag, so the
  last messages' stale in-flight count is not what keeps or drops the last replica.
- Fallback (the scaler's own credentials or SQS failing three times running): replicas never go
  below what runs (`currentReplicasIfHigher`, at least one once any runs). The backlog is unknown,
  and the workers use other credentials: they may well be working it. At zero KEDA does not act
  on a failing scaler; the queue's oldest-message alarm (AWS side) catches a wake-up that never comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from stacks.errors import SwitchyardError
from stacks.k8s import security
from stacks.k8s.mirrors import mirrored_image
from stacks.k8s.scaling import FALLBACK_FAILURES, METRICS_PATH, scrape_annotations
from stacks.k8s.security import DNS_NAMESPACE, NS_NAME_LABEL
from stacks.k8s.settings import CREDENTIALS_CONFIG, ClusterSecrets, ClusterSettings, MetricsDiscovery
from stacks.k8s.vendor import AWS_CLI_IMAGE
from stacks.k8s.weights_fetch import RUNTIME_CACHE, fetch_container
from stacks.k8s.workload import (
    STARTUP_PERIOD_SECONDS,
    WorkloadImage,
    deploy_timeout_s,
    gpu_pod_placement,
    startup_failure_threshold,
)
from stacks.packaging import HYBRID_POLL_WAIT_S, K8S_WEIGHTS_DIR, RUN_AS_UID, RUNTIME_CACHE_DIR
from stacks.targets.hybrid.keda import (  # noqa: F401  (tests and callers read them here too)
    KEDA_POLLING_S,
    SQS_COUNT_LAG_S,
    cooldown_s,
    messages_per_replica,
    wake_up_s,
)

EXIT_MARGIN_S = 5  # the worker exits within DRAIN_S (or one long poll) and about two seconds
TRIGGER_NAME = "sqs-queue"
HEALTH_PORT_NAME = "health"
WORKER_SECRET_SUFFIX = "-aws-worker"
SCALER_SECRET_SUFFIX = "-aws-scaler"
ACCESS_KEY_ENTRY = "AWS_ACCESS_KEY_ID"
SECRET_KEY_ENTRY = "AWS_SECRET_ACCESS_KEY"
# Pulumi secret config: {workload: {workerAccessKeyId, workerSecretAccessKey, scalerAccessKeyId, scalerSecretAccessKey}}
CREDENTIAL_FIELDS = ("workerAccessKeyId", "workerSecretAccessKey", "scalerAccessKeyId", "scalerSecretAccessKey")


@dataclass(frozen=True)
class HybridQueue:
    """Where the worker and the scaler find the AWS side: the CDK stack's outputs."""

    queue_url: str  # QueueUrl output
    region: str  # Region output
    results_bucket: str  # ResultsBucketName output
    results_prefix: str = "results/"
    endpoint_url: str | None = None  # an SQS/S3-compatible endpoint instead of AWS's (awsEndpoint for KEDA)

    @property
    def results_uri(self) -> str:
        return f"s3://{self.results_bucket}/{self.results_prefix}"


@dataclass(frozen=True)
class HybridCredentials:
    """Access keys of the two IAM users the CDK side creates (Pulumi secrets: Outputs under `pulumi up`)."""

    worker_access_key_id: Any
    worker_secret_access_key: Any
    scaler_access_key_id: Any
    scaler_secret_access_key: Any


@dataclass(frozen=True)
class HybridScaling:
    """The ScaledObject's figures, from the decision's sizing."""

    replicas_min: int  # 0 only when the cold-start budget covers wake_up_s()
    replicas_max: int
    queue_length: int  # messages (visible + in flight) per replica: messages_per_replica()
    polling_interval_s: int = KEDA_POLLING_S
    cooldown_s: int | None = None  # None: cooldown_s()
    activation_queue_length: int = 0  # see the module docstring before raising it

    def __post_init__(self) -> None:
        problems = []
        if self.replicas_min < 0 or self.replicas_max < max(1, self.replicas_min):
            problems.append(f"replicas {self.replicas_min}-{self.replicas_max}: need 0 <= min <= max, max >= 1")
        if self.queue_length < 1:
            problems.append(f"queue_length {self.queue_length}: at least 1 message per replica")
        if self.polling_interval_s < 1:
            problems.append(f"polling_interval_s {self.polling_interval_s}: at least 1")
        if self.activation_queue_length < 0:
            problems.append(f"activation_queue_length {self.activation_queue_length}: 0 or more")
        if problems:
            raise ValueError("invalid hybrid scaling: " + "; ".join(problems))


@dataclass(frozen=True)
class WorkerResources:
    """One replica, from the decision's Kubernetes sizing (the same fields KubernetesSizing has)."""

    cpu_millicores: int
    memory_mb: int
    pod_start_ms: float  # startup probe budget
    first_start_ms: float  # `pulumi up` waits this (a new weights version is copied first)
    model_cache_gi: int
    gpu_resource: str | None = None  # nvidia.com/gpu, or a MIG resource
    gpus_per_replica: int = 0
    gpu_type: str | None = None  # a key of vendor.GPU_PRODUCTS
    gpu_product_suffix: str = ""  # GFD's -SHARED / -MIG-<profile>
    rollout_max_surge: int | str = 0
    rollout_max_unavailable: int | str = 1
    pdb_max_unavailable: int | str = 1


def grace_period_s(drain_s: int) -> int:
    """SIGTERM: the worker stops polling (one long poll at most), finishes or hands back its messages
    within drain_s, and exits; the kubelet waits a little longer before SIGKILL."""
    return max(drain_s, HYBRID_POLL_WAIT_S) + EXIT_MARGIN_S


def trigger_metadata(queue: HybridQueue, scaling: HybridScaling) -> dict[str, str]:
    """The aws-sqs-queue trigger's metadata: every value a string, as KEDA's typed config parses them."""
    metadata = {
        "queueURL": queue.queue_url,
        "queueLength": str(scaling.queue_length),
        "activationQueueLength": str(scaling.activation_queue_length),
        "awsRegion": queue.region,
        "scaleOnInFlight": "true",
        "scaleOnDelayed": "false",
    }
    if queue.endpoint_url:
        metadata["awsEndpoint"] = queue.endpoint_url
    return metadata


def scaled_object_spec(name: str, queue: HybridQueue, scaling: HybridScaling, trigger_auth: str) -> dict[str, Any]:
    low, high = scaling.replicas_min, scaling.replicas_max
    return {
        "scaleTargetRef": {"name": name},
        "minReplicaCount": low,
        "maxReplicaCount": high,
        "pollingInterval": scaling.polling_interval_s,
        "cooldownPeriod": scaling.cooldown_s or cooldown_s(scaling.polling_interval_s),
        "fallback": {
            "failureThreshold": FALLBACK_FAILURES,
            "replicas": max(1, low),
            "behavior": "currentReplicasIfHigher",
        },
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {
                    # Up at once; down slowly: a replica stopped mid-message hands it back (a receive spent).
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
        "triggers": [
            {
                "type": "aws-sqs-queue",
                "name": TRIGGER_NAME,
                "metricType": "AverageValue",  # messages per replica; the fallback needs AverageValue
                "authenticationRef": {"name": trigger_auth},
                "metadata": trigger_metadata(queue, scaling),
            }
        ],
    }


def trigger_authentication_spec(secret_name: str) -> dict[str, Any]:
    """Static keys from the scaler's Secret; `podIdentity: none` so KEDA never tries a cloud identity."""
    return {
        "podIdentity": {"provider": "none"},
        "secretTargetRef": [
            {"parameter": "awsAccessKeyID", "name": secret_name, "key": ACCESS_KEY_ENTRY},
            {"parameter": "awsSecretAccessKey", "name": secret_name, "key": SECRET_KEY_ENTRY},
        ],
    }


def credentials_from_config(config: Any, workload: str) -> HybridCredentials:
    """The workload's four keys from secret stack config `switchyard:hybridCredentials.<workload>.*`.

    A review render from the stack file cannot decrypt them: placeholders show where they go.
    """
    if not getattr(config, "readable_secrets", True):
        return HybridCredentials(
            *(f"<secret switchyard:{CREDENTIALS_CONFIG}.{workload}.{f}>" for f in CREDENTIAL_FIELDS)
        )
    found = (config.get_object(CREDENTIALS_CONFIG) or {}).get(workload)
    missing = [f for f in CREDENTIAL_FIELDS if not isinstance(found, dict) or not str(found.get(f) or "").strip()]
    if missing:
        raise SwitchyardError(
            f"stack config switchyard:{CREDENTIALS_CONFIG}.{workload}: missing or empty {', '.join(missing)}\n"
            f"    allowed: the access keys of the IAM users the workload's CDK stack outputs (WorkerUserName, "
            "ScalerUserName), created with `aws iam create-access-key --user-name <user>`\n"
            f"    hint: pulumi config set --secret --path 'switchyard:{CREDENTIALS_CONFIG}.{workload}.{missing[0]}' <value>"
        )
    return HybridCredentials(*(pulumi.Output.secret(found[f]) for f in CREDENTIAL_FIELDS))


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "switchyard"}


def _peer(namespace: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={NS_NAME_LABEL: namespace})
    )


def _endpoint_port(url: str | None) -> int:
    if not url:
        return 443
    parts = urlsplit(url)
    return parts.port or (80 if parts.scheme == "http" else 443)


def network_policy_spec(
    selector: dict[str, str],
    health_port: int,
    queue: HybridQueue,
    settings: ClusterSettings,
    aws_egress_cidrs: list[str],
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """In: the scraper only, on the probe/metrics port. Out: DNS, the weights store, SQS and S3."""
    np = k8s.networking.v1

    def tcp(port: int) -> k8s.networking.v1.NetworkPolicyPortArgs:
        return np.NetworkPolicyPortArgs(port=port, protocol="TCP")

    def cidrs(blocks: list[str]) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
        return [np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr=c)) for c in blocks]

    return np.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
        policy_types=["Ingress", "Egress"],
        ingress=[
            np.NetworkPolicyIngressRuleArgs(from_=[_peer(settings.monitoring_namespace)], ports=[tcp(health_port)])
        ],
        egress=[
            np.NetworkPolicyEgressRuleArgs(
                to=[_peer(DNS_NAMESPACE), *cidrs(settings.dns_egress_cidrs)],
                ports=[np.NetworkPolicyPortArgs(port=53, protocol="UDP"), tcp(53)],
            ),
            np.NetworkPolicyEgressRuleArgs(
                to=cidrs(settings.weights_egress_cidrs), ports=[tcp(settings.weights_pod_port())]
            ),
            # SQS and S3 have no fixed addresses (AWS publishes ranges per region): CIDRs, narrowed by the caller.
            np.NetworkPolicyEgressRuleArgs(to=cidrs(aws_egress_cidrs), ports=[tcp(_endpoint_port(queue.endpoint_url))]),
        ],
    )


def worker_env(name: str, image: WorkloadImage, queue: HybridQueue) -> list[k8s.core.v1.EnvVarArgs]:
    env = k8s.core.v1.EnvVarArgs

    def secret(entry: str) -> k8s.core.v1.EnvVarSourceArgs:
        return k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=f"{name}{WORKER_SECRET_SUFFIX}", key=entry)
        )

    found = [
        env(name="WEIGHTS_DIR", value=f"{K8S_WEIGHTS_DIR}/{image.weights_version}"),
        env(name="QUEUE_URL", value=queue.queue_url),
        env(name="RESULTS_URI", value=queue.results_uri),
        env(name="AWS_REGION", value=queue.region),
        env(name="AWS_DEFAULT_REGION", value=queue.region),
        env(name=ACCESS_KEY_ENTRY, value_from=secret(ACCESS_KEY_ENTRY)),
        env(name=SECRET_KEY_ENTRY, value_from=secret(SECRET_KEY_ENTRY)),
        # Bare metal: no instance metadata service to ask for credentials (boto3 would wait on it).
        env(name="AWS_EC2_METADATA_DISABLED", value="true"),
    ]
    if queue.endpoint_url:
        found.append(env(name="AWS_ENDPOINT_URL", value=queue.endpoint_url))
    return found


class HybridWorker(pulumi.ComponentResource):
    """The hybrid target's objects for one workload, in a namespace of its own.

    Namespace (Pod Security restricted), ServiceAccount, the worker's and the scaler's AWS Secrets,
    optional weights-store credentials, the model cache claim, the worker Deployment (GPU placement,
    restricted security contexts, the weights init container, probes on the health port), a PDB, a
    NetworkPolicy, a PodMonitor (or scrape annotations), the TriggerAuthentication and the
    aws-sqs-queue ScaledObject.

    name: the workload (objects and the Deployment are named after it)
    image: the pushed worker image (packaging.hybrid_worker_spec) and the weights it loads
    resources: one replica's sizing; scaling: the ScaledObject's figures; queue: the CDK outputs
    credentials: the two IAM users' keys (credentials_from_config); cluster_secrets: weights store keys
    aws_egress_cidrs: where SQS and S3 may be reached (narrow to the region's published ranges)
    """

    def __init__(
        self,
        name: str,
        *,
        image: WorkloadImage,
        resources: WorkerResources,
        scaling: HybridScaling,
        queue: HybridQueue,
        credentials: HybridCredentials,
        settings: ClusterSettings,
        namespace: str,
        ownership: dict[str, str],
        cluster_secrets: ClusterSecrets | None = None,
        aws_egress_cidrs: list[str] | None = None,
        keda: pulumi.Resource | None = None,
        gpu_operator: pulumi.Resource | None = None,
        guard: list[pulumi.Resource] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchyard:k8s:HybridWorker", name, None, opts)
        self.queue = queue
        selector = _labels(name)
        labels = {**selector, **ownership}
        cluster_secrets = cluster_secrets or ClusterSecrets()

        def opt(*depends: pulumi.Resource | None) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=[d for d in depends if d is not None])

        def meta(obj_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=obj_name, namespace=namespace, labels=labels)

        restricted = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "audit", "warn")}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace, labels={**labels, **restricted}),
            opts=opt(*(guard or [])),
        )
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount",
            metadata=meta(name),
            automount_service_account_token=False,
            opts=opt(self.namespace),
        )

        def aws_secret(suffix: str, key_id: Any, secret_key: Any) -> k8s.core.v1.Secret:
            return k8s.core.v1.Secret(
                f"{name}{suffix}",
                metadata=meta(f"{name}{suffix}"),
                type="Opaque",
                string_data=security.secret_data({ACCESS_KEY_ENTRY: key_id, SECRET_KEY_ENTRY: secret_key}),
                opts=opt(self.namespace),
            )

        self.worker_secret = aws_secret(
            WORKER_SECRET_SUFFIX, credentials.worker_access_key_id, credentials.worker_secret_access_key
        )
        self.scaler_secret = aws_secret(
            SCALER_SECRET_SUFFIX, credentials.scaler_access_key_id, credentials.scaler_secret_access_key
        )
        self.weights_credentials = None
        if cluster_secrets.weights_access_key_id is not None:
            self.weights_credentials = aws_secret(
                "-weights-credentials", cluster_secrets.weights_access_key_id, cluster_secrets.weights_secret_access_key
            )
        self.cache = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-model-cache",
            metadata=meta(f"{name}-model-cache"),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteMany"],
                storage_class_name=settings.model_storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                    requests={"storage": f"{resources.model_cache_gi}Gi"}
                ),
            ),
            opts=opt(self.namespace),
        )
        timeout = f"{deploy_timeout_s(resources.first_start_ms)}s"
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(name),
            spec=self._deployment_spec(name, image, resources, scaling, queue, settings, selector),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    d
                    for d in (self.namespace, self.cache, self.worker_secret, self.weights_credentials, gpu_operator)
                    if d is not None
                ],
                ignore_changes=["spec.replicas"],  # KEDA's HPA owns the count once the worker runs
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout),
            ),
        )
        self.disruption_budget = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(name),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=resources.pdb_max_unavailable,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            ),
            opts=opt(self.namespace),
        )
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-networkpolicy",
            metadata=meta(name),
            spec=network_policy_spec(
                selector, image.spec.health_port, queue, settings, aws_egress_cidrs or ["0.0.0.0/0"]
            ),
            opts=opt(self.namespace),
        )
        if settings.metrics_discovery is MetricsDiscovery.pod_monitor:
            k8s.apiextensions.CustomResource(
                f"{name}-podmonitor",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=name, namespace=namespace, labels={**labels, **settings.pod_monitor_labels}
                ),
                spec={
                    "selector": {"matchLabels": selector},
                    "podMetricsEndpoints": [
                        {"port": HEALTH_PORT_NAME, "path": METRICS_PATH, "interval": f"{settings.scrape_interval_s}s"}
                    ],
                },
                opts=opt(self.namespace),
            )
        self.trigger_auth = k8s.apiextensions.CustomResource(
            f"{name}-triggerauthentication",
            api_version="keda.sh/v1alpha1",
            kind="TriggerAuthentication",
            metadata=meta(f"{name}-sqs"),
            spec=trigger_authentication_spec(f"{name}{SCALER_SECRET_SUFFIX}"),
            opts=opt(self.scaler_secret, keda),
        )
        self.scaled_object = k8s.apiextensions.CustomResource(
            f"{name}-scaledobject",
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata=meta(name),
            spec=scaled_object_spec(name, queue, scaling, f"{name}-sqs"),
            opts=opt(self.deployment, self.trigger_auth, keda),
        )
        self.register_outputs({"namespace": self.namespace.metadata.name})

    def _deployment_spec(
        self,
        name: str,
        image: WorkloadImage,
        r: WorkerResources,
        scaling: HybridScaling,
        queue: HybridQueue,
        settings: ClusterSettings,
        selector: dict[str, str],
    ) -> k8s.apps.v1.DeploymentSpecArgs:
        spec = image.spec
        no_privilege = security.restricted_container()
        limits = {"cpu": f"{r.cpu_millicores}m", "memory": f"{r.memory_mb}Mi"}
        if r.gpu_resource:
            limits[r.gpu_resource] = str(r.gpus_per_replica)
        probe = k8s.core.v1.HTTPGetActionArgs
        worker = k8s.core.v1.ContainerArgs(
            name="worker",
            image=image.reference,
            image_pull_policy="IfNotPresent",
            ports=[
                k8s.core.v1.ContainerPortArgs(name=HEALTH_PORT_NAME, container_port=spec.health_port, protocol="TCP")
            ],
            env=worker_env(name, image, queue),
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": f"{r.cpu_millicores}m", "memory": f"{r.memory_mb}Mi"}, limits=limits
            ),
            # Ready once the model is loaded and the queue answered; not while SQS or the bucket fail,
            # nor while every slot is lost to a prediction past its timeout (a rollout waits on it).
            startup_probe=k8s.core.v1.ProbeArgs(
                http_get=probe(path="/readyz", port=HEALTH_PORT_NAME),
                period_seconds=STARTUP_PERIOD_SECONDS,
                failure_threshold=startup_failure_threshold(r.pod_start_ms),
                timeout_seconds=2,
            ),
            readiness_probe=k8s.core.v1.ProbeArgs(
                http_get=probe(path="/readyz", port=HEALTH_PORT_NAME),
                period_seconds=10,
                timeout_seconds=2,
                failure_threshold=3,
            ),
            # The polling loop turns; a stuck prediction makes the worker exit by itself.
            liveness_probe=k8s.core.v1.ProbeArgs(
                http_get=probe(path="/healthz", port=HEALTH_PORT_NAME),
                period_seconds=15,
                timeout_seconds=3,
                failure_threshold=4,
            ),
            security_context=no_privilege,
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="model-cache", mount_path=K8S_WEIGHTS_DIR, read_only=True),
                k8s.core.v1.VolumeMountArgs(name="model-cache", mount_path=RUNTIME_CACHE_DIR, sub_path=RUNTIME_CACHE),
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            ],
        )
        fetch = fetch_container(
            source=image.weights_source,
            version=image.weights_version,
            credentials_secret=f"{name}-weights-credentials" if self.weights_credentials is not None else None,
            endpoint_url=settings.weights_endpoint_url,
            region=settings.weights_region,
            security_context=no_privilege,
            image=mirrored_image(AWS_CLI_IMAGE, settings),
        )
        return k8s.apps.v1.DeploymentSpecArgs(
            # One at first, so `pulumi up` proves the image, keys and queue work; KEDA then owns the count.
            replicas=max(1, scaling.replicas_min),
            # The selector is immutable and a pod label change rolls every worker: both carry only the
            # workload's name, never the plan revision or the profile's path (the objects' labels do).
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                    max_surge=r.rollout_max_surge, max_unavailable=r.rollout_max_unavailable
                ),
            ),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels=selector, annotations=scrape_annotations(spec.health_port, settings) or None
                ),
                spec=k8s.core.v1.PodSpecArgs(
                    service_account_name=name,
                    automount_service_account_token=False,
                    termination_grace_period_seconds=grace_period_s(spec.drain_s),
                    security_context=security.restricted_pod(RUN_AS_UID),
                    init_containers=[fetch],
                    containers=[worker],
                    volumes=[
                        k8s.core.v1.VolumeArgs(
                            name="model-cache",
                            persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                                claim_name=f"{name}-model-cache"
                            ),
                        ),
                        k8s.core.v1.VolumeArgs(
                            name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")
                        ),
                    ],
                    **gpu_pod_placement(r.gpu_type, r.gpu_product_suffix),
                ),
            ),
        )
