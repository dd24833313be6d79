"""Who may reach a workload, what it may reach, and the guard that keeps Switchyard off what it does not own."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from stacks.k8s.naming import MANAGED_BY, MANAGER, STACK_LABEL
from stacks.k8s.settings import ClusterSettings


def restricted_container() -> k8s.core.v1.SecurityContextArgs:
    """What Pod Security's `restricted` profile (enforced on every namespace we create) asks of a container."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    )


def restricted_pod(uid: int) -> k8s.core.v1.PodSecurityContextArgs:
    """The pod half of `restricted`: a fixed non-root UID/GID that also owns the volumes."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


NS_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
DNS_NAMESPACE = "kube-system"
REDIS_PORT = 6379

# A ValidatingAdmissionPolicy (GA in Kubernetes 1.30): the API server refuses any request that
# puts Switchyard's managed-by label on a namespace that did not already carry it. Creating a
# namespace is allowed; adopting an existing one (pulumi-kubernetes' upsert, a hand-written
# `kubectl apply`) is not, so a workload can never take over, and later delete, a namespace it
# did not create.
NEVER_ADOPT_POLICY = "switchyard-never-adopt"
_CLAIMS = f"has(object.metadata.labels) && '{MANAGED_BY}' in object.metadata.labels && object.metadata.labels['{MANAGED_BY}'] == '{MANAGER}'"
_WAS_OURS = f"has(oldObject.metadata.labels) && '{MANAGED_BY}' in oldObject.metadata.labels && oldObject.metadata.labels['{MANAGED_BY}'] == '{MANAGER}'"
_HAD_STACK = f"has(oldObject.metadata.labels) && '{STACK_LABEL}' in oldObject.metadata.labels"
_SAME_STACK = (
    f"has(object.metadata.labels) && '{STACK_LABEL}' in object.metadata.labels && "
    f"object.metadata.labels['{STACK_LABEL}'] == oldObject.metadata.labels['{STACK_LABEL}']"
)
# Refused: labelling an existing namespace ours, and moving a kept one (its queue) to another stack.
NEVER_ADOPT_EXPRESSION = (
    f"request.operation != 'UPDATE' || ((!({_CLAIMS}) || ({_WAS_OURS})) && (!({_HAD_STACK}) || ({_SAME_STACK})))"
)
NEVER_ADOPT_MESSAGE = (
    f"Switchyard never adopts a namespace it did not create (it lacks {MANAGED_BY}={MANAGER}) or another "
    f"stack's ({STACK_LABEL} differs: two stacks declare the workload; rename one). A workload's: "
    "rename the workload, or remove that namespace yourself. An add-on's (GPU Operator, KEDA) the cluster already "
    'runs: set installGpuOperator / installKeda to "false". One Switchyard installed whose label was removed by '
    f"hand: put it back (kubectl label namespace <name> {MANAGED_BY}={MANAGER}); never delete an add-on's namespace"
)


def _peer(namespace: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={NS_NAME_LABEL: namespace})
    )


def ingress_namespaces(settings: ClusterSettings) -> list[str]:
    """Namespaces whose pods may call a workload: Prometheus, KEDA (HTTP add-on), the edge, clients."""
    found = [settings.monitoring_namespace, settings.keda_namespace]
    if settings.expose == "gateway":
        found.append(settings.gateway_namespace)
    elif settings.expose == "ingress":
        found.append(settings.ingress_namespace)
    return list(dict.fromkeys([*found, *settings.client_namespaces]))


def network_policy_spec(
    selector: dict[str, str],
    port: int,
    settings: ClusterSettings,
    *,
    uses_queue: bool,
    queue_pods: dict[str, str] | None = None,
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    np = k8s.networking.v1

    def tcp(port: int) -> k8s.networking.v1.NetworkPolicyPortArgs:
        return np.NetworkPolicyPortArgs(port=port, protocol="TCP")

    # NetworkPolicy is enforced on the pod behind a Service: its port, not the URL's (RGW 80 -> 8080).
    weights_port, weights_peers = settings.weights_pod_port(), []
    if settings.weights_endpoint_url:
        host = (urlsplit(settings.weights_endpoint_url).hostname or "").split(".")
        if len(host) >= 3 and host[2] == "svc":  # an in-cluster store (MinIO, Ceph RGW): its namespace
            weights_peers.append(_peer(host[1]))
    egress = [
        # DNS, to the cluster's resolver only: CoreDNS pods, or NodeLocal DNSCache on the node's
        # link-local address (host network: no namespace selector matches it)
        np.NetworkPolicyEgressRuleArgs(
            to=[
                _peer(DNS_NAMESPACE),
                *(np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr=c)) for c in settings.dns_egress_cidrs),
            ],
            ports=[np.NetworkPolicyPortArgs(port=53, protocol="UDP"), tcp(53)],
        ),
        # the weights store (the init container); NetworkPolicy has no host names, so CIDRs
        np.NetworkPolicyEgressRuleArgs(
            to=[
                *weights_peers,
                *(np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr=c)) for c in settings.weights_egress_cidrs),
            ],
            ports=[tcp(weights_port)],
        ),
    ]
    if uses_queue and settings.queue_namespace:
        egress.append(np.NetworkPolicyEgressRuleArgs(to=[_peer(settings.queue_namespace)], ports=[tcp(REDIS_PORT)]))
    if uses_queue and queue_pods:  # the workload's own Redis (redisMode deploy), in its namespace
        egress.append(
            np.NetworkPolicyEgressRuleArgs(
                to=[np.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=queue_pods))],
                ports=[tcp(REDIS_PORT)],
            )
        )
    return np.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
        policy_types=["Ingress", "Egress"],
        # One port serves predictions and /metrics: the configured callers and the scraper.
        ingress=[
            np.NetworkPolicyIngressRuleArgs(
                from_=[*(_peer(ns) for ns in ingress_namespaces(settings)), *_gateway_proxies(settings)],
                ports=[tcp(port)],
            )
        ],
        egress=egress,
    )


# Install-once cluster objects (the guard, add-on namespaces and their ConfigMaps) are declared as
# Server-Side Apply patches, not plain objects: pulumi-kubernetes >= 4.29 creates plain objects
# client-side, so the second stack on a cluster, or a redeploy after `pulumi destroy` left them in
# place (retain_on_delete), failed with AlreadyExists. A patch applies whether or not the object
# exists; every stack applies the same content, and patchForce lets the newest Switchyard's
# version win over an older one's field manager. Add-on namespaces are only adopted when they
# already carry our managed-by label: the guard below refuses the label on any other namespace.
SHARED = {"pulumi.com/patchForce": "true"}


ENVOY_GATEWAY_OWNER = "gateway.envoyproxy.io/owning-gateway-name"
ENVOY_GATEWAY_OWNER_NS = "gateway.envoyproxy.io/owning-gateway-namespace"


def _gateway_proxies(settings: ClusterSettings) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    """Envoy Gateway runs a Gateway's proxies in its controller namespace by default, labelled with
    the Gateway they serve: those pods only (Gateway Namespace Mode: gatewayNamespace, already a peer)."""
    if settings.expose != "gateway" or settings.gateway_implementation != "envoy-gateway":
        return []
    return [
        k8s.networking.v1.NetworkPolicyPeerArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                match_labels={NS_NAME_LABEL: settings.envoy_gateway_namespace}
            ),
            pod_selector=k8s.meta.v1.LabelSelectorArgs(
                match_labels={
                    ENVOY_GATEWAY_OWNER: settings.gateway_name,
                    ENVOY_GATEWAY_OWNER_NS: settings.gateway_namespace,
                }
            ),
        )
    ]


def cilium_gateway_spec(selector: dict[str, str], port: int) -> dict[str, Any]:
    """Cilium's Gateway API data plane is its per-node Envoy, whose traffic reaches the pods as the
    reserved `ingress` identity, which no Kubernetes NetworkPolicy peer selects: a
    CiliumNetworkPolicy admits it (Cilium allows what either kind of policy allows)."""
    return {
        "endpointSelector": {"matchLabels": selector},
        "ingress": [{"fromEntities": ["ingress"], "toPorts": [{"ports": [{"port": str(port), "protocol": "TCP"}]}]}],
    }


def never_adopt_guard(opts: pulumi.ResourceOptions, labels: dict[str, str]) -> list[pulumi.Resource]:
    """The cluster-wide admission policy and its binding, shared by every stack on the cluster.

    Retained on delete: they guard every tenant, so one stack's destroy never removes them.
    """
    ar = k8s.admissionregistration.v1
    keep = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True))
    policy = ar.ValidatingAdmissionPolicyPatch(
        NEVER_ADOPT_POLICY,
        metadata=k8s.meta.v1.ObjectMetaPatchArgs(name=NEVER_ADOPT_POLICY, labels=labels, annotations=SHARED),
        spec=ar.ValidatingAdmissionPolicySpecPatchArgs(
            failure_policy="Fail",
            match_constraints=ar.MatchResourcesPatchArgs(
                resource_rules=[
                    ar.NamedRuleWithOperationsPatchArgs(
                        api_groups=[""], api_versions=["v1"], operations=["UPDATE"], resources=["namespaces"]
                    )
                ]
            ),
            validations=[ar.ValidationPatchArgs(expression=NEVER_ADOPT_EXPRESSION, message=NEVER_ADOPT_MESSAGE)],
        ),
        opts=keep,
    )
    binding = ar.ValidatingAdmissionPolicyBindingPatch(
        f"{NEVER_ADOPT_POLICY}-binding",
        metadata=k8s.meta.v1.ObjectMetaPatchArgs(name=NEVER_ADOPT_POLICY, labels=labels, annotations=SHARED),
        spec=ar.ValidatingAdmissionPolicyBindingSpecPatchArgs(
            policy_name=NEVER_ADOPT_POLICY, validation_actions=["Deny"]
        ),
        opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=[policy])),
    )
    return [policy, binding]


def secret_data(values: dict[str, Any]) -> dict[str, Any]:
    """string_data for a Secret, each value kept secret in Pulumi's state."""
    return {k: pulumi.Output.secret(v) for k, v in values.items() if v is not None}
