"""The workload's NetworkPolicy evaluated the way a CNI enforces it: what a pod may reach and who may reach it."""

from __future__ import annotations

import ipaddress

import pytest

from stacks.k8s.settings import ClusterSettings
from tests.k8s_helpers import find, manifests
from tests.runtime_helpers import slow_profile

pytestmark = pytest.mark.timeout(120)
NS_LABEL = "kubernetes.io/metadata.name"


def _selects(selector: dict | None, labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (selector or {}).get("matchLabels", {}).items())


def _peer_matches(peer: dict, policy_ns: str, dest: dict) -> bool:
    if "ipBlock" in peer:
        if dest.get("ip") is None:
            return False
        ip = ipaddress.ip_address(dest["ip"])
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if dest.get("namespace") is None:  # an address with no pod behind it (host network, outside)
        return False
    if "namespaceSelector" in peer:
        ns_ok = _selects(peer["namespaceSelector"], {NS_LABEL: dest["namespace"]})
    else:
        ns_ok = dest["namespace"] == policy_ns
    return ns_ok and _selects(peer.get("podSelector"), dest.get("labels", {}))


def _port_matches(ports: list[dict] | None, port: int, protocol: str) -> bool:
    return not ports or any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports)


def egress_allowed(policy: dict, dest: dict, port: int, protocol: str = "TCP") -> bool:
    ns = policy["metadata"]["namespace"]
    return any(
        (not rule.get("to") or any(_peer_matches(p, ns, dest) for p in rule["to"]))
        and _port_matches(rule.get("ports"), port, protocol)
        for rule in policy["spec"].get("egress", [])
    )


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("netpol")
    profile = slow_profile(tmp / "profiles", {"name: slow-model\n": "name: slow-model\ntarget: kubernetes\n"})
    docs = manifests(profile.parent, tmp / "build", ClusterSettings(model_storage_class="cephfs"))["slow-model"]
    return find(docs, "NetworkPolicy", "slow-model")


@pytest.mark.parametrize(
    "where",
    [
        {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}, "ip": "10.244.1.5"},  # CoreDNS pods
        {"ip": "169.254.20.10"},  # NodeLocal DNSCache (upstream default), host network on every node
        {"ip": "169.254.25.10"},  # NodeLocal DNSCache as kubespray (bare metal) deploys it by default
    ],
)
def test_pods_resolve_names_through_the_clusters_dns(policy, where):
    for protocol in ("UDP", "TCP"):
        assert egress_allowed(policy, where, 53, protocol), (where, protocol)


def test_dns_egress_opens_nothing_else(policy):
    assert not egress_allowed(policy, {"ip": "169.254.169.254"}, 80)  # instance metadata
    assert not egress_allowed(policy, {"namespace": "other", "labels": {}, "ip": "10.244.2.2"}, 53, "UDP")


@pytest.mark.parametrize("key", ["weightsEgressCidrs", "dnsEgressCidrs"])
def test_an_address_range_the_api_server_would_refuse_stops_the_program_before_it_creates_anything(key):
    """Caught when the stack config is read, not half-way through `pulumi up` when the API server
    refuses the NetworkPolicy after the namespace and the Deployment exist."""
    from stacks.errors import SwitchyardError
    from stacks.k8s.settings import from_pulumi_config

    class Config:
        def get(self, k):
            return ["10.0.0.0/8", "10.1.0.0/33"] if k == key else None

        get_bool = get_object = get

    with pytest.raises(SwitchyardError, match=rf"switchyard:{key}: .*'10.1.0.0/33' is not an IPv4 or IPv6 CIDR"):
        from_pulumi_config(Config())


@pytest.mark.parametrize("expose", ["gateway", "ingress"])
def test_the_edge_waits_as_long_as_the_workload_may_take_and_passes_bodies_the_server_accepts(tmp_path, expose):
    """A request the server would answer within sla.timeout_s must not be cut at the edge first
    (ingress-nginx reads for 60 s by default, Envoy routes time out after 15 s), and a body the
    server accepts (10 MB) must not be refused there (ingress-nginx: 1 MB)."""
    profile = slow_profile(
        tmp_path / "profiles",
        {"name: slow-model\n": "name: slow-model\ntarget: kubernetes\n", "timeout_s: 30": "timeout_s: 120"},
    )
    settings = ClusterSettings(model_storage_class="cephfs", expose=expose)
    docs = manifests(profile.parent, tmp_path / "build", settings)["slow-model"]
    if expose == "gateway":
        (rule,) = find(docs, "HTTPRoute")["spec"]["rules"]
        request = rule["timeouts"]["request"]
        assert request.endswith("s") and int(request[:-1]) > 120
    else:
        notes = find(docs, "Ingress")["metadata"]["annotations"]
        for key in ("proxy-read-timeout", "proxy-send-timeout"):
            assert int(notes[f"nginx.ingress.kubernetes.io/{key}"]) > 120
        assert notes["nginx.ingress.kubernetes.io/proxy-body-size"] == "10m"


@pytest.mark.parametrize(
    "registry", ["https://registry.local:5000/switchyard", "Registry.Local/Team", "registry.local:5000/", "reg istry"]
)
def test_an_image_registry_no_node_could_pull_from_is_refused_when_the_stack_config_is_read(registry):
    """Else every pod sits in InvalidImageName while `pulumi up` waits out its rollout timeout."""
    from stacks.errors import SwitchyardError
    from stacks.k8s.settings import from_pulumi_config

    class Config:
        def get(self, k):
            return registry if k == "imageRegistry" else None

        get_bool = get_object = get

    with pytest.raises(SwitchyardError, match=r"switchyard:imageRegistry: .*host\[:port\]/path"):
        from_pulumi_config(Config())


def test_registries_nodes_pull_from_are_accepted():
    for registry in ("registry.local:5000/switchyard", "ghcr.io/acme/ml", "10.0.0.5:5000", "Harbor.Corp.Example/ml"):
        assert ClusterSettings(image_registry=registry).image_registry == registry


def ingress_allowed(policy: dict, src: dict, port: int, protocol: str = "TCP") -> bool:
    ns = policy["metadata"]["namespace"]
    return any(
        (not rule.get("from") or any(_peer_matches(p, ns, src) for p in rule["from"]))
        and _port_matches(rule.get("ports"), port, protocol)
        for rule in policy["spec"].get("ingress", [])
    )


def _docs(tmp_path, **settings) -> list[dict]:
    profile = slow_profile(tmp_path / "profiles", {"name: slow-model\n": "name: slow-model\ntarget: kubernetes\n"})
    cluster = ClusterSettings(model_storage_class="cephfs", **settings)
    return manifests(profile.parent, tmp_path / "build", cluster)["slow-model"]


RGW = {"namespace": "rook-ceph", "labels": {"app": "rook-ceph-rgw"}, "ip": "10.244.3.7"}


def test_an_in_cluster_weights_store_is_reached_on_its_pods_port_not_its_services(tmp_path):
    """Rook's RGW Service listens on 80 and forwards to the RGW pods' 8080; policy sees the pod port."""
    policy = find(
        _docs(tmp_path, weights_endpoint_url="http://rook-ceph-rgw-store.rook-ceph.svc"), "NetworkPolicy", "slow-model"
    )
    assert egress_allowed(policy, RGW, 8080)
    assert not egress_allowed(policy, {"namespace": "rook-ceph", "labels": {}, "ip": "10.244.3.7"}, 6379)


def test_the_weights_stores_pod_port_can_be_named(tmp_path):
    docs = _docs(
        tmp_path, weights_endpoint_url="http://rook-ceph-rgw-store.rook-ceph.svc", weights_endpoint_pod_port=7480
    )
    policy = find(docs, "NetworkPolicy", "slow-model")
    assert egress_allowed(policy, RGW, 7480) and not egress_allowed(policy, RGW, 8080)
    minio = find(
        _docs(tmp_path / "m", weights_endpoint_url="http://minio.storage.svc:9000"), "NetworkPolicy", "slow-model"
    )
    assert egress_allowed(minio, {"namespace": "storage", "labels": {}, "ip": "10.244.3.8"}, 9000)


ENVOY = {
    "namespace": "envoy-gateway-system",
    "labels": {
        "app.kubernetes.io/managed-by": "envoy-gateway",
        "gateway.envoyproxy.io/owning-gateway-name": "switchyard",
        "gateway.envoyproxy.io/owning-gateway-namespace": "gateway",
    },
}


def test_envoy_gateways_proxies_reach_the_pods_and_other_gateways_proxies_do_not(tmp_path):
    docs = _docs(tmp_path, expose="gateway", gateway_implementation="envoy-gateway")
    policy, port = find(docs, "NetworkPolicy", "slow-model"), 8080  # the server container's port
    assert ingress_allowed(policy, ENVOY, port)
    other = {**ENVOY, "labels": {**ENVOY["labels"], "gateway.envoyproxy.io/owning-gateway-name": "other"}}
    assert not ingress_allowed(policy, other, port)
    # Gateway Namespace Mode: the proxies run in the Gateway's own namespace
    assert ingress_allowed(policy, {"namespace": "gateway", "labels": ENVOY["labels"]}, port)
    generic = find(_docs(tmp_path / "g", expose="gateway"), "NetworkPolicy", "slow-model")
    assert not ingress_allowed(generic, ENVOY, port)  # not unless the stack says Envoy Gateway runs it


def test_ciliums_gateway_data_plane_is_admitted_by_its_own_policy_kind(tmp_path):
    """Cilium's Envoy reaches backends as the reserved `ingress` identity: no NetworkPolicy peer matches it."""
    docs = _docs(tmp_path, expose="gateway", gateway_implementation="cilium")
    deployment = find(docs, "Deployment", "slow-model")
    cnp = find(docs, "CiliumNetworkPolicy")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels.get(k) == v for k, v in cnp["spec"]["endpointSelector"]["matchLabels"].items())
    server = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "server")
    assert cnp["spec"]["ingress"] == [
        {
            "fromEntities": ["ingress"],
            "toPorts": [{"ports": [{"port": str(server["ports"][0]["containerPort"]), "protocol": "TCP"}]}],
        }
    ]
