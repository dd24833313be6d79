"""The hybrid worker's Kubernetes objects: under Pulumi's mocks, against KEDA's CRDs and its
aws-sqs-queue scaler's parsing rules, and the scaler's arithmetic against a real SQS API (moto)."""

from __future__ import annotations

import json
import math
import uuid
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pulumi
import pytest
import yaml

from stacks.errors import SwitchyardError
from stacks.k8s import mocks
from stacks.k8s.hybrid import (
    CREDENTIALS_CONFIG,
    HybridCredentials,
    HybridQueue,
    HybridScaling,
    HybridWorker,
    WorkerResources,
    cooldown_s,
    credentials_from_config,
    grace_period_s,
    messages_per_replica,
    wake_up_s,
)
from stacks.k8s.settings import ClusterSecrets
from stacks.k8s.workload import WorkloadImage
from stacks.packaging import hybrid_worker_spec
from tests.conftest import UPSTREAM
from tests.k8s_helpers import CLUSTER, find
from tests.packaging_helpers import SLOW_PROFILE, workload

QUEUE = HybridQueue(
    queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/Switchyard-embed-AsyncQueue4C2F-abc",
    region="eu-west-1",
    results_bucket="switchyard-embed-results-abc",
)
GPU = WorkerResources(
    cpu_millicores=4000,
    memory_mb=16384,
    pod_start_ms=60_000,
    first_start_ms=120_000,
    model_cache_gi=20,
    gpu_resource="nvidia.com/gpu",
    gpus_per_replica=1,
    gpu_type="L4",
)
SCALING = HybridScaling(replicas_min=0, replicas_max=6, queue_length=messages_per_replica(1, 2.5))
KEYS = HybridCredentials("AKIAWORKER", "worker-secret", "AKIASCALER", "scaler-secret")


def objects(
    queue: HybridQueue = QUEUE,
    scaling: HybridScaling = SCALING,
    resources: WorkerResources = GPU,
    secrets: ClusterSecrets | None = None,
) -> list[dict]:
    recorder = mocks.Recorder()
    pulumi.runtime.set_mocks(recorder, project="switchyard", stack="test", preview=False)
    spec = hybrid_worker_spec(workload(SLOW_PROFILE))
    image = WorkloadImage("registry.local:5000/switchyard/embed:0123456789abcdef", spec, "s3://models/embed/v1/", "v1")

    @pulumi.runtime.test
    def build():
        worker = HybridWorker(
            "embed",
            image=image,
            resources=resources,
            scaling=scaling,
            queue=queue,
            credentials=KEYS,
            settings=CLUSTER,
            namespace="ml-embed",
            ownership={"switchyard.dev/workload": "embed"},
            cluster_secrets=secrets,
        )
        return worker.urn

    build()
    return [mocks.manifest(r) for r in recorder.resources if r.type.startswith("kubernetes:")]


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return objects()


def _crd(file: str) -> dict:
    crd = yaml.safe_load((UPSTREAM / file).read_text())
    return next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")["schema"]["openAPIV3Schema"]


def test_keda_objects_validate_against_the_vendored_crds(docs):
    jsonschema.validate(find(docs, "ScaledObject"), _crd("keda-2.20.2-scaledobjects.crd.yaml"))
    jsonschema.validate(find(docs, "TriggerAuthentication"), _crd("keda-2.20.2-triggerauthentications.crd.yaml"))


@pytest.mark.parametrize("version", ["1.30", "1.34"])
def test_core_objects_pass_kubernetes_validate_strict(docs, version):
    for doc in docs:
        if doc["kind"] not in ("ScaledObject", "TriggerAuthentication", "PodMonitor"):
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_worker_has_no_service_and_takes_only_the_scrapers_traffic(docs):
    kinds = sorted(d["kind"] for d in docs)
    assert "Service" not in kinds and "Ingress" not in kinds and "HTTPRoute" not in kinds
    policy = find(docs, "NetworkPolicy")["spec"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": 8081, "protocol": "TCP"}]
    assert [p["namespaceSelector"]["matchLabels"] for p in ingress["from"]] == [
        {"kubernetes.io/metadata.name": "monitoring"}
    ]
    assert {"port": 443, "protocol": "TCP"} in policy["egress"][2]["ports"]  # SQS and S3 over HTTPS


def test_the_deployment_runs_the_worker_on_a_gpu_with_the_workers_keys_only(docs):
    pod = find(docs, "Deployment")["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    env = {e["name"]: e for e in worker["env"]}
    assert env["QUEUE_URL"]["value"] == QUEUE.queue_url
    assert env["RESULTS_URI"]["value"] == "s3://switchyard-embed-results-abc/results/"
    assert env["AWS_REGION"]["value"] == "eu-west-1"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
        "name": "embed-aws-worker",
        "key": "AWS_ACCESS_KEY_ID",
    }
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "embed-aws-worker"
    assert "AWS_ENDPOINT_URL" not in env  # AWS itself
    mounted = json.dumps(pod)
    assert "embed-aws-scaler" not in mounted  # only KEDA reads the scaler's key
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["runtimeClassName"] == "nvidia"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["NVIDIA-L4"]
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    # The slow model's timeout is 30 s: drain 30 s, exit margin 5 s.
    assert pod["terminationGracePeriodSeconds"] == grace_period_s(30) == 35
    assert pod["initContainers"][0]["name"] == "fetch-weights"


def test_secrets_never_reach_the_manifests(docs):
    for suffix in ("worker", "scaler"):
        secret = find(docs, "Secret", f"embed-aws-{suffix}")
        assert secret["stringData"] == {"AWS_ACCESS_KEY_ID": mocks.REDACTED, "AWS_SECRET_ACCESS_KEY": mocks.REDACTED}
    assert "scaler-secret" not in json.dumps(docs) and "AKIAWORKER" not in json.dumps(docs)


def test_a_cpu_worker_with_an_endpoint_and_weights_keys(tmp_path):
    local = HybridQueue(
        queue_url="http://sqs.storage.svc:4566/000000000000/embed",
        region="us-east-1",
        results_bucket="results",
        endpoint_url="http://sqs.storage.svc:4566",
    )
    cpu = WorkerResources(
        cpu_millicores=1000, memory_mb=2048, pod_start_ms=20_000, first_start_ms=30_000, model_cache_gi=2
    )
    secrets = ClusterSecrets(weights_access_key_id="AKIAWEIGHTS", weights_secret_access_key="w")
    found = objects(local, HybridScaling(replicas_min=1, replicas_max=3, queue_length=4), cpu, secrets)
    pod = find(found, "Deployment")["spec"]["template"]["spec"]
    assert "runtimeClassName" not in pod and "affinity" not in pod
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["AWS_ENDPOINT_URL"] == "http://sqs.storage.svc:4566"
    assert (
        find(found, "ScaledObject")["spec"]["triggers"][0]["metadata"]["awsEndpoint"] == "http://sqs.storage.svc:4566"
    )
    assert find(found, "NetworkPolicy")["spec"]["egress"][2]["ports"] == [{"port": 4566, "protocol": "TCP"}]
    find(found, "Secret", "embed-weights-credentials")


# ------------------------------------------------------------------ KEDA's aws-sqs-queue scaler

# What keda v2.20.2 pkg/scalers/aws_sqs_queue_scaler.go (awsSqsQueueMetadata's `keda:` tags) and
# pkg/scalers/aws/aws_common.go (GetAwsAuthorization) read, restated here: name -> (where KEDA looks,
# kind, default; None: required, "optional": may be absent).
SQS_TRIGGER = {
    "queueLength": (("triggerMetadata",), int, "5"),
    "activationQueueLength": (("triggerMetadata",), int, "0"),
    "queueURL": (("triggerMetadata", "resolvedEnv"), str, None),
    "awsRegion": (("triggerMetadata", "authParams"), str, None),
    "awsEndpoint": (("triggerMetadata",), str, "optional"),
    "scaleOnInFlight": (("triggerMetadata",), bool, "true"),
    "scaleOnDelayed": (("triggerMetadata",), bool, "false"),
    "identityOwner": (("triggerMetadata",), str, "optional"),
}
GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
            "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}  # fmt: skip


def parse_sqs_trigger(metadata: dict[str, str], auth_params: dict[str, str], pod_identity: str) -> dict:
    """KEDA's typed config over the trigger, strictly: an unknown key is an error here (KEDA only
    warns, with KEDA_CHECK_UNEXPECTED_SCALERS_PARAMS), so a misspelt key cannot pass silently."""
    unknown = set(metadata) - set(SQS_TRIGGER) - {"queueURLFromEnv"}
    assert not unknown, f"keys KEDA's aws-sqs-queue scaler does not read: {unknown}"
    parsed: dict = {}
    for key, (orders, kind, default) in SQS_TRIGGER.items():
        sources = {"triggerMetadata": metadata, "authParams": auth_params, "resolvedEnv": {}}
        raw = next((sources[o][key].strip() for o in orders if sources[o].get(key, "").strip()), None)
        if raw is None:
            assert default is not None, f"missing required parameter {key!r} in {list(orders)}"
            if default == "optional":
                continue
            raw = default
        if kind is int:
            parsed[key] = json.loads(raw)  # Go's json.Unmarshal into int64: "5" yes, "5.0" or "05" no
            assert type(parsed[key]) is int, f"{key}: {raw!r} is not an integer"
        elif kind is bool:
            assert raw in GO_BOOLS, f"{key}: {raw!r} is not a Go boolean"
            parsed[key] = GO_BOOLS[raw]
        else:
            parsed[key] = raw
    url = urlsplit(parsed["queueURL"])
    if url.scheme:  # url.ParseRequestURI succeeded: the name is the path's second segment
        parts = url.path.split("/")
        assert len(parts) == 3 and parts[2], "cannot get queueName from queueURL"
    # Static keys: podIdentity none and identityOwner pod (the default) read them from authParams.
    if pod_identity != "aws" and metadata.get("identityOwner", "") in ("", "pod"):
        assert auth_params.get("awsAccessKeyID") or auth_params.get("awsAccessKeyId"), "awsAccessKeyID not found"
        assert auth_params.get("awsSecretAccessKey"), "awsSecretAccessKey not found"
    return parsed


def auth_params(docs: list[dict], trigger_auth: str) -> tuple[dict[str, str], str]:
    """What KEDA resolves from the TriggerAuthentication: each parameter from the Secret key it names."""
    spec = find(docs, "TriggerAuthentication", trigger_auth)["spec"]
    found = {}
    for ref in spec["secretTargetRef"]:
        secret = find(docs, "Secret", ref["name"])
        assert secret["metadata"]["namespace"] == "ml-embed"  # KEDA reads it from the trigger's namespace
        assert ref["key"] in secret["stringData"], f"{ref['name']} has no key {ref['key']}"
        found[ref["parameter"]] = f"<{ref['name']}/{ref['key']}>"
    return found, spec["podIdentity"]["provider"]


def test_the_trigger_is_exactly_what_kedas_scaler_parses(docs):
    so = find(docs, "ScaledObject")["spec"]
    (trigger,) = so["triggers"]
    assert trigger["type"] == "aws-sqs-queue" and trigger["metricType"] == "AverageValue"
    params, provider = auth_params(docs, trigger["authenticationRef"]["name"])
    assert set(params) == {"awsAccessKeyID", "awsSecretAccessKey"} and provider == "none"
    parsed = parse_sqs_trigger(trigger["metadata"], params, provider)
    assert parsed == {
        "queueLength": 1 + math.ceil(2.5 * 30),  # one in flight plus 30 s of the replica's 2.5 rps
        "activationQueueLength": 0,
        "queueURL": QUEUE.queue_url,
        "awsRegion": "eu-west-1",
        "scaleOnInFlight": True,
        "scaleOnDelayed": False,
    }
    assert so["minReplicaCount"] == 0 and so["maxReplicaCount"] == 6
    assert so["pollingInterval"] == 30
    assert so["cooldownPeriod"] == cooldown_s() == 300
    assert so["fallback"] == {"failureThreshold": 3, "replicas": 1, "behavior": "currentReplicasIfHigher"}


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({"queueLength": "5.0"}, "not an integer"),
        ({"scaleOnInFlight": "yes"}, "not a Go boolean"),
        ({"queueUrl": "https://x"}, "does not read"),
        ({"queueURL": "https://sqs.us-east-1.amazonaws.com/q"}, "cannot get queueName"),
    ],
)
def test_the_parser_mirror_refuses_what_keda_refuses(metadata, problem):
    base = {"queueURL": QUEUE.queue_url, "awsRegion": "us-east-1"}
    keys = {"awsAccessKeyID": "a", "awsSecretAccessKey": "b"}
    with pytest.raises(AssertionError, match=problem):
        parse_sqs_trigger({**base, **metadata}, keys, "none")
    with pytest.raises(AssertionError, match="awsSecretAccessKey not found"):
        parse_sqs_trigger(base, {"awsAccessKeyID": "a"}, "none")


def test_the_scalers_reading_against_sqs_counts_in_flight_messages(s3_admin):
    """The attributes KEDA requests (ApproximateNumberOfMessages, + NotVisible with scaleOnInFlight),
    summed as the scaler sums them: a message being worked keeps its replica, and a visible one
    wakes the first replica from zero."""
    import boto3

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"k{uuid.uuid4().hex[:10]}", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    trigger = parse_sqs_trigger(
        {"queueURL": url, "queueLength": "2", "activationQueueLength": "0", "awsRegion": "us-east-1"},
        {"awsAccessKeyID": "a", "awsSecretAccessKey": "b"},
        "none",
    )
    names = ["ApproximateNumberOfMessages"] + (
        ["ApproximateNumberOfMessagesNotVisible"] if trigger["scaleOnInFlight"] else []
    )

    def reading() -> tuple[int, bool, int]:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        value = sum(int(attributes[n]) for n in names)
        return value, value > trigger["activationQueueLength"], math.ceil(value / trigger["queueLength"])

    assert reading() == (0, False, 0)
    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"inputs": [n]}))
    assert reading() == (5, True, 3)
    held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5)["Messages"]
    assert reading() == (5, True, 3)  # all in flight: the replicas working them stay
    for m in held[:4]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert reading() == (1, True, 1)  # one still being worked: not scaled to zero under it


def test_scale_to_zero_arithmetic():
    assert wake_up_s(60_000) == 30 + 60 + 60  # poll, SQS's lag, a pod start
    assert cooldown_s(30) == 300 and cooldown_s(200) == 460
    assert messages_per_replica(4, 0.1) == 7
    with pytest.raises(ValueError, match="queue_length 0"):
        HybridScaling(replicas_min=0, replicas_max=2, queue_length=0)
    with pytest.raises(ValueError, match="replicas 3-2"):
        HybridScaling(replicas_min=3, replicas_max=2, queue_length=1)


# ------------------------------------------------------------------ credentials from stack config


class Config:
    def __init__(self, values: dict) -> None:
        self.values = values

    def get_object(self, key: str):
        return self.values.get(key)


def test_credentials_come_from_secret_stack_config_per_workload():
    fields = {
        "workerAccessKeyId": "A",
        "workerSecretAccessKey": "B",
        "scalerAccessKeyId": "C",
        "scalerSecretAccessKey": "D",
    }
    creds = credentials_from_config(Config({CREDENTIALS_CONFIG: {"embed": fields}}), "embed")
    assert all(isinstance(v, pulumi.Output) for v in vars(creds).values())
    with pytest.raises(
        SwitchyardError, match=r"(?s)hybridCredentials\.embed: missing or empty scalerSecretAccessKey.*--path"
    ):
        credentials_from_config(
            Config({CREDENTIALS_CONFIG: {"embed": {**fields, "scalerSecretAccessKey": " "}}}), "embed"
        )
    with pytest.raises(SwitchyardError, match="missing or empty workerAccessKeyId, workerSecretAccessKey"):
        credentials_from_config(Config({}), "embed")

    class StackFile(Config):
        readable_secrets = False  # a review render cannot decrypt: placeholders

    shown = credentials_from_config(StackFile({}), "embed")
    assert shown.worker_access_key_id == "<secret switchyard:hybridCredentials.embed.workerAccessKeyId>"
