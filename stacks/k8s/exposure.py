"""Reaching a workload from outside the cluster: a Gateway API HTTPRoute or an Ingress, per workload."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.k8s.settings import ClusterSettings


def external_url(name: str, settings: ClusterSettings) -> str | None:
    return None if settings.expose == "none" else f"https://{name}.{settings.public_domain}"


def expose(
    name: str,
    namespace: str,
    labels: dict[str, str],
    settings: ClusterSettings,
    opts: pulumi.ResourceOptions,
) -> pulumi.Resource | None:
    host = f"{name}.{settings.public_domain}"
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
                    }
                ],
            },
            opts=opts,
        )
    if settings.expose == "ingress":
        net = k8s.networking.v1
        return net.Ingress(
            f"{name}-ingress",
            metadata=meta,
            spec=net.IngressSpecArgs(
                ingress_class_name=settings.ingress_class,
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
