"""The kubernetes target: the Pulumi program run under mocks, its objects checked and validated."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pulumi
import pytest
import yaml
from syrupy.extensions.json import JSONSnapshotExtension

from stacks.errors import SwitchyardError
from stacks.k8s import mocks
from stacks.k8s.naming import MANAGED_BY, PLAN_LABEL, PROFILE_LABEL, WORKLOAD_LABEL
from stacks.k8s.settings import ClusterSettings, from_pulumi_config
from stacks.k8s.vendor import GPU_OPERATOR, KEDA
from stacks.k8s.weights_fetch import FETCH_SCRIPT
from stacks.k8s.workload import deploy_timeout_s, startup_failure_threshold
from stacks.profile import Target
from stacks.profile.loader import load_profile
from stacks.targets import decide
from tests.conftest import PROFILES, ROOT, UPSTREAM, copy_profiles
from tests.k8s_helpers import CLUSTER, find, manifests, normalised, write_platform

pytestmark = pytest.mark.timeout(120)  # a stuck Output must fail the test, not hang CI
KUBERNETES = ["fraud-scoring", "llm-chat"]
MIN_VERSION = "1.30"  # ClusterSettings.min_kubernetes_version
KEY = "0123456789abcdef0123456789abcdef-stack"  # a stack key long enough (api_keys.MIN_CHARS)
K8S_VERSIONS = ["1.30", "1.31", "1.32", "1.33", "1.34"]
NS = {name: f"ml-{name}" for name in KUBERNETES}  # platform k8s_namespace_prefix "ml-"


@pytest.fixture(scope="session")
def objects(kubernetes_objects):
    return kubernetes_objects


def decision(name: str):
    return decide(load_profile(PROFILES / f"{name}.yaml")).decision


def server(docs):
    spec = find(docs, "Deployment")["spec"]["template"]["spec"]
    return spec, next(c for c in spec["containers"] if c["name"] == "server")


def test_program_holds_exactly_the_kubernetes_workloads_and_addons(objects):
    assert set(objects) == {"cluster-addons", *KUBERNETES}
    for name in KUBERNETES:
        kinds = sorted(d["kind"] for d in objects[name])
        assert kinds == sorted(
            [
                "Namespace",
                "Secret",
                "ServiceAccount",
                "PersistentVolumeClaim",
                "Deployment",
                "Service",
                "PodDisruptionBudget",
                "NetworkPolicy",
                "PodMonitor",
                "ScaledObject",
            ]
        )
        assert all(d["metadata"].get("namespace", d["metadata"]["name"]) == NS[name] for d in objects[name])


@pytest.mark.parametrize("name", KUBERNETES)
def test_namespace_is_restricted_and_identity_has_no_token(objects, name):
    ns = find(objects[name], "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert find(objects[name], "ServiceAccount")["automountServiceAccountToken"] is False
    spec, _ = server(objects[name])
    assert spec["serviceAccountName"] == name and spec["automountServiceAccountToken"] is False


def _gpu_placement(docs):
    spec, c = server(docs)
    term = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    (expr,) = term["matchExpressions"]
    return spec, c, expr


def test_gpu_workload_is_placed_on_the_right_gpus(objects):
    spec, c, expr = _gpu_placement(objects["llm-chat"])
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert spec["runtimeClassName"] == "nvidia"
    assert expr == {
        "key": "nvidia.com/gpu.product",
        "operator": "In",
        "values": ["NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"],
    }
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]


# The nvidia.com/gpu.product values GPU Feature Discovery gives an A100 80GB SXM node in each mode
# (GFD README, "Shared GPUs" / "MIG strategy single"), the resource the node advertises, and the
# vLLM memory fraction a replica may take there.
GFD = {
    "none": ("NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu", "0.90"),
    "time-slicing": ("NVIDIA-A100-SXM4-80GB-SHARED", "nvidia.com/gpu", "0.24"),  # 19.2 GB of a 20 GB share
    "mig": ("NVIDIA-A100-SXM4-80GB-MIG-1g.20gb", "nvidia.com/gpu", "0.90"),
}


@pytest.mark.parametrize("mode", list(GFD))
def test_gpu_affinity_matches_the_labels_gfd_gives_in_each_sharing_mode(tmp_path, mode):
    profiles = write_platform(copy_profiles(tmp_path), f"platform:\n  gpu_sharing: {mode}\n")
    objects = manifests(profiles, tmp_path / "build")
    _spec, c, expr = _gpu_placement(objects["llm-chat"])
    node_label, resource, utilization = GFD[mode]
    assert node_label in expr["values"]  # the pod schedules onto that node
    assert all(v.startswith("NVIDIA-") for v in expr["values"])
    assert c["resources"]["limits"][resource] == "1"
    assert c["args"][c["args"].index("--gpu-memory-utilization") + 1] == utilization
    w = load_all_one(profiles, "llm-chat")
    assert w.decision.option(Target.kubernetes).sizing.gpu_sharing == mode


def test_mig_mixed_strategy_requests_the_profile_resource_on_unrenamed_nodes(tmp_path):
    profiles = write_platform(copy_profiles(tmp_path), "platform:\n  gpu_sharing: mig\n  mig_strategy: mixed\n")
    _, c, expr = _gpu_placement(manifests(profiles, tmp_path / "build")["llm-chat"])
    assert (
        c["resources"]["limits"]["nvidia.com/mig-1g.20gb"] == "1" and "nvidia.com/gpu" not in c["resources"]["limits"]
    )
    assert "NVIDIA-A100-SXM4-80GB" in expr["values"]  # GFD leaves the product label alone under mixed


def load_all_one(profiles, name):
    from stacks.workloads import load_all

    return next(w for w in load_all([profiles]).workloads if w.name == name)


def test_plan_cost_reflects_the_gpu_share(tmp_path):
    whole = load_all_one(copy_profiles(tmp_path / "a"), "llm-chat").decision.option(Target.kubernetes).bill.total
    profiles = write_platform(copy_profiles(tmp_path / "b"), "platform:\n  gpu_sharing: time-slicing\n")
    shared = load_all_one(profiles, "llm-chat").decision.option(Target.kubernetes).bill.total
    assert shared < whole


def test_mig_node_configuration_follows_the_workloads(tmp_path):
    profiles = write_platform(copy_profiles(tmp_path), "platform:\n  gpu_sharing: mig\n")
    addons = manifests(profiles, tmp_path / "build")["cluster-addons"]
    values = next(d for d in addons if d.get("helmRelease") == "gpu-operator")["values"]
    assert values["mig"] == {"strategy": "single"}
    assert values["migManager"]["config"] == {"name": "switchyard-mig-config", "default": "all-disabled"}
    config = yaml.safe_load(find(addons, "ConfigMap", "switchyard-mig-config")["data"]["config.yaml"])
    assert config["mig-configs"]["all-1g.20gb"] == [
        {"devices": "all", "mig-enabled": True, "mig-devices": {"1g.20gb": 4}}
    ]


def test_workloads_that_disagree_on_gpu_sharing_are_refused(tmp_path):
    profiles = copy_profiles(
        tmp_path,
        edit={"llm-chat": ("target: auto\n", "target: auto\noverrides:\n  platform:\n    gpu_sharing: mig\n")},
    )
    write_platform(profiles, "platform:\n  gpu_sharing: time-slicing\n")
    # Refused when the profiles are loaded (plan, validate and synth alike), naming the profile.
    import re

    from stacks.workloads import load_all

    failures = [str(f.error) for f in load_all([profiles]).failures]
    assert len(failures) == 1 and re.match(r".*llm-chat.yaml: overrides.platform: gpu_sharing=mig", failures[0])


def test_cpu_workload_stays_off_gpu_nodes(objects):
    spec, c = server(objects["fraud-scoring"])
    assert "nvidia.com/gpu" not in c["resources"]["limits"]
    assert "runtimeClassName" not in spec and "tolerations" not in spec and "affinity" not in spec


@pytest.mark.parametrize("name", KUBERNETES)
def test_security_context_is_restricted(objects, name):
    spec, c = server(objects[name])
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for container in spec["containers"] + spec["initContainers"]:
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]  # writable path on a read-only root


@pytest.mark.parametrize("name", KUBERNETES)
def test_resources_and_pinned_image(objects, name):
    k = decision(name).option(Target.kubernetes).sizing
    _, c = server(objects[name])
    assert c["resources"]["requests"] == {"cpu": f"{k.cpu_millicores}m", "memory": f"{k.memory_mb}Mi"}
    assert c["resources"]["limits"]["memory"] == f"{k.memory_mb}Mi"
    assert c["image"].startswith(f"registry.local:5000/switchyard/{name}:")
    tag = c["image"].rsplit(":", 1)[1]
    assert len(tag) == 16 and tag != "latest"
    assert c["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.parametrize("name", KUBERNETES)
def test_model_cache_is_filled_once_by_the_init_container(objects, name):
    spec, c = server(objects[name])
    (fetch,) = spec["initContainers"]
    env = {e["name"]: e["value"] for e in fetch["env"]}
    assert env["SOURCE"] == load_profile(PROFILES / f"{name}.yaml").profile.model.weights
    assert fetch["command"][2] == FETCH_SCRIPT  # run for real in tests/test_weights_fetch.py
    assert {"name": "model-cache", "mountPath": "/models"} in fetch["volumeMounts"]
    assert {"name": "model-cache", "mountPath": "/models", "readOnly": True} in c["volumeMounts"]
    # caches are writable, on the volume, beside (never inside) the weights
    assert {"name": "model-cache", "mountPath": "/var/cache/switchyard", "subPath": ".runtime"} in c["volumeMounts"]
    server_env = {e["name"]: e.get("value") for e in c["env"]}
    assert server_env["WEIGHTS_DIR"] == f"/models/{env['VERSION']}"
    pvc = find(objects[name], "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["storageClassName"] == "cephfs"


@pytest.mark.parametrize("name", KUBERNETES)
def test_probes_and_graceful_termination(objects, name):
    d = decision(name)
    spec, c = server(objects[name])
    startup = c["startupProbe"]
    budget_s = startup["failureThreshold"] * startup["periodSeconds"]
    pod_start_ms = d.option(Target.kubernetes).sizing.pod_start_ms
    assert budget_s >= pod_start_ms / 1000 * 2  # covers the estimated load with margin
    assert startup["failureThreshold"] == startup_failure_threshold(pod_start_ms)
    # The custom server's probes have a port of their own, which the Service and the NetworkPolicy
    # leave closed to callers (the kubelet's probes come from the node); vLLM answers on its API port.
    probe_port = "http" if name == "llm-chat" else "health"
    assert all(c[p]["httpGet"]["port"] == probe_port for p in ("startupProbe", "readinessProbe", "livenessProbe"))
    if name != "llm-chat":
        assert {"name": "health", "containerPort": 8081, "protocol": "TCP"} in c["ports"]
        assert (
            c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        )
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    timeout_s = load_profile(PROFILES / f"{name}.yaml").profile.sla.timeout_s
    assert spec["terminationGracePeriodSeconds"] > pre_stop + timeout_s
    if name == "llm-chat":  # vLLM drains in-flight requests for the whole request budget
        assert c["args"][c["args"].index("--shutdown-timeout") + 1] == str(timeout_s)


def test_vllm_runs_the_openai_server_on_the_cached_weights(objects):
    spec, c = server(objects["llm-chat"])
    args = c["args"]
    assert args[args.index("--model") + 1].startswith("/models/")
    assert args[args.index("--served-model-name") + 1] == "meta-llama/Llama-3.1-8B-Instruct"
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}} in spec["volumes"]
    env = {e["name"]: e for e in c["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "llm-chat-api-key", "key": "api-key"}}


@pytest.mark.parametrize("name", KUBERNETES)
def test_service_pdb_and_network_policy(objects, name):
    port = 8000 if name == "llm-chat" else 8080
    svc = find(objects[name], "Service")
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert find(objects[name], "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    netpol = find(objects[name], "NetworkPolicy")["spec"]
    assert netpol["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = netpol["ingress"]
    assert rule["ports"] == [{"port": port, "protocol": "TCP"}]
    callers = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in rule["from"]}
    assert callers == {"monitoring", "keda"}  # not any pod of any namespace
    dns, weights = netpol["egress"]
    assert dns["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}},
        {"ipBlock": {"cidr": "169.254.0.0/16"}},  # NodeLocal DNSCache (tests/test_k8s_network.py)
    ]
    assert weights["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_exposure_and_in_cluster_callers_follow_stack_config(tmp_path):
    settings = CLUSTER.model_copy(
        update={"expose": "gateway", "public_domain": "ai.example.org", "client_namespaces": ["web"]}
    )
    docs = manifests(PROFILES, tmp_path, settings)["fraud-scoring"]
    route = find(docs, "HTTPRoute")
    assert route["metadata"]["namespace"] == "ml-fraud-scoring"
    assert route["spec"]["hostnames"] == ["fraud-scoring.ai.example.org"]
    assert route["spec"]["parentRefs"] == [{"name": "switchyard", "namespace": "gateway"}]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "fraud-scoring", "port": 80}]
    rule = find(docs, "NetworkPolicy")["spec"]["ingress"][0]
    callers = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in rule["from"]}
    assert callers == {"monitoring", "keda", "gateway", "web"}
    ingress = find(
        manifests(PROFILES, tmp_path, CLUSTER.model_copy(update={"expose": "ingress"}))["llm-chat"], "Ingress"
    )
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "llm-chat.inference.example.com"
    assert "tls" not in ingress["spec"]  # no certificate source configured: plain HTTP, and the URL says so


def test_an_ingress_serves_tls_only_with_a_certificate_issuer(tmp_path):
    settings = CLUSTER.model_copy(update={"expose": "ingress", "tls_cluster_issuer": "letsencrypt"})
    ingress = find(manifests(PROFILES, tmp_path, settings)["llm-chat"], "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["llm-chat.inference.example.com"], "secretName": "llm-chat-tls"}]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"


def test_weights_credentials_and_endpoint_come_from_stack_config(tmp_path):
    from stacks.k8s.settings import ClusterSecrets

    settings = CLUSTER.model_copy(
        update={"weights_endpoint_url": "http://minio.storage.svc:9000", "weights_region": "eu-1"}
    )
    secrets = ClusterSecrets("k3y", "AKIDEXAMPLE", "s3cr3t")
    docs = manifests(PROFILES, tmp_path, settings, secrets)["fraud-scoring"]
    creds = find(docs, "Secret", "fraud-scoring-weights-credentials")
    assert set(creds["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert "s3cr3t" not in yaml.safe_dump(docs)  # review output never carries a secret value
    (fetch,) = find(docs, "Deployment")["spec"]["template"]["spec"]["initContainers"]
    env = {e["name"]: e.get("value") for e in fetch["env"]}
    assert env["AWS_ENDPOINT_URL"] == "http://minio.storage.svc:9000" and env["AWS_REGION"] == "eu-1"
    assert fetch["envFrom"] == [{"secretRef": {"name": "fraud-scoring-weights-credentials"}}]
    weights = find(docs, "NetworkPolicy")["spec"]["egress"][1]
    assert weights["ports"] == [{"port": 9000, "protocol": "TCP"}]
    # pod IPs are not ipBlocks everywhere: an in-cluster store is also admitted by its namespace
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "storage"}}} in weights["to"]


@pytest.mark.parametrize("name", KUBERNETES)
def test_scaled_object_follows_the_decision(objects, name):
    k = decision(name).option(Target.kubernetes).sizing
    so = find(objects[name], "ScaledObject")["spec"]
    assert so["scaleTargetRef"] == {"name": name}
    assert (so["minReplicaCount"], so["maxReplicaCount"]) == (k.min_replicas, k.max_replicas)
    assert k.min_replicas >= 1  # synchronous callers: nothing would start a pod for them
    (trigger,) = so["triggers"]
    assert trigger["type"] == "prometheus"
    assert f'namespace="{NS[name]}"' in trigger["metadata"]["query"]
    assert so["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert so["pollingInterval"] == 15  # never faster than the 15 s scrape interval
    assert so["fallback"] == {"failureThreshold": 3, "replicas": k.max_replicas}


def test_addons_are_pinned_helm_releases(objects):
    releases = {d["helmRelease"]: d for d in objects["cluster-addons"] if "helmRelease" in d}
    assert releases["gpu-operator"] | {"values": None} == {
        "helmRelease": "gpu-operator",
        "chart": "gpu-operator",
        "version": GPU_OPERATOR.version,
        "repo": "https://helm.ngc.nvidia.com/nvidia",
        "namespace": "gpu-operator",
        "values": None,
    }
    assert releases["gpu-operator"]["values"] == {
        "driver": {"enabled": False},
        # the operator creates the nvidia RuntimeClass: its toolkit stays unless the nodes have one
        "toolkit": {"enabled": True},
        "nfd": {"enabled": True},
        "dcgmExporter": {
            "enabled": True,
            "serviceMonitor": {"enabled": True, "additionalLabels": {"release": "kube-prometheus-stack"}},
        },
    }
    assert (releases["keda"]["chart"], releases["keda"]["version"], releases["keda"]["repo"]) == (
        "keda",
        KEDA.version,
        "https://kedacore.github.io/charts",
    )
    namespaces = {d["metadata"]["name"]: d for d in objects["cluster-addons"] if d.get("kind") == "Namespace"}
    assert namespaces["gpu-operator"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_time_slicing_follows_the_platform_and_drivers_the_stack(tmp_path):
    profiles = write_platform(
        copy_profiles(tmp_path), "platform:\n  gpu_sharing: time-slicing\n  time_slicing_replicas: 4\n"
    )
    addons = manifests(profiles, tmp_path / "build", CLUSTER.model_copy(update={"drivers_preinstalled": False}))[
        "cluster-addons"
    ]
    values = next(d for d in addons if d.get("helmRelease") == "gpu-operator")["values"]
    assert values["driver"] == {"enabled": True} and values["toolkit"] == {"enabled": True}
    assert values["devicePlugin"] == {"config": {"name": "switchyard-time-slicing", "default": "any"}}
    cm = find(addons, "ConfigMap", "switchyard-time-slicing")
    assert yaml.safe_load(cm["data"]["any"])["sharing"]["timeSlicing"]["resources"] == [
        {"name": "nvidia.com/gpu", "replicas": 4}
    ]


def test_nodes_with_a_driver_but_no_toolkit_still_get_a_runtime_for_gpu_pods(tmp_path):
    """driversPreinstalled alone keeps the operator's toolkit (which backs its `nvidia` RuntimeClass);
    only toolkitPreinstalled turns it off."""

    class Config:
        def __init__(self, values):
            self.values = values

        def get(self, key):
            return self.values.get(key)

        get_bool = get_object = get

    def values(**stack):
        settings = from_pulumi_config(Config(stack)).model_copy(update={"model_storage_class": "cephfs"})
        release = _releases(PROFILES, tmp_path, settings)["gpu-operator-release"]
        return release.inputs["values"]["driver"], release.inputs["values"]["toolkit"]

    assert values(driversPreinstalled=True) == ({"enabled": False}, {"enabled": True})
    assert values(driversPreinstalled=True, toolkitPreinstalled=True) == ({"enabled": False}, {"enabled": False})
    assert values(driversPreinstalled=False) == ({"enabled": True}, {"enabled": True})


def _releases(profiles, build, settings=CLUSTER) -> dict[str, list[dict]]:
    from stacks.workloads import load_all

    resources = mocks.run(load_all([profiles]), settings, build)
    return {r.name: r for r in resources if r.type == mocks.HELM_RELEASE}


def test_addons_the_platform_turns_off_leave_the_program(tmp_path):
    off = CLUSTER.model_copy(update={"install_gpu_operator": False, "install_keda": False})
    assert _releases(PROFILES, tmp_path, off) == {}
    nfd_off = CLUSTER.model_copy(update={"install_nfd": False})
    release = _releases(PROFILES, tmp_path, nfd_off)["gpu-operator-release"]
    assert release.inputs["values"]["nfd"] == {"enabled": False}


def test_addons_outlive_the_workloads_that_need_them(tmp_path):
    # no GPU workload left, then no kubernetes workload at all: the add-ons stay declared
    for drop in (("llm-chat",), ("llm-chat", "fraud-scoring")):
        profiles = copy_profiles(tmp_path / "-".join(drop), drop=drop)
        releases = _releases(profiles, tmp_path / "b")
        assert set(releases) == {"gpu-operator-release", "keda-release"}


def test_every_namespace_is_created_after_the_never_adopt_guard(tmp_path, monkeypatch):
    import pulumi_kubernetes as k8s

    waits: dict[str, list[str]] = {}
    for kind in ("Namespace", "NamespacePatch"):  # a workload's own, an add-on's (shared between stacks)
        original = getattr(k8s.core.v1, kind)

        def recording(resource_name, *args, _original=original, **kwargs):
            deps = (kwargs.get("opts") or pulumi.ResourceOptions()).depends_on or []
            waits[resource_name] = [d._name for d in deps]
            return _original(resource_name, *args, **kwargs)

        monkeypatch.setattr(k8s.core.v1, kind, recording)
    from stacks.workloads import load_all

    mocks.run(load_all([PROFILES]), CLUSTER, tmp_path)
    assert set(waits) == {"keda-namespace", "gpu-operator-namespace", "llm-chat-namespace", "fraud-scoring-namespace"}
    for name, deps in waits.items():
        assert "switchyard-never-adopt-binding" in deps, name


def test_addon_releases_and_namespaces_are_retained_when_the_program_drops_them(tmp_path, monkeypatch):
    """retain_on_delete: turning an add-on off, or `pulumi destroy`, leaves it installed."""
    import pulumi_kubernetes as k8s

    kept: dict[str, bool | None] = {}
    for module, kind in ((k8s.helm.v3, "Release"), (k8s.core.v1, "Namespace"), (k8s.core.v1, "NamespacePatch")):
        original = getattr(module, kind)

        def recording(resource_name, *args, _original=original, **kwargs):
            kept[resource_name] = kwargs["opts"].retain_on_delete if kwargs.get("opts") else None
            return _original(resource_name, *args, **kwargs)

        monkeypatch.setattr(module, kind, recording)
    from stacks.workloads import load_all

    mocks.run(load_all([PROFILES]), CLUSTER, tmp_path)
    assert kept["gpu-operator-release"] is True and kept["keda-release"] is True
    assert kept["gpu-operator-namespace"] is True and kept["keda-namespace"] is True
    assert not kept["llm-chat-namespace"]  # a workload's own namespace goes with the workload


def test_stack_config_false_and_zero_are_not_swallowed():
    class Config:
        values = {"driversPreinstalled": False, "installKeda": False}

        def get(self, key):
            return self.values.get(key)

        get_bool = get_int = get_object = get

    s = from_pulumi_config(Config())
    assert s.drivers_preinstalled is False and s.install_keda is False
    assert s.prometheus_address == ClusterSettings().prometheus_address


@pytest.mark.parametrize("key", ["gpuSharing", "timeSlicingReplicas", "migStrategy"])
def test_a_stack_that_still_sets_gpu_sharing_is_refused(key):
    class Config:
        def get(self, k):
            return "mig" if k == key else None

        get_bool = get_object = get

    with pytest.raises(SwitchyardError, match=rf"switchyard:{key} is no longer a cluster setting") as err:
        from_pulumi_config(Config())
    assert "platform.yaml" in str(err.value)


def test_deployment_waits_for_the_estimated_pod_start(tmp_path):
    from stacks.workloads import load_all

    resources = mocks.run(load_all([PROFILES]), CLUSTER, tmp_path)
    assert deploy_timeout_s(15000) == 600  # never below Pulumi's default
    assert deploy_timeout_s(400_000) == 1200  # three first starts (weights copy included)
    assert any(r.name == "llm-chat-deployment" for r in resources)


def test_a_new_weights_version_rollout_is_waited_for_and_the_cache_holds_what_is_billed(tmp_path, monkeypatch):
    """A slow object store (20 MB/s: 16 GB take 800 s to copy into the cache on a new version's first
    start) must lengthen how long `pulumi up` waits, or it reports a failed rollout that is only
    copying; and the model cache claims what the bill charges (platform.model_cache_copies)."""
    import pulumi_kubernetes as k8s

    profiles = write_platform(
        copy_profiles(tmp_path / "profiles"), "platform:\n  weights_copy_mb_per_s: 20\n  model_cache_copies: 3\n"
    )
    timeouts: dict[str, pulumi.CustomTimeouts] = {}
    real = k8s.apps.v1.Deployment

    class Recording(real):  # what the program hands Pulumi: the mocks do not see resource options
        def __init__(self, resource_name, *args, opts=None, **kwargs):
            timeouts[resource_name] = opts.custom_timeouts
            super().__init__(resource_name, *args, opts=opts, **kwargs)

    monkeypatch.setattr(k8s.apps.v1, "Deployment", Recording)
    docs = manifests(profiles, tmp_path / "build", CLUSTER)
    k = decide(load_profile(profiles / "llm-chat.yaml")).decision.option(Target.kubernetes).sizing
    assert k.weights_copy_ms == 800_000
    waited = int(timeouts["llm-chat-deployment"].create.removesuffix("s"))
    assert waited == int(timeouts["llm-chat-deployment"].update.removesuffix("s"))
    assert waited >= k.first_start_ms / 1000 * 2  # the copy and the start, with margin
    pvc = find(docs["llm-chat"], "PersistentVolumeClaim")
    assert pvc["spec"]["resources"]["requests"]["storage"] == f"{k.model_cache_gi}Gi" == "48Gi"


# ------------------------------------------------------------------ conformance


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_objects_pass_kubernetes_validate_strict(objects, version):
    assert ClusterSettings().min_kubernetes_version == MIN_VERSION == K8S_VERSIONS[0]
    for name in KUBERNETES:
        for doc in objects[name] + [d for d in objects["cluster-addons"] if "kind" in d]:
            if doc["kind"] in ("ScaledObject", "HTTPRoute", "PodMonitor", "TriggerAuthentication"):  # CRDs
                continue
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_minimum_version_gates_features_and_every_object_validates_from_it(tmp_path, objects):
    newer = CLUSTER.model_copy(update={"min_kubernetes_version": "1.31"})
    docs = manifests(PROFILES, tmp_path, newer)["fraud-scoring"]
    assert find(docs, "Service")["spec"]["trafficDistribution"] == "PreferClose"
    for version in K8S_VERSIONS[1:]:
        for doc in docs:
            if doc["kind"] not in ("ScaledObject", "PodMonitor"):
                kubernetes_validate.validate(doc, version, strict=True)
    # 1.30 has the field only behind an alpha feature gate (the API server would drop it)
    assert "trafficDistribution" not in find(objects["fraud-scoring"], "Service")["spec"]


@pytest.mark.parametrize("version", ["1.29", "1.3", "2.0"])
def test_a_minimum_version_below_the_features_used_is_refused(version):
    class Config:
        def get(self, key):
            return version if key == "minKubernetesVersion" else None

        get_bool = get_object = get

    with pytest.raises(
        SwitchyardError, match=r"(?s)switchyard:minKubernetesVersion: .*\(got '.*'\).*allowed: .*1\.30 or later"
    ):
        from_pulumi_config(Config())


def test_every_object_lives_in_a_namespace_the_program_owns(tmp_path):
    """Walk everything the program declares: each namespaced object is in the namespace the
    program creates for its workload, or in an add-on namespace the program manages."""
    settings = CLUSTER.model_copy(update={"expose": "ingress"})
    from stacks.workloads import load_all

    batch = load_all([PROFILES])
    resources = mocks.run(batch, settings, tmp_path)
    created = {}
    for r in resources:
        if r.type in ("kubernetes:core/v1:Namespace", "kubernetes:core/v1:NamespacePatch"):
            labels = r.inputs["metadata"]["labels"]
            created[r.inputs["metadata"]["name"]] = labels.get(WORKLOAD_LABEL) or labels.get("switchyard.dev/addon")
    assert created == {"ml-fraud-scoring": "fraud-scoring", "ml-llm-chat": "llm-chat", "keda": "keda",
                       "gpu-operator": "gpu-operator"}  # fmt: skip
    checked = 0
    for r in resources:
        if not r.type.startswith("kubernetes:") or r.type == "pulumi:providers:kubernetes":
            continue
        doc = mocks.manifest(r)
        ns = doc.get("namespace") if r.type == mocks.HELM_RELEASE else doc["metadata"].get("namespace")
        labels = {} if r.type == mocks.HELM_RELEASE else doc["metadata"].get("labels", {})
        assert labels.get(MANAGED_BY, "switchyard") == "switchyard", r.name
        if ns is None:
            continue  # cluster-scoped: Namespaces themselves, the admission policy
        checked += 1
        assert ns in created, f"{r.type} {r.name} in namespace {ns}, which the program does not create"
        owner = labels.get(WORKLOAD_LABEL)
        if owner:
            assert created[ns] == owner, f"{r.name} of {owner} is in {ns}"
            assert set(labels) >= {MANAGED_BY, WORKLOAD_LABEL, PROFILE_LABEL, PLAN_LABEL}, r.name
    assert checked >= 20


def _upstream(file: str) -> Path:
    path = UPSTREAM / file  # vendored with its provenance: present in every clone
    assert path.is_file(), f"{path} is missing: see tests/fixtures/upstream/PROVENANCE.md"
    return path


@pytest.mark.parametrize("name", KUBERNETES)
def test_scaled_objects_validate_against_kedas_crd(objects, name):
    crd = yaml.safe_load(_upstream("keda-2.20.2-scaledobjects.crd.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    jsonschema.validate(find(objects[name], "ScaledObject"), version["schema"]["openAPIV3Schema"])


def _paths(values: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out += _paths(value, (*prefix, key))
        else:
            out.append((*prefix, key))
    return out


@pytest.mark.parametrize(
    ("release", "file"),
    [("gpu-operator", "gpu-operator-chart-v26.7.0-values.yaml"), ("keda", "keda-chart-2.20.2-values.yaml")],
)
def test_every_helm_value_exists_in_the_chart(tmp_path, release, file):
    defaults = yaml.safe_load(_upstream(file).read_text())
    for mode in ("none", "time-slicing", "mig"):
        profiles = write_platform(copy_profiles(tmp_path / mode), f"platform:\n  gpu_sharing: {mode}\n")
        addons = manifests(profiles, tmp_path / "build")["cluster-addons"]
        values = next(d for d in addons if d.get("helmRelease") == release)["values"]
        for path in _paths(values):
            node = defaults
            for part in path:
                if node == {}:  # a free-form map in the chart (labels, annotations): any key goes
                    break
                assert isinstance(node, dict) and part in node, f"{release}: {'.'.join(path)} is not a chart value"
                node = node[part]


# ------------------------------------------------------------------ snapshots, switching, entry point


@pytest.mark.parametrize("name", [*KUBERNETES, "cluster-addons"])
def test_snapshot(objects, name, snapshot):
    assert normalised(objects[name]) == snapshot.use_extension(JSONSnapshotExtension)


def test_switching_a_profile_to_kubernetes_adds_its_resources(tmp_path):
    profiles = copy_profiles(tmp_path, edit={"sentiment-api": ("target: auto", "target: kubernetes")})
    objects = manifests(profiles, tmp_path / "build")
    assert set(objects) == {"cluster-addons", *KUBERNETES, "sentiment-api"}
    _, c = server(objects["sentiment-api"])
    assert c["image"].startswith("registry.local:5000/switchyard/sentiment-api:")
    fetch_env = {
        e["name"]: e["value"]
        for e in find(objects["sentiment-api"], "Deployment")["spec"]["template"]["spec"]["initContainers"][0]["env"]
    }
    # local weights are served from the cluster's weights store, under their content hash
    assert fetch_env["SOURCE"] == f"s3://switchyard-models/sentiment-api/{fetch_env['VERSION']}/"


@pytest.mark.xdist_group("checkout_build")  # the program renders into the checkout's build/, as `pulumi up` does
def test_the_real_entry_point_runs_from_its_own_directory_under_mocks(monkeypatch, tmp_path):
    """As the Pulumi engine runs it: stacks/k8s/__main__.py, working directory stacks/k8s, the
    stack's config, profiles named relative to the project root."""
    recorder = mocks.Recorder()
    pulumi.runtime.set_mocks(recorder, project="switchyard", stack="dev", preview=False)
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    # profiles named relative to the project root, as a stack file names them (never the working directory)
    stack["switchyard:profiles"] = PROFILES.relative_to(ROOT).as_posix()
    # The engine hands structured values (objects, lists) to the program as JSON, scalars as strings.
    config = {k: json.dumps(v) if isinstance(v, dict | list) else str(v) for k, v in stack.items()}
    pulumi.runtime.set_all_config({**config, "switchyard:apiKey": KEY})
    monkeypatch.chdir(ROOT / "stacks" / "k8s")
    monkeypatch.setattr(sys, "path", [str(ROOT / "stacks" / "k8s"), *[p for p in sys.path if p not in ("", str(ROOT))]])
    outputs = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: outputs.__setitem__(key, value))

    @pulumi.runtime.test
    def run():
        runpy.run_path(str(ROOT / "stacks" / "k8s" / "__main__.py"), run_name="__main__")
        return pulumi.Output.from_input(None)

    run()
    names = {r.name for r in recorder.resources}
    assert {
        "keda-release",
        "gpu-operator-release",
        "switchyard-never-adopt",
        "llm-chat-deployment",
        "llm-chat-api-key",
        "fraud-scoring-scaledobject",
    } <= names
    assert len([r for r in recorder.resources if r.type == "kubernetes:apps/v1:Deployment"]) == 2
    pvc = next(r for r in recorder.resources if r.name == "llm-chat-model-cache")
    assert pvc.inputs["spec"]["storageClassName"] == "cephfs"
    assert outputs["workloads"]["llm-chat"] == {
        "namespace": "ml-llm-chat",
        "service": "http://llm-chat.ml-llm-chat.svc.cluster.local",
        "url": None,
    }


def test_an_invalid_profile_stops_the_entry_point_with_a_message_not_a_traceback(monkeypatch, tmp_path):
    profiles = copy_profiles(tmp_path, edit={"fraud-scoring": ("name: fraud-scoring", "name: kube-fraud")})
    pulumi.runtime.set_mocks(mocks.Recorder(), project="switchyard", stack="dev", preview=False)
    pulumi.runtime.set_all_config({"switchyard:profiles": str(profiles), "switchyard:modelStorageClass": "x"})
    monkeypatch.chdir(ROOT / "stacks" / "k8s")
    with pytest.raises(pulumi.RunError, match=r"fraud-scoring.yaml:3: name: 'kube-fraud': namespace 'kube-fraud'"):
        runpy.run_path(str(ROOT / "stacks" / "k8s" / "__main__.py"), run_name="__main__")


def test_pulumi_up_without_the_storage_class_or_api_key_stops_before_creating_anything(monkeypatch):
    recorder = mocks.Recorder()
    pulumi.runtime.set_mocks(recorder, project="switchyard", stack="dev", preview=False)
    for config, message in (
        ({"switchyard:apiKey": KEY}, "switchyard:modelStorageClass is not set"),
        ({"switchyard:modelStorageClass": "cephfs"}, "switchyard:apiKey is not set"),
        ({"switchyard:modelStorageClass": "cephfs", "switchyard:apiKey": ""}, "switchyard:apiKey is empty"),
        (
            {"switchyard:modelStorageClass": "cephfs", "switchyard:apiKey": "k3y"},
            "switchyard:apiKey is 3 characters long: an API key needs at least 32 characters",
        ),
        (
            {"switchyard:modelStorageClass": "c", "switchyard:apiKey": KEY, "switchyard:apiKeys": '{"nope": "x"}'},
            r"switchyard:apiKeys.nope.default is 1 characters long",
        ),
        (
            {
                "switchyard:modelStorageClass": "c",
                "switchyard:apiKey": KEY,
                "switchyard:apiKeys": f'{{"nope": "{KEY}"}}',
            },
            "switchyard:apiKeys names nope, which is not a Kubernetes workload",
        ),
        (
            {"switchyard:modelStorageClass": "c", "switchyard:apiKey": KEY, "switchyard:weightsAccessKeyId": "AKID"},
            "are set together or not at all",
        ),
    ):
        pulumi.runtime.set_all_config(config)
        from stacks.k8s import program

        with pytest.raises(SwitchyardError, match=message):
            program.main()
    assert recorder.resources == []


def test_a_review_render_from_the_stack_file_shows_where_secrets_go_never_their_values(tmp_path):
    from stacks.k8s.settings import from_stack_file, secrets_from_stack_file

    stack = tmp_path / "Pulumi.lab.yaml"
    stack.write_text(
        "config:\n  switchyard:modelStorageClass: nfs-rwx\n"
        "  switchyard:apiKey: {secure: AAABAKxyz}\n"
        "  switchyard:weightsAccessKeyId: {secure: AAABAKabc}\n  switchyard:weightsSecretAccessKey: {secure: AAABAKdef}\n"
    )
    docs = manifests(PROFILES, tmp_path / "b", from_stack_file(str(stack)), secrets_from_stack_file(str(stack)))
    creds = find(docs["fraud-scoring"], "Secret", "fraud-scoring-weights-credentials")
    assert set(creds["stringData"].values()) == {mocks.REDACTED}
    assert "AAABAK" not in yaml.safe_dump(docs)
    assert find(docs["fraud-scoring"], "PersistentVolumeClaim")["spec"]["storageClassName"] == "nfs-rwx"


def test_each_workload_gets_its_own_key_derived_from_the_stack_key_or_its_own_override():
    """One stack secret; each workload's Secret holds a key that opens that workload alone, stable
    across runs, and the custom server gets every caller's key, vLLM the one it takes."""
    import hashlib
    import hmac

    from stacks.k8s.settings import ClusterSecrets
    from stacks.workloads import load_all

    def keys(secrets: ClusterSecrets) -> dict[str, dict]:
        out = {}
        for r in mocks.run(load_all([PROFILES]), CLUSTER, secrets=secrets):
            if r.name.endswith("-api-key"):
                out[r.name.removesuffix("-api-key")] = mocks._plain(r.inputs["stringData"])
        return out

    first = keys(ClusterSecrets(api_key=KEY))
    assert first == keys(ClusterSecrets(api_key=KEY))  # a second `pulumi up` rotates nothing
    fraud, llm = first["fraud-scoring"], first["llm-chat"]
    expected = hmac.new(KEY.encode(), b"switchyard/api-key/fraud-scoring", hashlib.sha256).hexdigest()
    assert fraud["api-key"] == expected and json.loads(fraud["api-keys"]) == {"default": expected}
    assert llm["api-key"] != fraud["api-key"] and KEY not in json.dumps(first)  # the stack key never leaves
    callers = {"batch-team": "b" * 40, "web-team": "w" * 40}
    over = keys(ClusterSecrets(api_key=KEY, api_keys={"fraud-scoring": callers}))
    assert json.loads(over["fraud-scoring"]["api-keys"]) == callers and over["llm-chat"] == llm
