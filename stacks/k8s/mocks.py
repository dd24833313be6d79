"""Run the Pulumi program under mocks and turn what it registers into Kubernetes manifests.

Used by the tests and by `switchyard synth`, which writes the objects for review and GitOps.
The mocks echo inputs as outputs, so every object must carry its explicit metadata.name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

from stacks.k8s.naming import WORKLOAD_LABEL
from stacks.k8s.settings import ClusterSecrets, ClusterSettings
from stacks.packaging import BUILD_ROOT
from stacks.workloads import Batch

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
REDACTED = "<secret: in the Pulumi stack config>"


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]


@dataclass
class Recorder(pulumi.runtime.Mocks):
    resources: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs)))
        return [f"{args.name}-id", args.inputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def run(
    batch: Batch, settings: ClusterSettings, build_root: Path = BUILD_ROOT, secrets: ClusterSecrets | None = None
) -> list[Registered]:
    """Run `build()` under fresh mocks and wait for every registration to finish."""
    from stacks.k8s import program

    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="switchyard", stack="synth", preview=False)

    @pulumi.runtime.test
    def _go():
        built = program.build(batch, settings, build_root, secrets=secrets)
        return pulumi.Output.all(*[r.urn for r in [*built.workloads.values(), *built.addons]])

    _go()
    return recorder.resources


KIND_ORDER = [
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "Namespace",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "PersistentVolumeClaim",
    "Deployment",
    "Service",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "HTTPRoute",
    "Ingress",
    "ScaledObject",
]


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's wire marker for a secret value


def _plain(value: Any) -> Any:
    """Secret values arrive wrapped in Pulumi's wire marker: unwrap them (they are redacted below)."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _ints(value: Any) -> Any:
    """Pulumi's wire format carries every number as a float; Kubernetes wants integers back."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def _order(doc: dict[str, Any]) -> tuple:
    if "helmRelease" in doc:
        return (-1, doc["helmRelease"])
    kind = doc.get("kind", "")
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), doc["metadata"]["name"])


def manifest(r: Registered) -> dict[str, Any]:
    """A registered object as Kubernetes YAML would have it (a Helm release: chart, version, values)."""
    if r.type == HELM_RELEASE:
        i = r.inputs
        return _ints(
            {
                "helmRelease": i["name"],
                "chart": i["chart"],
                "version": i["version"],
                "repo": i.get("repositoryOpts", {}).get("repo"),
                "namespace": i["namespace"],
                "values": i.get("values", {}),
            }
        )
    keep = ("apiVersion", "kind", "metadata", "spec", "data", "stringData", "type", "automountServiceAccountToken")
    doc = {k: _plain(v) for k, v in r.inputs.items() if k in keep}
    if "stringData" in doc:  # secret values never leave Pulumi's (encrypted) state
        doc["stringData"] = {k: REDACTED for k in doc["stringData"]}
    return _ints(doc)


def by_workload(resources: list[Registered], workload_names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Group objects per workload (its ownership label); add-ons go under "cluster-addons"."""
    groups: dict[str, list[dict[str, Any]]] = {"cluster-addons": []}
    for r in resources:
        if not r.type.startswith("kubernetes:"):  # providers and our own components carry no object
            continue
        m = manifest(r)
        owner = (m.get("metadata", {}).get("labels") or {}).get(WORKLOAD_LABEL)
        key = owner if (r.type != HELM_RELEASE and owner in workload_names) else "cluster-addons"
        groups.setdefault(key, []).append(m)
    return {name: sorted(docs, key=_order) for name, docs in groups.items()}


def write(groups: dict[str, list[dict[str, Any]]], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, docs in sorted(groups.items()):
        if not docs:
            continue
        path = out_dir / f"{name}.yaml"
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump_all(docs, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written
