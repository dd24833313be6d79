"""The Pulumi program: every profile resolved to kubernetes, plus the cluster add-ons they need.

`pulumi up` runs it through stacks/k8s/__main__.py; tests and `switchyard synth` run `build()`
under Pulumi's mocks to see the objects it would create.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from stacks.errors import SwitchyardError
from stacks.k8s.addons import GpuOperator, Keda
from stacks.k8s.settings import ClusterSettings, from_pulumi_config
from stacks.k8s.workload import InferenceWorkload, WorkloadImage
from stacks.packaging import BUILD_ROOT, render, spec_for
from stacks.profile import Target
from stacks.weights import tree_hash, weights_version
from stacks.workloads import Batch, load_all


def image_for(w, settings: ClusterSettings, build_root: Path) -> WorkloadImage:
    context = render(w, build_root, Target.kubernetes)
    version = weights_version(w)
    if w.profile.model.weights_in_s3:
        source = w.profile.model.weights
    else:  # local weights: uploaded to the cluster's weights store under their content hash
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
