"""The queue of an async workload: a password-protected Redis, or an existing one, and KEDA's access to it.

`redisMode: deploy` (the default) gives each async workload its own Redis in its namespace: a
random password in a Secret (kept in Pulumi state, stable across runs), append-only persistence on
a volume so a restart loses no accepted message, a NetworkPolicy that admits only the workload's
pods and KEDA, and a TriggerAuthentication through which KEDA's redis-streams scaler reads the
stream's lag. `redisMode: existing` points at `redisAddress`, with the password from secret stack
config (`switchyard:redisPassword`) in a Secret the program creates in the workload's namespace
(that namespace is made by the same run, so nothing could be put there beforehand).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from stacks.k8s.security import restricted_container, restricted_pod
from stacks.k8s.settings import ClusterSettings, RedisMode
from stacks.k8s.vendor import REDIS_IMAGE, REDIS_UID

REDIS_PORT = 6379
PASSWORD_KEY = "password"


@dataclass
class QueueAccess:
    """What the server container and the ScaledObject need to reach the queue."""

    address: str  # host:port
    password_secret: str | None  # Secret in the workload's namespace, key `password`
    trigger_auth: str | None  # KEDA TriggerAuthentication name
    pod_selector: dict[str, str] | None  # the deployed Redis's pods (redisMode deploy)

    @property
    def url(self) -> str:
        return f"redis://{self.address}/0"

    def env(self) -> list[k8s.core.v1.EnvVarArgs]:
        env = [k8s.core.v1.EnvVarArgs(name="QUEUE_URL", value=self.url)]
        if self.password_secret:
            env.append(
                k8s.core.v1.EnvVarArgs(
                    name="REDIS_PASSWORD",
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=self.password_secret, key=PASSWORD_KEY)
                    ),
                )
            )
        return env


def queue_for(
    parent: pulumi.Resource,
    name: str,
    ns: str,
    settings: ClusterSettings,
    namespace: pulumi.Resource,
    workload_selector: dict[str, str],
    workload_labels: dict[str, str],
    keda: pulumi.Resource | None,
    password: object = None,
) -> QueueAccess:
    """The queue of workload `name` in namespace `ns`; `workload_labels` are its objects' labels."""
    ownership = {k: v for k, v in workload_labels.items() if k not in workload_selector}

    def meta(obj: str, labels: dict[str, str]) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=obj, namespace=ns, labels={**labels, **ownership})

    def opt(*depends: pulumi.Resource | None, keep: bool = False) -> pulumi.ResourceOptions:
        # keep: the queue's data and what serves it outlive the workload leaving the cluster (a move
        # to serverless, a removed profile): backlog, pending, dead letters and unfetched results
        # are drained by hand first (README, "Moving an async workload").
        return pulumi.ResourceOptions(
            parent=parent, depends_on=[d for d in depends if d is not None], retain_on_delete=keep or None
        )

    redis_name = f"{name}-redis"
    labels = {"app.kubernetes.io/name": redis_name, "app.kubernetes.io/managed-by": "switchyard"}
    if settings.redis_mode is RedisMode.existing:
        address, pods, secret_name, secret = settings.redis_address, None, None, None
        if password is not None:
            secret_name = redis_name
            secret = k8s.core.v1.Secret(
                f"{redis_name}-secret",
                metadata=meta(secret_name, labels),
                type="Opaque",
                string_data={PASSWORD_KEY: pulumi.Output.secret(password)},
                opts=opt(namespace),
            )
    else:
        secret_name, address, pods = redis_name, f"{redis_name}.{ns}.svc:{REDIS_PORT}", labels
        password = random.RandomPassword(
            f"{redis_name}-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=parent)
        )
        secret = k8s.core.v1.Secret(
            f"{redis_name}-secret",
            metadata=meta(secret_name, labels),
            type="Opaque",
            string_data={PASSWORD_KEY: password.result},
            opts=opt(namespace, keep=True),
        )
        _deploy(parent, redis_name, labels, workload_selector, settings, namespace, secret, meta, opt)
    trigger_auth = None
    if secret_name:
        trigger_auth = redis_name
        k8s.apiextensions.CustomResource(
            f"{redis_name}-triggerauthentication",
            api_version="keda.sh/v1alpha1",
            kind="TriggerAuthentication",
            metadata=meta(trigger_auth, labels),
            spec={"secretTargetRef": [{"parameter": "password", "name": secret_name, "key": PASSWORD_KEY}]},
            opts=opt(namespace, secret, keda),
        )
    return QueueAccess(address=address, password_secret=secret_name, trigger_auth=trigger_auth, pod_selector=pods)


def _deploy(parent, redis_name, labels, workload_selector, settings, namespace, secret, meta, opt) -> None:
    pvc = k8s.core.v1.PersistentVolumeClaim(
        f"{redis_name}-data",
        metadata=meta(f"{redis_name}-data", labels),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=settings.queue_storage_class or settings.model_storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": "2Gi"}),
        ),
        opts=opt(namespace, keep=True),
    )
    container = k8s.core.v1.ContainerArgs(
        name="redis",
        image=REDIS_IMAGE,
        # appendfsync everysec: at most a second of accepted messages at risk on a node crash;
        # a pod restart (SIGTERM) flushes everything.
        args=[
            "--requirepass",
            "$(REDIS_PASSWORD)",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--dir",
            "/data",
        ],
        env=[
            k8s.core.v1.EnvVarArgs(
                name="REDIS_PASSWORD",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=redis_name, key=PASSWORD_KEY)
                ),
            )
        ],
        ports=[k8s.core.v1.ContainerPortArgs(name="redis", container_port=REDIS_PORT, protocol="TCP")],
        readiness_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="redis"), period_seconds=5, timeout_seconds=2
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="redis"), period_seconds=10, failure_threshold=6
        ),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "100m", "memory": "256Mi"}, limits={"cpu": "1", "memory": "1Gi"}
        ),
        security_context=restricted_container(),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data")],
    )
    k8s.apps.v1.Deployment(
        f"{redis_name}-deployment",
        metadata=meta(redis_name, labels),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=1,
            # One writer on a ReadWriteOnce volume: the old pod stops before the new one starts.
            strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                spec=k8s.core.v1.PodSpecArgs(
                    automount_service_account_token=False,
                    termination_grace_period_seconds=30,
                    security_context=restricted_pod(REDIS_UID),
                    containers=[container],
                    volumes=[
                        k8s.core.v1.VolumeArgs(
                            name="data",
                            persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                                claim_name=f"{redis_name}-data"
                            ),
                        )
                    ],
                ),
            ),
        ),
        opts=opt(namespace, pvc, secret, keep=True),
    )
    k8s.core.v1.Service(
        f"{redis_name}-service",
        metadata=meta(redis_name, labels),
        spec=k8s.core.v1.ServiceSpecArgs(
            selector=labels,
            ports=[k8s.core.v1.ServicePortArgs(name="redis", port=REDIS_PORT, target_port="redis", protocol="TCP")],
        ),
        opts=opt(namespace, keep=True),
    )
    # Only the workload's pods and KEDA's operator (the redis-streams scaler) reach the queue.
    k8s.networking.v1.NetworkPolicy(
        f"{redis_name}-networkpolicy",
        metadata=meta(redis_name, labels),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=workload_selector)
                        ),
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"kubernetes.io/metadata.name": settings.keda_namespace}
                            )
                        ),
                    ],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=REDIS_PORT, protocol="TCP")],
                )
            ],
        ),
        opts=opt(namespace, keep=True),
    )
