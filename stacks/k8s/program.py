"""The Pulumi program: every profile resolved to kubernetes, plus the cluster add-ons they need.

`pulumi up` runs it through stacks/k8s/__main__.py; tests and `switchyard synth` run `build()`
under Pulumi's mocks to see the objects it would create.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from stacks.errors import SwitchyardError
from stacks.k8s.addons import GpuOperator, Keda
from stacks.k8s.settings import ClusterSettings, from_pulumi_config
from stacks.k8s.workload import InferenceWorkload, WorkloadImage
from stacks.packaging import BUILD_ROOT, render, spec_for
from stacks.profile import Target
from stacks.workloads import Batch, load_all


def tree_hash(root: Path) -> str:
    """Content hash of a directory: names and bytes, in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def image_for(w, settings: ClusterSettings, build_root: Path) -> WorkloadImage:
    context = render(w, build_root, Target.kubernetes)
    weights = w.profile.model.weights
    if w.profile.model.weights_in_s3:
        version = hashlib.sha256(weights.encode()).hexdigest()[:16]
        source = weights
    else:  # local weights: uploaded to the cluster's weights store under their content hash
        version = tree_hash((w.file.parent / weights).resolve())[:16]
        source = f"{settings.weights_base_uri.rstrip('/')}/{w.name}/{version}/"
    return WorkloadImage(
        # The tag is the build context's content hash: the image is pinned, and a code or
        # template change rolls the Deployment while a no-op re-run changes nothing.
        reference=f"{settings.image_registry.rstrip('/')}/{w.name}:{tree_hash(context)[:16]}",
        spec=spec_for(w, Target.kubernetes),
        weights_source=source,
        weights_version=version,
    )


def build(batch: Batch, settings: ClusterSettings, build_root: Path = BUILD_ROOT) -> dict[str, InferenceWorkload]:
    workloads = batch.by_target("kubernetes")
    if not workloads:
        return {}
    provider = k8s.Provider("cluster", context=settings.kube_context, enable_server_side_apply=True)
    opts = pulumi.ResourceOptions(provider=provider)
    keda = Keda("keda", opts)
    gpu = None
    if any(w.decision.kubernetes.gpu_type for w in workloads):
        gpu = GpuOperator("gpu-operator", settings, opts)
    built = {}
    for w in workloads:
        image = image_for(w, settings, build_root)
        uses_gpu = w.decision.kubernetes.gpu_type is not None
        built[w.name] = InferenceWorkload(
            w, image, settings, keda=keda.release, gpu_operator=gpu.release if (gpu and uses_gpu) else None, opts=opts
        )
    return built


def main() -> None:
    settings = from_pulumi_config(pulumi.Config("switchyard"))
    batch = load_all([Path(settings.profiles)])
    if batch.failures:
        raise SwitchyardError("\n".join(str(f.error) for f in batch.failures))
    built = build(batch, settings)
    pulumi.export("workloads", {name: {"namespace": name, "service": f"{name}.{name}.svc"} for name in built})
