"""The kubernetes target: the Pulumi program run under mocks, its objects checked and validated."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pulumi
import pytest
import yaml
from syrupy.extensions.json import JSONSnapshotExtension

from stacks.decide import decide
from stacks.k8s.settings import ClusterSettings, GpuSharing, from_pulumi_config
from stacks.k8s.vendor import GPU_OPERATOR, KEDA
from stacks.k8s.workload import startup_failure_threshold
from stacks.loader import load_profile
from tests.conftest import PROFILES, UPSTREAM, copy_profiles
from tests.k8s_helpers import find, manifests, normalised

pytestmark = pytest.mark.timeout(120)  # a stuck Output must fail the test, not hang CI
KUBERNETES = ["fraud-scoring", "llm-chat"]
K8S_VERSION = "1.33"


@pytest.fixture(scope="session")
def objects(tmp_path_factory):
    return manifests(PROFILES, tmp_path_factory.mktemp("k8s-build"))


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
                "ServiceAccount",
                "PersistentVolumeClaim",
                "Deployment",
                "Service",
                "PodDisruptionBudget",
                "NetworkPolicy",
                "ScaledObject",
            ]
        )
        assert all(d["metadata"].get("namespace", name) == name for d in objects[name])


@pytest.mark.parametrize("name", KUBERNETES)
def test_namespace_is_restricted_and_identity_has_no_token(objects, name):
    ns = find(objects[name], "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert find(objects[name], "ServiceAccount")["automountServiceAccountToken"] is False
    spec, _ = server(objects[name])
    assert spec["serviceAccountName"] == name and spec["automountServiceAccountToken"] is False


def test_gpu_workload_is_placed_on_the_right_gpus(objects):
    spec, c = server(objects["llm-chat"])
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert spec["runtimeClassName"] == "nvidia"
    term = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"] == [
        {
            "key": "nvidia.com/gpu.product",
            "operator": "In",
            "values": ["NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"],
        }
    ]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]


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
    k = decision(name).kubernetes
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
    assert 'if [ -f "$dest/.switchyard-complete" ]; then' in fetch["command"][2]  # skips a cached version
    assert {"name": "model-cache", "mountPath": "/models"} in fetch["volumeMounts"]
    assert {"name": "model-cache", "mountPath": "/models", "readOnly": True} in c["volumeMounts"]
    server_env = {e["name"]: e["value"] for e in c["env"]}
    assert server_env["WEIGHTS_DIR"] == f"/models/{env['VERSION']}"
    pvc = find(objects[name], "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize("name", KUBERNETES)
def test_probes_and_graceful_termination(objects, name):
    d = decision(name)
    spec, c = server(objects[name])
    startup = c["startupProbe"]
    budget_s = startup["failureThreshold"] * startup["periodSeconds"]
    assert budget_s >= d.kubernetes.pod_start_ms / 1000 * 2  # covers the estimated load with margin
    assert startup["failureThreshold"] == startup_failure_threshold(d.kubernetes.pod_start_ms)
    assert c["readinessProbe"]["httpGet"]["port"] == "http" and c["livenessProbe"]["httpGet"]["port"] == "http"
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    timeout_s = load_profile(PROFILES / f"{name}.yaml").profile.sla.timeout_s
    assert spec["terminationGracePeriodSeconds"] > pre_stop + timeout_s


def test_vllm_runs_the_openai_server_on_the_cached_weights(objects):
    spec, c = server(objects["llm-chat"])
    args = c["args"]
    assert args[args.index("--model") + 1].startswith("/models/")
    assert args[args.index("--served-model-name") + 1] == "meta-llama/Llama-3.1-8B-Instruct"
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in spec["volumes"]


@pytest.mark.parametrize("name", KUBERNETES)
def test_service_pdb_and_network_policy(objects, name):
    port = 8000 if name == "llm-chat" else 8080
    svc = find(objects[name], "Service")
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert find(objects[name], "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    netpol = find(objects[name], "NetworkPolicy")["spec"]
    assert netpol["policyTypes"] == ["Ingress"]
    assert netpol["ingress"] == [{"ports": [{"port": port, "protocol": "TCP"}]}]


@pytest.mark.parametrize("name", KUBERNETES)
def test_scaled_object_follows_the_decision(objects, name):
    k = decision(name).kubernetes
    so = find(objects[name], "ScaledObject")["spec"]
    assert so["scaleTargetRef"] == {"name": name}
    assert (so["minReplicaCount"], so["maxReplicaCount"]) == (k.min_replicas, k.max_replicas)
    (trigger,) = so["triggers"]
    assert trigger["type"] == "prometheus"
    assert f'namespace="{name}"' in trigger["metadata"]["query"]
    assert so["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert so["pollingInterval"] == (5 if name == "fraud-scoring" else 15)


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
        "toolkit": {"enabled": False},
        "dcgmExporter": {"enabled": True},
    }
    assert (releases["keda"]["chart"], releases["keda"]["version"], releases["keda"]["repo"]) == (
        "keda",
        KEDA.version,
        "https://kedacore.github.io/charts",
    )
    namespaces = {d["metadata"]["name"]: d for d in objects["cluster-addons"] if d.get("kind") == "Namespace"}
    assert namespaces["gpu-operator"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_time_slicing_and_driver_install_follow_cluster_settings(tmp_path):
    settings = ClusterSettings(gpu_sharing=GpuSharing.time_slicing, time_slicing_replicas=4, drivers_preinstalled=False)
    addons = manifests(PROFILES, tmp_path, settings)["cluster-addons"]
    values = next(d for d in addons if d.get("helmRelease") == "gpu-operator")["values"]
    assert values["driver"] == {"enabled": True} and values["toolkit"] == {"enabled": True}
    assert values["devicePlugin"] == {"config": {"name": "switchyard-time-slicing", "default": "any"}}
    cm = find(addons, "ConfigMap", "switchyard-time-slicing")
    assert yaml.safe_load(cm["data"]["any"])["sharing"]["timeSlicing"]["resources"] == [
        {"name": "nvidia.com/gpu", "replicas": 4}
    ]


def test_stack_config_false_and_zero_are_not_swallowed():
    class Config:
        values = {"driversPreinstalled": False, "gpuSharing": "mig"}

        def get(self, key):
            return self.values.get(key)

        get_bool = get_int = get

    s = from_pulumi_config(Config())
    assert s.drivers_preinstalled is False and s.gpu_sharing is GpuSharing.mig
    assert s.prometheus_address == ClusterSettings().prometheus_address


# ------------------------------------------------------------------ conformance


@pytest.mark.parametrize("name", KUBERNETES)
def test_core_objects_pass_kubernetes_validate_strict(objects, name):
    for doc in objects[name] + [d for d in objects["cluster-addons"] if "kind" in d]:
        if doc["kind"] == "ScaledObject":
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


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
    for settings in (
        ClusterSettings(),
        ClusterSettings(gpu_sharing=GpuSharing.time_slicing),
        ClusterSettings(gpu_sharing=GpuSharing.mig),
    ):
        addons = manifests(PROFILES, tmp_path, settings)["cluster-addons"]
        values = next(d for d in addons if d.get("helmRelease") == release)["values"]
        for path in _paths(values):
            node = defaults
            for part in path:
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


def test_the_real_entry_program_runs_under_mocks(monkeypatch):
    from tests.k8s_helpers import mocks

    recorder = mocks.Recorder()
    pulumi.runtime.set_mocks(recorder, project="switchyard", stack="test", preview=False)
    pulumi.runtime.set_all_config({"switchyard:profiles": str(PROFILES), "switchyard:gpuSharing": "mig"})
    monkeypatch.chdir(PROFILES.parent)
    sys.modules.pop("stacks.k8s.__main__", None)

    @pulumi.runtime.test
    def run():
        importlib.import_module("stacks.k8s.__main__")
        return pulumi.Output.from_input(None)

    run()
    names = {r.name for r in recorder.resources}
    assert {"keda-release", "gpu-operator-release", "llm-chat-deployment", "fraud-scoring-scaledobject"} <= names
    release = next(r for r in recorder.resources if r.name == "gpu-operator-release")
    assert release.inputs["values"]["mig"] == {"strategy": "single"}
    assert len([r for r in recorder.resources if r.type == "kubernetes:apps/v1:Deployment"]) == 2
