"""Cluster settings: each default here, overridden by Pulumi stack config (namespace `switchyard`).

Stack config carries plumbing only (contexts, registry, addresses, which add-ons to install):
facts the decision and its cost depend on, such as the GPU sharing mode, live in the platform
settings (`platform.yaml`, stacks/pricebook.py) and a stack that sets them is refused.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stacks.errors import ProfileError, SwitchyardError
from stacks.k8s import api_keys
from stacks.k8s.vendor import GPU_OPERATOR, KEDA, KEDA_HTTP_NAMESPACE
from stacks.profile.names import CREDENTIALS_CONFIG, FRONTS_CONFIG
from stacks.profile.safe_yaml import parse, read_text

K8S_VERSION = r"^1\.(3[0-9]|[4-9][0-9])$"
# The distribution reference grammar, as the kubelet parses an image name: a host (any case, optional
# port), then lowercase path components; the program appends /<workload>:<tag>.
IMAGE_REGISTRY = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]+)?"
    r"(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*"
)
# Features the program uses only from the Kubernetes minor that has them on by default.
FEATURES = {
    "preStop sleep action": "1.30",  # the drain's preStop without a shell in the image
    "ValidatingAdmissionPolicy v1": "1.30",  # the never-adopt guard
    "Service trafficDistribution": "1.31",  # prefer endpoints close to the caller
    # nodeTaintsPolicy / nodeAffinityPolicy: beta and on by default since 1.26, GA in 1.33
    "topologySpread nodeTaintsPolicy": "1.26",
}


class MetricsDiscovery(StrEnum):
    pod_monitor = "pod-monitor"
    annotations = "annotations"


class RedisMode(StrEnum):
    deploy = "deploy"
    existing = "existing"


class ClusterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    profiles: str = Field("profiles", description="directory of profiles, relative to the project root")
    kube_context: str | None = Field(None, description="kubeconfig context; the current context when unset")
    min_kubernetes_version: str = Field(
        "1.30",
        pattern=K8S_VERSION,
        description="oldest Kubernetes minor of the cluster, 1.30 or later (preStop sleep, ValidatingAdmissionPolicy v1); newer minors turn on features that need them",
    )
    drivers_preinstalled: bool = Field(
        True, description="nodes have the NVIDIA driver (typical bare metal): the GPU Operator does not install one"
    )
    toolkit_preinstalled: bool = Field(
        False,
        description="nodes also have the NVIDIA container toolkit configured in containerd: the GPU Operator "
        "does not install its own (it still creates the nvidia RuntimeClass, which needs one of the two)",
    )
    never_adopt_guard: bool = Field(
        True,
        description="install the cluster-wide admission policy that refuses Switchyard's label on a namespace it "
        "did not create (shared by every stack on the cluster; false: the cluster's own policy engine does this)",
    )
    install_gpu_operator: bool = Field(
        True, description="install the NVIDIA GPU Operator (false: the cluster runs one)"
    )
    install_keda: bool = Field(True, description="install KEDA (false: the cluster runs one)")
    install_nfd: bool = Field(
        True, description="install Node Feature Discovery with the GPU Operator (false: the cluster runs NFD)"
    )
    gpu_operator_namespace: str = Field(GPU_OPERATOR.namespace, description="namespace of the GPU Operator")
    keda_namespace: str = Field(KEDA.namespace, description="namespace of KEDA (and its HTTP add-on)")
    monitoring_namespace: str = Field("monitoring", description="namespace of Prometheus (scrapes the pods)")
    service_monitor_labels: dict[str, str] = Field(
        default_factory=lambda: {"release": "kube-prometheus-stack"},
        description="labels on the DCGM exporter ServiceMonitor so the cluster's Prometheus selects it",
    )
    prometheus_address: str = Field(
        "http://prometheus-operated.monitoring.svc:9090", description="Prometheus that scrapes the serving pods"
    )
    image_registry: str = Field("registry.local:5000/switchyard", description="where built images are pushed")
    model_storage_class: str | None = Field(
        None, description="storage class of the shared model cache; must offer ReadWriteMany (cephfs, nfs-csi, ...)"
    )
    queue_storage_class: str | None = Field(
        None,
        description="redisMode deploy: storage class of each Redis's ReadWriteOnce volume; modelStorageClass "
        "when unset (a claim without one waits for a default class many bare-metal clusters do not have)",
    )
    weights_base_uri: str = Field(
        "s3://switchyard-models",
        description="where profiles with local weights have them uploaded (<base>/<name>/<version>/)",
    )
    metrics_discovery: MetricsDiscovery = Field(
        MetricsDiscovery.pod_monitor,
        description="pod-monitor: a PodMonitor per workload (Prometheus Operator) | annotations: prometheus.io/* pod annotations",
    )
    pod_monitor_labels: dict[str, str] = Field(
        default_factory=lambda: {"release": "kube-prometheus-stack"},
        description="labels the cluster's Prometheus selects PodMonitors by (its podMonitorSelector)",
    )
    scrape_interval_s: int = Field(
        15, ge=1, le=300, description="how often Prometheus scrapes the serving pods; KEDA polls no faster"
    )
    redis_mode: RedisMode = Field(
        RedisMode.deploy,
        description="deploy: a password-protected Redis per async workload | existing: use redisAddress "
        "(password: secret config switchyard:redisPassword)",
    )
    redis_address: str = Field(
        "redis.switchyard.svc:6379", description="redis_mode existing: host:port of the Redis the queues live in"
    )
    weights_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint of the weights store (MinIO, Ceph RGW); AWS S3 when unset"
    )
    weights_endpoint_pod_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="port the weights store's pods listen on, which NetworkPolicy matches (it sees the pod "
        "behind a Service, never the Service port); unset: the endpoint URL's port, except an in-cluster "
        "Service on port 80, which Rook Ceph RGW serves from pod port 8080",
    )
    weights_region: str = Field("us-east-1", description="region the weights store expects in signatures")
    weights_egress_cidrs: list[str] = Field(
        default_factory=lambda: ["0.0.0.0/0"],
        description="addresses the init container may reach the weights store at (narrow it to the store's)",
    )
    dns_egress_cidrs: list[str] = Field(
        default_factory=lambda: ["169.254.0.0/16"],
        description="addresses besides kube-system's pods the pods resolve names at, on port 53: NodeLocal "
        "DNSCache listens on a link-local address on every node (169.254.20.10 upstream, 169.254.25.10 as "
        "kubespray deploys it), which no namespace selector matches",
    )
    client_namespaces: list[str] = Field(
        default_factory=list, description="namespaces whose pods may call the workloads inside the cluster"
    )
    expose: Literal["none", "gateway", "ingress"] = Field(
        "none", description="reach workloads from outside: a Gateway API HTTPRoute or an Ingress per workload"
    )
    gateway_name: str = Field("switchyard", description="Gateway the HTTPRoutes attach to (expose: gateway)")
    gateway_namespace: str = Field("gateway", description="namespace of that Gateway (its pods may call in)")
    gateway_implementation: Literal["generic", "envoy-gateway", "cilium"] = Field(
        "generic",
        description="what runs the Gateway's data plane, which the workloads' NetworkPolicy must admit: generic "
        "(proxies in gatewayNamespace) | envoy-gateway (proxies in envoyGatewayNamespace, or in gatewayNamespace "
        "in Gateway Namespace Mode) | cilium (Cilium's per-node Envoy, seen as the `ingress` identity: a "
        "CiliumNetworkPolicy admits it)",
    )
    envoy_gateway_namespace: str = Field(
        "envoy-gateway-system", description="Envoy Gateway's controller namespace, where its proxies run by default"
    )
    ingress_class: str = Field("nginx", description="IngressClass (expose: ingress)")
    ingress_namespace: str = Field("ingress-nginx", description="namespace of the ingress controller's pods")
    public_domain: str = Field(
        "inference.example.com", description="external host of a workload: <name>.<public_domain>"
    )
    gateway_tls: bool = Field(
        True,
        description="the Gateway's listener for *.<public_domain> terminates TLS (expose: gateway); false: plain HTTP",
    )
    tls_cluster_issuer: str | None = Field(
        None,
        description="cert-manager ClusterIssuer that issues each Ingress its certificate (expose: ingress); "
        "unset: the Ingress serves plain HTTP",
    )

    # Private-registry and air-gapped clusters (stacks/k8s/mirrors.py): each unset means the public source.
    image_mirror: str | None = Field(
        None,
        description="registry prefix holding copies of the third-party images (aws-cli, redis, the python/CUDA/vLLM "
        "bases): pulled as <imageMirror>/<repository>:<tag>; switchyard publish copies them there",
    )
    gpu_operator_chart_repo: str | None = Field(
        None,
        pattern=r"^(https?|oci)://\S+$",
        description="Helm repository (https://) or OCI registry (oci://) "
        "holding the pinned GPU Operator chart, instead of NVIDIA's",
    )
    keda_chart_repo: str | None = Field(
        None,
        pattern=r"^(https?|oci)://\S+$",
        description="Helm repository (https://) or OCI registry (oci://) "
        "holding the pinned KEDA chart, instead of kedacore's",
    )
    weights_mirror_uri: str | None = Field(
        None,
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$",
        description="s3://bucket/prefix on the cluster's weights store (weightsEndpointUrl) where profiles' s3:// "
        "weights are mirrored, as <uri>/<source bucket>/<source prefix>; switchyard publish copies them",
    )

    @field_validator("image_registry", "image_mirror")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not IMAGE_REGISTRY.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an image repository prefix: host[:port]/path, no scheme, lowercase path "
                "(e.g. registry.local:5000/switchyard)"
            )
        return value

    @field_validator("weights_egress_cidrs", "dns_egress_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an IPv4 or IPv6 CIDR (e.g. 10.20.0.0/16)") from None
        return value

    def weights_pod_port(self) -> int:
        """The port the init container's connections reach the weights store's pods on."""
        if self.weights_endpoint_pod_port:
            return self.weights_endpoint_pod_port
        if not self.weights_endpoint_url:
            return 443
        url = urlsplit(self.weights_endpoint_url)
        port = url.port or (80 if url.scheme == "http" else 443)
        host = (url.hostname or "").split(".")
        if port == 80 and len(host) >= 3 and host[2] == "svc":
            return 8080  # Rook's CephObjectStore: Service port 80 -> RGW container port 8080
        return port

    def supports(self, feature: str) -> bool:
        need = tuple(int(x) for x in FEATURES[feature].split("."))
        return tuple(int(x) for x in self.min_kubernetes_version.split(".")) >= need

    @property
    def queue_namespace(self) -> str | None:
        """redisMode existing: `redis.switchyard.svc:6379` -> `switchyard`; None for an address outside
        the cluster, and with redisMode deploy (each workload's Redis lives in its own namespace)."""
        if self.redis_mode is RedisMode.deploy:
            return None
        host = self.redis_address.rsplit(":", 1)[0].split(".")
        return host[1] if len(host) >= 3 and host[2] == "svc" else None

    def addon_namespaces(self) -> dict[str, str]:
        """Every namespace the program manages or is configured to use, by add-on."""
        found = {
            "GPU Operator": self.gpu_operator_namespace,
            "KEDA": self.keda_namespace,
            "KEDA HTTP add-on": self.keda_namespace or KEDA_HTTP_NAMESPACE,
            "monitoring": self.monitoring_namespace,
        }
        if self.queue_namespace:
            found["queue (Redis)"] = self.queue_namespace
        if self.expose == "gateway":
            found["Gateway"] = self.gateway_namespace
        if self.expose == "ingress":
            found["ingress controller"] = self.ingress_namespace
        return found


@dataclass(frozen=True)
class ClusterSecrets:
    """Secret stack config (`pulumi config set --secret`); Pulumi Outputs under `pulumi up`."""

    api_key: Any = None  # the stack's master key; each workload's is derived from it (stacks/k8s/api_keys.py)
    weights_access_key_id: Any = None
    weights_secret_access_key: Any = None
    redis_password: Any = None  # redisMode existing: the queue's password (none: no auth)
    api_keys: dict[str, dict[str, str]] | None = None  # per-workload overrides: {workload: {caller: key}}


CONFIG_KEYS = {  # Pulumi config key -> field
    "profiles": "profiles",
    "kubeContext": "kube_context",
    "minKubernetesVersion": "min_kubernetes_version",
    "driversPreinstalled": "drivers_preinstalled",
    "toolkitPreinstalled": "toolkit_preinstalled",
    "neverAdoptGuard": "never_adopt_guard",
    "installGpuOperator": "install_gpu_operator",
    "installKeda": "install_keda",
    "installNfd": "install_nfd",
    "gpuOperatorNamespace": "gpu_operator_namespace",
    "kedaNamespace": "keda_namespace",
    "monitoringNamespace": "monitoring_namespace",
    "serviceMonitorLabels": "service_monitor_labels",
    "prometheusAddress": "prometheus_address",
    "imageRegistry": "image_registry",
    "modelStorageClass": "model_storage_class",
    "queueStorageClass": "queue_storage_class",
    "weightsBaseUri": "weights_base_uri",
    "weightsEndpointUrl": "weights_endpoint_url",
    "weightsRegion": "weights_region",
    "weightsEndpointPodPort": "weights_endpoint_pod_port",
    "weightsEgressCidrs": "weights_egress_cidrs",
    "redisAddress": "redis_address",
    "metricsDiscovery": "metrics_discovery",
    "podMonitorLabels": "pod_monitor_labels",
    "scrapeIntervalSeconds": "scrape_interval_s",
    "redisMode": "redis_mode",
    "dnsEgressCidrs": "dns_egress_cidrs",
    "clientNamespaces": "client_namespaces",
    "expose": "expose",
    "gatewayName": "gateway_name",
    "gatewayNamespace": "gateway_namespace",
    "gatewayImplementation": "gateway_implementation",
    "envoyGatewayNamespace": "envoy_gateway_namespace",
    "ingressClass": "ingress_class",
    "ingressNamespace": "ingress_namespace",
    "publicDomain": "public_domain",
    "gatewayTls": "gateway_tls",
    "tlsClusterIssuer": "tls_cluster_issuer",
    "imageMirror": "image_mirror",
    "gpuOperatorChartRepo": "gpu_operator_chart_repo",
    "kedaChartRepo": "keda_chart_repo",
    "weightsMirrorUri": "weights_mirror_uri",
}
SECRET_KEYS = {
    "apiKey": "api_key",
    "weightsAccessKeyId": "weights_access_key_id",
    "weightsSecretAccessKey": "weights_secret_access_key",
    "redisPassword": "redis_password",
}
# Per hybrid workload, read by stacks/k8s/hybrid_workloads.py and stacks/k8s/hybrid.py (the front's
# CDK outputs, the IAM users' keys as secrets): what synth's next step tells the operator to set.
HYBRID_KEYS = (FRONTS_CONFIG, CREDENTIALS_CONFIG)
# Facts the decision and cost read: they live in the platform settings, never in stack config.
MOVED_TO_PLATFORM = {
    "gpuSharing": "gpu_sharing",
    "timeSlicingReplicas": "time_slicing_replicas",
    "migStrategy": "mig_strategy",
}


def _stack_keys(config: Any) -> list[str]:
    """The switchyard:* keys the stack sets (pulumi.Config cannot list them: the runtime's map can)."""
    keys = getattr(config, "keys", None)
    if callable(keys):
        return list(keys())
    from pulumi.runtime import config as runtime  # heavy: only under the engine (or its mocks)

    every = {**runtime.get_config_env(), **runtime.CONFIG.get()}
    return [k.split(":", 1)[1] for k in every if k.startswith("switchyard:")]


def _unknown_keys(config: Any) -> None:
    """Pulumi hands the program whatever keys the stack sets and ignores the rest: a misspelt
    `installKEDA: "false"` would install KEDA a second time, a misspelt endpoint would talk to AWS."""
    known = {*CONFIG_KEYS, *SECRET_KEYS, "apiKeys", *MOVED_TO_PLATFORM, "redisPasswordSecret", *HYBRID_KEYS}
    for key in sorted(set(_stack_keys(config)) - known):
        close = difflib.get_close_matches(key, sorted(known), n=1) or [
            k for k in sorted(known) if k.lower() == key.lower()
        ]
        raise SwitchyardError(
            f"stack config switchyard:{key} is not a Switchyard setting: the program would ignore it\n"
            "    allowed: the keys of stacks/k8s/settings.py (CONFIG_KEYS, SECRET_KEYS)\n"
            + (f"    hint: did you mean switchyard:{close[0]}? " if close else "    hint: ")
            + f"pulumi config rm switchyard:{key}"
        )


def from_pulumi_config(config: Any) -> ClusterSettings:
    """Only the keys a stack sets are passed on: the defaults live in the model alone."""
    _unknown_keys(config)
    for key, field in MOVED_TO_PLATFORM.items():
        if config.get(key) is not None:
            raise SwitchyardError(
                f"stack config switchyard:{key} is no longer a cluster setting: the GPU sharing mode is a fact "
                f"the plan and its cost depend on, so it lives in the platform settings\n"
                f"    allowed: platform.{field} in platform.yaml beside the profiles\n"
                f"    hint: pulumi config rm switchyard:{key}"
            )
    if config.get("redisPasswordSecret") is not None:
        raise SwitchyardError(
            "stack config switchyard:redisPasswordSecret names a Secret in each workload's namespace, which the "
            "same `pulumi up` creates: it cannot exist in time, and the pods would wait on it until the rollout "
            "times out\n"
            "    allowed: the password itself as secret stack config (the program creates the Secret)\n"
            "    hint: pulumi config rm switchyard:redisPasswordSecret && "
            "pulumi config set --secret switchyard:redisPassword ..."
        )
    present: dict[str, Any] = {}
    for key, field in CONFIG_KEYS.items():
        annotation = ClusterSettings.model_fields[field].annotation
        if annotation is bool:
            value = config.get_bool(key)
        elif annotation in (list[str], dict[str, str]):
            value = config.get_object(key)
        else:
            value = config.get(key)
        if value is not None:
            present[field] = value
    try:
        return ClusterSettings(**present)
    except ValidationError as exc:
        lines = []
        by_field = {v: k for k, v in CONFIG_KEYS.items()}
        for e in exc.errors(include_url=False):
            field = str(e["loc"][0]) if e["loc"] else ""
            info = ClusterSettings.model_fields.get(field)
            message = "is not in the allowed format" if e["type"] == "string_pattern_mismatch" else e["msg"]
            lines.append(
                f"stack config switchyard:{by_field.get(field, field)}: {message} (got {e.get('input')!r})"
                + (f"\n    allowed: {info.description}" if info else "")
            )
        raise SwitchyardError("\n".join(lines)) from None


def secrets_from_pulumi_config(config: Any) -> ClusterSecrets:
    """Secret stack config; API keys are checked here, before any resource exists (a review render
    from the stack file cannot read encrypted values and checks nothing)."""
    values = {field: config.get_secret(key) for key, field in SECRET_KEYS.items()}
    if getattr(config, "readable_secrets", True):
        raw = config.get("apiKey")
        if raw is not None:
            api_keys.check("switchyard:apiKey", raw)
        values["api_keys"] = api_keys.parse_overrides(config.get_object("apiKeys")) or None
    return ClusterSecrets(**values)


class _StackFile:
    """Pulumi.<stack>.yaml's `config:` read the way pulumi.Config reads it (strings, "true"/"false")."""

    readable_secrets = False  # encrypted ({secure: ...}): only `pulumi up` can read them

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith("switchyard:")}

    def get(self, key: str) -> Any:
        value = self.values.get(key)
        return None if value is None else str(value)

    def keys(self) -> list[str]:
        return list(self.values)

    def get_bool(self, key: str) -> bool | None:
        # pulumi.Config.get_bool refuses anything else: a render must not read "no" as false
        value = self.get(key)
        if value is not None and value not in ("true", "false", "True", "False"):
            raise SwitchyardError(
                f'stack config switchyard:{key}: is not a boolean (got {value!r})\n    allowed: "true" or "false"'
            )
        return None if value is None else value.lower() == "true"

    def get_int(self, key: str) -> int | None:
        value = self.get(key)
        return None if value is None else int(value)

    def get_object(self, key: str) -> Any:
        return self.values.get(key)

    def get_secret(self, key: str) -> Any:
        # Encrypted values ({"secure": ...}) cannot be read here; a review render shows where they go.
        return None if key not in self.values else f"<secret switchyard:{key}>"


def from_stack_file(path: str) -> ClusterSettings:
    """Settings from a Pulumi stack file, so `switchyard synth` renders what `pulumi up` would create."""
    return _read_stack_file(path, from_pulumi_config)


def secrets_from_stack_file(path: str) -> ClusterSecrets:
    return _read_stack_file(path, secrets_from_pulumi_config)


STACK_FILE_ALLOWED = "a Pulumi stack file: a mapping with `config:` (switchyard:<key>: value)"


def read_stack_file(path: str, read: Any) -> Any:
    """`read` applied to the stack file's switchyard:* config (as pulumi.Config reads it), errors located at the file."""
    return _read_stack_file(path, read)


def _read_stack_file(path: str, read: Any) -> Any:
    """The stack file through the profile loader's reader: a regular file, bounded in size, depth and
    alias expansion (a FIFO or a billion-laughs file is refused, never read for minutes)."""
    try:
        text = read_text(Path(path), what="Pulumi stack file")
    except ProfileError as exc:
        if exc.problems and exc.problems[0].message == "no such file":
            raise SwitchyardError(f"{path}: no such Pulumi stack file") from None
        raise
    doc, _lines, problems = parse(text, path, empty_allowed=STACK_FILE_ALLOWED)
    if problems and problems[0].message == "the file is empty":
        doc, problems = {}, []  # `pulumi stack init` writes none: every key at its default
    if problems:
        raise ProfileError(problems)
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise SwitchyardError(f"{path}: config: is not a mapping\n    allowed: {STACK_FILE_ALLOWED}")
    try:
        return read(_StackFile(config))
    except SwitchyardError as exc:
        raise SwitchyardError(f"{path}: {exc}") from None
    except ValueError as exc:
        raise SwitchyardError(f"{path}: invalid stack settings: {exc}") from None


# Settings that change what the program declares (everything but where it reads profiles from and
# which kubeconfig context it talks to).
RENDER_NEUTRAL = {"profiles", "kube_context"}


def differences(settings: ClusterSettings, other: ClusterSettings) -> list[str]:
    """Stack config keys whose values differ between two settings and change the rendered objects."""
    by_field = {v: k for k, v in CONFIG_KEYS.items()}
    mine, theirs = settings.model_dump(), other.model_dump()
    return [by_field[f] for f in CONFIG_KEYS.values() if f not in RENDER_NEUTRAL and mine[f] != theirs[f]]
