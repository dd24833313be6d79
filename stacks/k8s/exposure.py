"""Reaching a workload from outside the cluster: a Gateway API HTTPRoute or an Ingress, per workload."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.k8s.settings import ClusterSettings


def serves_tls(settings: ClusterSettings) -> bool:
    """Whether the edge terminates TLS: the Gateway's listener (the platform team's), or an
    Ingress whose certificate cert-manager issues. The URL callers are given says which."""
    if settings.expose == "gateway":
        return settings.gateway_tls
    return settings.expose == "ingress" and settings.tls_cluster_issuer is not None


def external_url(name: str, settings: ClusterSettings) -> str | None:
    if settings.expose == "none":
        return None
    return f"{'https' if serves_tls(settings) else 'http'}://{name}.{settings.public_domain}"


EDGE_MARGIN_S = 5  # the edge waits a little longer than the server, whose own 504 then arrives first
MAX_BODY = "10m"  # the custom server's MAX_BODY_BYTES


def expose(
    name: str,
    namespace: str,
    labels: dict[str, str],
    settings: ClusterSettings,
    opts: pulumi.ResourceOptions,
    *,
    timeout_s: int,
) -> pulumi.Resource | None:
    """The edge route; it waits as long as a request may take (sla.timeout_s): ingress-nginx reads
    for 60 s by default and Envoy-based gateways time a route out after 15 s."""
    host = f"{name}.{settings.public_domain}"
    wait_s = timeout_s + EDGE_MARGIN_S
    meta = k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels)
    if settings.expose == "gateway":
        return k8s.apiextensions.CustomResource(
            f"{name}-httproute",
            api_version="gateway.networking.k8s.io/v1",
            kind="HTTPRoute",
            metadata=meta,
            spec={
                "parentRefs": [{"name": settings.gateway_name, "namespace": settings.gateway_namespace}],
                "hostnames": [host],
                "rules": [
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                        "backendRefs": [{"name": name, "port": 80}],
                        "timeouts": {"request": f"{wait_s}s"},
                    }
                ],
            },
            opts=opts,
        )
    if settings.expose == "ingress":
        net = k8s.networking.v1
        nginx = "nginx.ingress.kubernetes.io"
        return net.Ingress(
            f"{name}-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=namespace,
                labels=labels,
                annotations={
                    f"{nginx}/proxy-read-timeout": str(wait_s),
                    f"{nginx}/proxy-send-timeout": str(wait_s),
                    f"{nginx}/proxy-body-size": MAX_BODY,
                    # cert-manager's ingress-shim creates the Certificate for the tls section below.
                    **({"cert-manager.io/cluster-issuer": settings.tls_cluster_issuer} if serves_tls(settings) else {}),
                },
            ),
            spec=net.IngressSpecArgs(
                ingress_class_name=settings.ingress_class,
                tls=[net.IngressTLSArgs(hosts=[host], secret_name=f"{name}-tls")] if serves_tls(settings) else None,
                rules=[
                    net.IngressRuleArgs(
                        host=host,
                        http=net.HTTPIngressRuleValueArgs(
                            paths=[
                                net.HTTPIngressPathArgs(
                                    path="/",
                                    path_type="Prefix",
                                    backend=net.IngressBackendArgs(
                                        service=net.IngressServiceBackendArgs(
                                            name=name, port=net.ServiceBackendPortArgs(number=80)
                                        )
                                    ),
                                )
                            ]
                        ),
                    )
                ],
            ),
            opts=opts,
        )
    return None
