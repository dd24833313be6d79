"""The queue of an async workload: a password-protected, bounded Redis, or an existing one, and KEDA's access to it.

`redisMode: deploy` (the default) gives each async workload its own Redis in its namespace: a
random password in a Secret (kept in Pulumi state, stable across runs), append-only persistence on
a volume so a restart loses no accepted message, a NetworkPolicy that admits only the workload's
pods and KEDA, a PodDisruptionBudget, and a TriggerAuthentication through which KEDA's
redis-streams scaler reads the stream. `redisMode: existing` points at `redisAddress`, with the
password from secret stack config (`switchyard:redisPassword`) in a Secret the program creates in
the workload's namespace (that namespace is made by the same run, so nothing could be put there
beforehand).

Bounds (the decision's QueueSizing, which the bill prices): `maxmemory` is the memory the sizing
computed (results for their TTL, a backlog at the peak rate, dead letters, base), with
`maxmemory-policy noeviction`. Eviction is never right here: `allkeys-*` may drop the stream
itself, and `volatile-*` drops results (the only keys with a TTL) before their caller has read
them, silently, while the backlog that filled the memory stays. With noeviction a full Redis
refuses new messages (the producer gets an error: backpressure it can see), everything accepted
stays, and the workers still finish the backlog (their completion script may run over the limit,
by one result per worker at most). The container's limit adds room for fragmentation and the AOF
rewrite's fork, so the kernel never OOM-kills it first.

The password is never on a command line (`ps`, the pod spec, the kubelet's logs): Redis reads it
from a config file in the Secret, mounted read-only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from stacks.k8s.mirrors import mirrored_image
from stacks.k8s.security import SHARED, restricted_container, restricted_pod
from stacks.k8s.settings import ClusterSettings, RedisMode
from stacks.k8s.vendor import REDIS_IMAGE, REDIS_UID
from stacks.targets.kubernetes.queue import QueueSizing

REDIS_PORT = 6379
PASSWORD_KEY = "password"
AUTH_CONF_KEY = "auth.conf"  # `requirepass <password>`: Redis reads it as its config file
AUTH_CONF_DIR = "/etc/redis-auth"
EVICTION_POLICY = "noeviction"


AUTH_HASH = "switchyard.dev/redis-auth"  # pod template annotation: a new password rolls the Redis


def auth_conf(password: str) -> str:
    return f"requirepass {password}\n"


def redis_args(q: QueueSizing) -> list[str]:
    """redis-server's arguments: the auth file first (the image's entrypoint runs redis-server on a
    .conf argument), then the bounds and persistence. No secret among them."""
    # appendfsync everysec: at most a second of accepted messages at risk on a node crash;
    # a pod restart (SIGTERM) flushes everything.
    return [
        f"{AUTH_CONF_DIR}/{AUTH_CONF_KEY}",
        "--maxmemory",
        f"{q.maxmemory_mb}mb",
        "--maxmemory-policy",
        EVICTION_POLICY,
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--dir",
        "/data",
    ]


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
    sizing: QueueSizing,
    password: object = None,
) -> QueueAccess:
    """The queue of workload `name` in namespace `ns`; `workload_labels` are its objects' labels."""
    ownership = {k: v for k, v in workload_labels.items() if k not in workload_selector}

    def meta(obj: str, labels: dict[str, str], kept: bool = False) -> k8s.meta.v1.ObjectMetaArgs:
        if kept:  # a Patch (KEPT): applied over what a destroy or a move off the cluster left
            return k8s.meta.v1.ObjectMetaPatchArgs(
                name=obj, namespace=ns, labels={**labels, **ownership}, annotations=SHARED
            )
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
        secret = k8s.core.v1.SecretPatch(
            f"{redis_name}-secret",
            metadata=meta(secret_name, labels, kept=True),
            type="Opaque",
            string_data={PASSWORD_KEY: password.result, AUTH_CONF_KEY: password.result.apply(auth_conf)},
            opts=opt(namespace, keep=True),
        )
        auth = password.result.apply(_auth_hash)
        _deploy(parent, redis_name, labels, workload_selector, settings, sizing, namespace, secret, meta, opt, auth)
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


def _auth_hash(password: str) -> pulumi.Output[str]:
    """What rolls the Redis pods when their password changes (Redis reads its auth file at start
    only): a stack that adopts a kept Redis generates a new one. Not a secret: it reveals nothing."""
    return pulumi.Output.unsecret(pulumi.Output.from_input(hashlib.sha256(password.encode()).hexdigest()[:16]))


# The queue's Secret, volume, Redis, Service and NetworkPolicy are kept when the workload leaves
# the cluster or the stack is destroyed (its backlog, dead letters and results are drained by
# hand). Kept objects are Server-Side Apply patches (security.SHARED): the same stack redeployed,
# or the workload moved back before the namespace was deleted, applies over them and serves what
# they still hold, where a plain object would fail with AlreadyExists (pulumi-kubernetes >= 4.29
# creates client-side). The namespace they live in is adopted only when it carries our label.
def _deploy(
    parent, redis_name, labels, workload_selector, settings, sizing, namespace, secret, meta, opt, auth
) -> None:
    pvc = k8s.core.v1.PersistentVolumeClaimPatch(
        f"{redis_name}-data",
        metadata=meta(f"{redis_name}-data", labels, kept=True),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=settings.queue_storage_class or settings.model_storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": f"{sizing.volume_gi}Gi"}),
        ),
        opts=opt(namespace, keep=True),
    )
    memory = f"{sizing.memory_limit_mb}Mi"
    container = k8s.core.v1.ContainerArgs(
        name="redis",
        image=mirrored_image(REDIS_IMAGE, settings),
        args=redis_args(sizing),
        ports=[k8s.core.v1.ContainerPortArgs(name="redis", container_port=REDIS_PORT, protocol="TCP")],
        readiness_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="redis"), period_seconds=5, timeout_seconds=2
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="redis"), period_seconds=10, failure_threshold=6
        ),
        # Memory request = limit: the node keeps what the sizing computed, and Redis is the last
        # pod the kubelet evicts under memory pressure.
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "100m", "memory": memory}, limits={"cpu": "1", "memory": memory}
        ),
        security_context=restricted_container(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data"),
            k8s.core.v1.VolumeMountArgs(name="auth", mount_path=AUTH_CONF_DIR, read_only=True),
        ],
    )
    k8s.apps.v1.DeploymentPatch(
        f"{redis_name}-deployment",
        metadata=meta(redis_name, labels, kept=True),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=1,
            # One writer on a ReadWriteOnce volume: the old pod stops before the new one starts.
            strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations={AUTH_HASH: auth}),
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
                        ),
                        k8s.core.v1.VolumeArgs(
                            name="auth",
                            secret=k8s.core.v1.SecretVolumeSourceArgs(
                                secret_name=redis_name,
                                items=[k8s.core.v1.KeyToPathArgs(key=AUTH_CONF_KEY, path=AUTH_CONF_KEY)],
                                default_mode=0o440,  # the redis group (fsGroup) reads it, nobody writes
                            ),
                        ),
                    ],
                ),
            ),
        ),
        opts=opt(namespace, pvc, secret, keep=True),
    )
    k8s.core.v1.ServicePatch(
        f"{redis_name}-service",
        metadata=meta(redis_name, labels, kept=True),
        spec=k8s.core.v1.ServiceSpecArgs(
            selector=labels,
            ports=[k8s.core.v1.ServicePortArgs(name="redis", port=REDIS_PORT, target_port="redis", protocol="TCP")],
        ),
        opts=opt(namespace, keep=True),
    )
    # One Redis on a ReadWriteOnce volume: a drain that evicts it stops the queue until it is back.
    # minAvailable 1 makes moving it a deliberate step (`kubectl delete pod` when the queue is
    # quiet: the AOF keeps every message); an unhealthy Redis never blocks a drain.
    k8s.policy.v1.PodDisruptionBudget(
        f"{redis_name}-pdb",
        metadata=meta(redis_name, labels),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            min_available=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            unhealthy_pod_eviction_policy="AlwaysAllow",
        ),
        opts=opt(namespace),
    )
    # Only the workload's pods, KEDA's operator (the redis-streams scaler) and the async callers of
    # clientNamespaces (they XADD requests and read results) reach the queue.
    k8s.networking.v1.NetworkPolicyPatch(
        f"{redis_name}-networkpolicy",
        metadata=meta(redis_name, labels, kept=True),
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
                        *[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": client}
                                )
                            )
                            for client in settings.client_namespaces
                        ],
                    ],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=REDIS_PORT, protocol="TCP")],
                )
            ],
        ),
        opts=opt(namespace, keep=True),
    )
