"""Private-registry and air-gapped clusters: where the cluster finds what Switchyard would otherwise
pull from the internet, and the commands that put it there.

Three stack settings, each off by default (the public source):
- `imageMirror` (host[:port]/path): third-party images are pulled as <imageMirror>/<repository>:<tag>,
  the repository without its registry host, Docker Hub's official images under `library/` (the
  layout `crane copy`, `skopeo sync` and Harbor's replication produce). The aws-cli init container
  and the queue's Redis are pulled from there, and `switchyard publish` builds the workload images
  from the mirrored base images (python, CUDA, vLLM) through `--build-context`, so the rendered
  Dockerfile, its content hash and the image tag stay the same with or without a mirror.
- `gpuOperatorChartRepo`, `kedaChartRepo` (https:// Helm repository or oci:// registry): where the
  pinned chart versions are installed from.
- `weightsMirrorUri` (s3://bucket/prefix on the cluster's weights store, `weightsEndpointUrl`):
  profiles' `s3://` weights are read from <weightsMirrorUri>/<source bucket>/<source prefix>.

`switchyard publish` prints (and, without --dry-run, runs) the copies: images with crane, skopeo or
`docker buildx imagetools create`, charts with `helm pull` + `helm push` to an oci:// mirror,
weights with `aws s3 sync` down from the source and up to the store.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from stacks.k8s.settings import ClusterSettings
from stacks.k8s.vendor import AWS_CLI_IMAGE, GPU_OPERATOR, KEDA, REDIS_IMAGE, Chart

DOCKER_HUB = "docker.io"
COPIERS = ("crane", "skopeo", "docker")


def split_reference(image: str) -> tuple[str, str]:
    """`redis:7.4.2` -> (docker.io, library/redis:7.4.2); `nvcr.io/nvidia/cuda:12` -> (nvcr.io, nvidia/cuda:12)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return DOCKER_HUB, image if rest else f"library/{image}"


def mirrored_image(image: str, settings: ClusterSettings) -> str:
    """Where the cluster (or the builder) pulls a third-party image from."""
    if not settings.image_mirror:
        return image
    return f"{settings.image_mirror.rstrip('/')}/{split_reference(image)[1]}"


def chart_source(chart: Chart, settings: ClusterSettings) -> Chart:
    """The pinned chart, from the stack's mirror of its repository when one is set."""
    mirror = {GPU_OPERATOR.name: settings.gpu_operator_chart_repo, KEDA.name: settings.keda_chart_repo}.get(chart.name)
    return dataclasses.replace(chart, repo=mirror.rstrip("/")) if mirror else chart


def helm_chart_args(chart: Chart) -> dict[str, object]:
    """helm.v3.Release's chart and repository: an OCI registry names the chart by URL, no repository."""
    if chart.repo.startswith("oci://"):
        return {"chart": f"{chart.repo}/{chart.name}", "repository_opts": None}
    return {"chart": chart.name, "repository_opts": {"repo": chart.repo}}


def weights_source(uri: str, settings: ClusterSettings) -> str:
    """A profile's s3:// weights as the cluster reads them: from the mirror on its own store when set."""
    if not settings.weights_mirror_uri:
        return uri
    return f"{settings.weights_mirror_uri.rstrip('/')}/{uri.removeprefix('s3://')}"


def copier(choice: str = "auto") -> str:
    if choice != "auto":
        return choice
    return next((tool for tool in COPIERS if shutil.which(tool)), "crane")


def copy_image(tool: str, source: str, destination: str) -> list[str]:
    """A multi-architecture copy, registry to registry (no local daemon needed for crane and skopeo)."""
    if tool == "crane":
        return ["crane", "copy", source, destination]
    if tool == "skopeo":
        return ["skopeo", "copy", "--all", f"docker://{source}", f"docker://{destination}"]
    return ["docker", "buildx", "imagetools", "create", "--tag", destination, source]


def build_contexts(base_image: str, settings: ClusterSettings) -> list[str]:
    """`--build-context` for the builder: FROM <base> resolves to the mirror, the Dockerfile unchanged."""
    if not settings.image_mirror:
        return []
    return ["--build-context", f"{base_image}=docker-image://{mirrored_image(base_image, settings)}"]


def chart_commands(settings: ClusterSettings, work: Path) -> list[list[str]]:
    """Pull each pinned chart from upstream and push it to an oci:// mirror. An https:// mirror is a
    Helm repository the platform team fills (or a proxy of upstream): nothing to push there."""
    commands = []
    for upstream, installed in ((GPU_OPERATOR, settings.install_gpu_operator), (KEDA, settings.install_keda)):
        target = chart_source(upstream, settings)
        if not installed or target.repo == upstream.repo or not target.repo.startswith("oci://"):
            continue
        archive = work / f"{upstream.name}-{upstream.version}.tgz"
        commands.append(
            [
                "helm",
                "pull",
                upstream.name,
                "--repo",
                upstream.repo,
                "--version",
                upstream.version,
                "--destination",
                str(work),
            ]
        )
        commands.append(["helm", "push", str(archive), target.repo])
    return commands


def third_party_images(settings: ClusterSettings, *, weights_fetch: bool, redis: bool, bases: list[str]) -> list[str]:
    """What the cluster and the builder pull that Switchyard did not build, in a stable order."""
    images = [*([AWS_CLI_IMAGE] if weights_fetch else []), *([REDIS_IMAGE] if redis else []), *bases]
    return list(dict.fromkeys(images))
