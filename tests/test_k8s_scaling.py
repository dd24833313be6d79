"""Scaling, availability and the queue's Redis in the Pulumi program's objects (run under mocks)."""

from __future__ import annotations

import jsonschema
import kubernetes_validate
import pytest
import yaml

from stacks.k8s.mocks import REDACTED
from stacks.k8s.settings import ClusterSettings, MetricsDiscovery, RedisMode
from stacks.packaging import claim_idle_ms
from stacks.profile import Target
from stacks.profile.loader import load_profile
from stacks.targets import decide
from tests.conftest import SHARED_UPSTREAM
from tests.k8s_helpers import find, manifests
from tests.runtime_helpers import slow_profile

pytestmark = pytest.mark.timeout(120)
KUBERNETES = {"name: slow-model\n": "name: slow-model\ntarget: kubernetes\n", "peak_rps: 2": "peak_rps: 400"}


def objects(tmp_path, edits: dict[str, str], settings: ClusterSettings | None = None):
    profile = slow_profile(tmp_path / "profiles", {**KUBERNETES, **edits})
    docs = manifests(profile.parent, tmp_path / "build", settings or ClusterSettings())["slow-model"]
    return decide(load_profile(profile)).decision.option(Target.kubernetes).sizing, docs


def crd_schema(file: str) -> dict:
    path = SHARED_UPSTREAM / file
    if not path.exists():
        pytest.skip(f"upstream data {path} is absent (see ../shared/upstream/PROVENANCE.md)")
    crd = yaml.safe_load(path.read_text())
    return next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")["schema"]["openAPIV3Schema"]


def env(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_both_mode_scales_on_http_and_the_queue_with_an_authenticated_redis(tmp_path):
    _k, docs = objects(tmp_path, {})  # the fixture's mode is both
    so = find(docs, "ScaledObject")["spec"]
    http, queue, pending = so["triggers"]
    assert http["type"] == "prometheus" and "switchyard_request_duration_seconds_sum" in http["metadata"]["query"]
    assert queue["type"] == pending["type"] == "redis-streams"
    assert queue["metadata"]["stream"] == "slow-model:queue" and queue["metadata"]["consumerGroup"] == "workers"
    # KEDA's scaler reads one figure per trigger: lag (undelivered) in one, pending (delivered, not
    # acknowledged: a killed worker's message) in the other.
    assert "lagCount" in queue["metadata"] and "pendingEntriesCount" not in queue["metadata"]
    assert pending["metadata"]["pendingEntriesCount"] == str(_k.replica_concurrency)
    assert "lagCount" not in pending["metadata"] and pending["authenticationRef"] == queue["authenticationRef"]
    ns = find(docs, "Namespace")["metadata"]["name"]  # the platform prefixes it
    assert queue["metadata"]["address"] == f"slow-model-redis.{ns}.svc:6379"
    assert so["minReplicaCount"] >= 1  # it also serves HTTP
    auth = find(docs, "TriggerAuthentication", "slow-model-redis")
    assert queue["authenticationRef"] == {"name": "slow-model-redis"}
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "password", "name": "slow-model-redis", "key": "password"}]
    secret = find(docs, "Secret", "slow-model-redis")
    assert secret["stringData"] == {"password": REDACTED, "auth.conf": REDACTED}  # never a real password in k8s.out
    redis = find(docs, "Deployment", "slow-model-redis")["spec"]
    assert redis["strategy"] == {"type": "Recreate"}
    (container,) = redis["template"]["spec"]["containers"]
    # The password reaches Redis in a config file from the Secret, never on its command line.
    args = container["args"]
    assert "--requirepass" not in args and not any("PASSWORD" in a for a in args) and "env" not in container
    assert args[0] == "/etc/redis-auth/auth.conf" and "--appendonly" in args
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/redis-auth")
    volume = next(v for v in redis["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert mount["readOnly"] and volume["secret"]["secretName"] == "slow-model-redis"
    # Bounded by the sizing: maxmemory, no eviction, and a container limit above it.
    q = _k.queue
    assert args[args.index("--maxmemory") + 1] == f"{q.maxmemory_mb}mb"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert container["resources"]["limits"]["memory"] == container["resources"]["requests"]["memory"]
    assert container["resources"]["limits"]["memory"] == f"{q.memory_limit_mb}Mi" and q.memory_limit_mb > q.maxmemory_mb
    claim = find(docs, "PersistentVolumeClaim", "slow-model-redis-data")["spec"]
    assert claim["resources"]["requests"]["storage"] == f"{q.volume_gi}Gi"
    pdb = find(docs, "PodDisruptionBudget", "slow-model-redis")["spec"]
    assert pdb["minAvailable"] == 1 and pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["selector"]["matchLabels"] == redis["selector"]["matchLabels"]
    server = next(c for c in find(docs, "Deployment", "slow-model")["spec"]["template"]["spec"]["containers"])
    e = env(server)
    assert e["QUEUE_URL"] == f"redis://slow-model-redis.{ns}.svc:6379/0" and e["QUEUE_NAME"] == "slow-model:queue"
    assert e["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "slow-model-redis", "key": "password"}}
    assert e["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    policy = find(docs, "NetworkPolicy", "slow-model-redis")["spec"]
    peers = policy["ingress"][0]["from"]
    assert {
        "podSelector": {"matchLabels": find(docs, "Deployment", "slow-model")["spec"]["selector"]["matchLabels"]}
    } in peers
    jsonschema.validate(find(docs, "ScaledObject"), crd_schema("keda-2.20.2-scaledobjects.crd.yaml"))
    jsonschema.validate(auth, crd_schema("keda-2.20.2-triggerauthentications.crd.yaml"))
    for doc in docs:
        if doc["kind"] not in ("ScaledObject", "PodMonitor", "TriggerAuthentication"):
            kubernetes_validate.validate(doc, "1.33", strict=True)


def test_queue_only_workloads_may_scale_to_zero_http_ones_never(tmp_path):
    # 99 % availability and a 60 s budget: the decision wants no warm replica.
    k, docs = objects(
        tmp_path / "a", {"mode: both": "mode: async", "timeout_s: 30": "availability: 99\n  timeout_s: 30"}
    )
    so = find(docs, "ScaledObject")["spec"]
    assert k.min_replicas == 0 and so["minReplicaCount"] == 0
    assert [t["name"] for t in so["triggers"]] == ["queue-lag", "queue-pending"]
    # A worker killed holding a message leaves it pending (lag 0): the pending trigger keeps a
    # replica, and zero comes only after the message could have been reclaimed.
    assert so["cooldownPeriod"] > claim_idle_ms(30) / 1000 + so["pollingInterval"]
    # Redis down: its replicas cannot work, so the fallback never raises them (no GPU crash-loop).
    assert so["fallback"]["behavior"] == "currentReplicasIfLower" and so["fallback"]["replicas"] == 1
    jsonschema.validate(find(docs, "ScaledObject"), crd_schema("keda-2.20.2-scaledobjects.crd.yaml"))
    k, docs = objects(
        tmp_path / "s", {"mode: both": "mode: sync", "timeout_s: 30": "availability: 99\n  timeout_s: 30"}
    )
    so = find(docs, "ScaledObject")["spec"]
    assert k.min_replicas == 1 and so["minReplicaCount"] == 1
    assert so["fallback"] == {"failureThreshold": 3, "replicas": so["maxReplicaCount"]}  # HTTP: hold the peak
    assert not any(d["metadata"]["name"].endswith("-redis") for d in docs)


def test_availability_spreads_replicas_across_nodes_and_bounds_disruption(tmp_path):
    k, docs = objects(tmp_path, {"timeout_s: 30": "availability: 99.99\n  timeout_s: 30"})
    assert k.availability_min_replicas == 3 and k.spread_across_nodes
    spec = find(docs, "Deployment", "slow-model")["spec"]
    assert spec["replicas"] == 3
    (spread,) = spec["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    assert spec["strategy"]["rollingUpdate"] == {
        "maxSurge": k.rollout_max_surge,
        "maxUnavailable": k.rollout_max_unavailable,
    }
    assert find(docs, "PodDisruptionBudget", "slow-model")["spec"]["maxUnavailable"] == k.pdb_max_unavailable
    assert find(docs, "ScaledObject")["spec"]["minReplicaCount"] == 3


def test_annotations_mode_and_custom_monitor_labels(tmp_path):
    settings = ClusterSettings(metrics_discovery=MetricsDiscovery.annotations)
    _, docs = objects(tmp_path / "a", {}, settings)
    assert not [d for d in docs if d["kind"] == "PodMonitor"]
    annotations = find(docs, "Deployment", "slow-model")["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics",
    }
    settings = ClusterSettings(pod_monitor_labels={"prometheus": "main"}, scrape_interval_s=30)
    _, docs = objects(tmp_path / "b", {}, settings)
    monitor = find(docs, "PodMonitor")
    assert monitor["metadata"]["labels"]["prometheus"] == "main"
    assert monitor["spec"]["podMetricsEndpoints"][0]["interval"] == "30s"
    so = find(docs, "ScaledObject")["spec"]
    assert so["pollingInterval"] >= 30 and "[120s]" in so["triggers"][0]["metadata"]["query"]


def test_existing_redis_takes_its_password_from_stack_config_into_a_secret_the_program_creates(tmp_path):
    """The workload's namespace is created by the same `pulumi up`: a Secret the operator was meant to
    put there beforehand cannot exist, so the pods and KEDA would wait on it until the rollout times
    out. The password comes from secret stack config instead, into a Secret the program creates."""
    from stacks.k8s.settings import ClusterSecrets

    settings = ClusterSettings(redis_mode=RedisMode.existing, redis_address="queue.shared:6379")
    profile = slow_profile(tmp_path / "profiles", KUBERNETES)
    docs = manifests(profile.parent, tmp_path / "build", settings, ClusterSecrets(api_key="k", redis_password="pw"))[
        "slow-model"
    ]
    assert not [
        d for d in docs if d["kind"] in ("Deployment", "Service") and d["metadata"]["name"] == "slow-model-redis"
    ]
    trigger = find(docs, "ScaledObject")["spec"]["triggers"][1]
    assert trigger["metadata"]["address"] == "queue.shared:6379"
    auth = find(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    (ref,) = auth["spec"]["secretTargetRef"]
    assert secrets[ref["name"]]["stringData"] == {ref["key"]: REDACTED}
    server = find(docs, "Deployment", "slow-model")["spec"]["template"]["spec"]["containers"][0]
    password = env(server)["REDIS_PASSWORD"]["secretKeyRef"]
    assert password["name"] in secrets and password["key"] in secrets[password["name"]]["stringData"]


def test_existing_redis_without_a_password_has_no_auth_to_wait_on(tmp_path):
    settings = ClusterSettings(redis_mode=RedisMode.existing, redis_address="queue.shared:6379")
    _, docs = objects(tmp_path, {}, settings)
    assert not [
        d for d in docs if d["kind"] in ("Secret", "TriggerAuthentication") and "redis" in d["metadata"]["name"]
    ]
    assert "authenticationRef" not in find(docs, "ScaledObject")["spec"]["triggers"][1]


def test_a_stack_that_names_a_password_secret_nobody_can_create_in_time_is_refused():
    from stacks.errors import SwitchyardError
    from stacks.k8s.settings import from_pulumi_config

    class Config:
        def get(self, k):
            return "q" if k == "redisPasswordSecret" else None

        get_bool = get_object = get

    with pytest.raises(
        SwitchyardError, match=r"switchyard:redisPasswordSecret .*pulumi config set --secret switchyard:redisPassword"
    ):
        from_pulumi_config(Config())


def test_every_volume_claim_names_a_storage_class_the_stack_chose(tmp_path):
    """Bare-metal clusters often have no default StorageClass: a claim without one stays Pending,
    and the queue's Redis with it. Every claim names the class the stack configured."""
    _, docs = objects(tmp_path, {}, ClusterSettings(model_storage_class="cephfs"))
    claims = {
        d["metadata"]["name"]: d["spec"].get("storageClassName") for d in docs if d["kind"] == "PersistentVolumeClaim"
    }
    assert claims == {"slow-model-model-cache": "cephfs", "slow-model-redis-data": "cephfs"}
    _, docs = objects(
        tmp_path / "b", {}, ClusterSettings(model_storage_class="cephfs", queue_storage_class="local-nvme")
    )
    redis = find(docs, "PersistentVolumeClaim", "slow-model-redis-data")["spec"]
    assert redis["storageClassName"] == "local-nvme" and redis["accessModes"] == ["ReadWriteOnce"]
