"""`switchyard publish`: build and push every Kubernetes workload's image with the tag the Pulumi
program expects, and upload local weights to <weightsBaseUri>/<name>/<version>/.

The image reference and the weights location come from the program's own functions, so what is
published is exactly what `pulumi up` will reference.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from stacks.commands.report import exit_code, print_failures
from stacks.errors import SwitchyardError
from stacks.k8s import mirrors, scaling
from stacks.k8s.settings import ClusterSettings, RedisMode, from_stack_file
from stacks.packaging import render, spec_for
from stacks.profile import Preset, Target
from stacks.weights import local_weights_dir
from stacks.workloads import DEFAULT_PROFILES, Batch, load_all

PLATFORM = "linux/amd64"  # GPU nodes on bare metal; the base images are amd64


def builder_for(choice: str) -> str:
    if choice != "auto":
        return choice
    for tool in ("docker", "podman"):
        if shutil.which(tool):
            return tool
    raise SwitchyardError(
        "neither docker (with buildx) nor podman is on PATH\n    hint: install one, or pass --builder to print its commands with --dry-run"
    )


def image_commands(builder: str, context: Path, reference: str, extra: list[str] | None = None) -> list[list[str]]:
    """`extra`: e.g. the --build-context that resolves the base image to a mirror."""
    extra = extra or []
    if builder == "docker":
        return [
            ["docker", "buildx", "build", "--platform", PLATFORM, *extra, "--tag", reference, "--push", str(context)]
        ]
    return [
        ["podman", "build", "--platform", PLATFORM, *extra, "--tag", reference, str(context)],
        ["podman", "push", reference],
    ]


def mirror_commands(
    workloads: list, settings: ClusterSettings, build_root: Path, copier: str, endpoint: str | None
) -> list[list[str]]:
    """What an air-gapped or private-registry cluster needs copied before `pulumi up` (stacks/k8s/mirrors.py)."""
    commands: list[list[str]] = []
    if workloads and settings.image_mirror:
        redis = settings.redis_mode is RedisMode.deploy and any(
            scaling.works_queue(w, w.profile.model.preset is Preset.vllm) for w in workloads
        )
        bases = [spec_for(w, Target.kubernetes).base_image for w in workloads]
        for image in mirrors.third_party_images(settings, weights_fetch=True, redis=redis, bases=bases):
            commands.append(mirrors.copy_image(copier, image, mirrors.mirrored_image(image, settings)))
    commands += mirrors.chart_commands(settings, build_root / ".mirror" / "charts")
    if settings.weights_mirror_uri:
        for w in workloads:
            if not w.profile.model.weights_in_s3:
                continue
            local = build_root / ".mirror" / "weights" / w.name
            # Down from the source (the public endpoint, whatever AWS_ENDPOINT_URL says), up to the store.
            commands.append(
                [
                    "env",
                    "-u",
                    "AWS_ENDPOINT_URL",
                    "aws",
                    "s3",
                    "sync",
                    w.profile.model.weights,
                    f"{local}/",
                    "--only-show-errors",
                ]
            )
            commands.append(upload_command(local, mirrors.weights_source(w.profile.model.weights, settings), endpoint))
    return commands


def upload_command(local: Path, destination: str, endpoint_url: str | None) -> list[str]:
    cmd = ["aws", "s3", "sync", f"{local}/", destination, "--only-show-errors"]
    return [*cmd, "--endpoint-url", endpoint_url] if endpoint_url else cmd


def in_cluster(url: str) -> bool:
    """An address only the cluster's DNS resolves (<service>.<namespace>.svc[.cluster.local])."""
    host = (urlsplit(url).hostname or "").split(".")
    return len(host) >= 3 and host[2] == "svc"


def upload_endpoint(settings: ClusterSettings) -> str | None:
    """Where this machine reaches the weights store: the stack's endpoint, unless that is the
    in-cluster address the init container uses; then AWS_ENDPOINT_URL (awscli's own variable)."""
    endpoint = settings.weights_endpoint_url
    if endpoint is None or not in_cluster(endpoint):
        return endpoint
    override = os.environ.get("AWS_ENDPOINT_URL")
    if not override:
        raise SwitchyardError(
            f"stack config switchyard:weightsEndpointUrl {endpoint} is an in-cluster address, which this machine "
            "cannot resolve: local weights cannot be uploaded through it\n"
            "    allowed: AWS_ENDPOINT_URL set to the store's address from here (its external URL, or a port-forward)\n"
            "    hint: kubectl -n <store namespace> port-forward svc/<store> 9000 & "
            "AWS_ENDPOINT_URL=http://127.0.0.1:9000 switchyard publish ..."
        )
    return override


def plan(
    paths: list[Path], settings: ClusterSettings, build_root: Path, builder: str, copier: str = "crane"
) -> tuple[list[list[str]], Batch]:
    from stacks.k8s.program import image_reference, weights_source  # pulumi: only when publishing

    batch = load_all(paths)
    workloads = batch.by_target("kubernetes")
    uploads = [w for w in workloads if local_weights_dir(w) is not None]
    mirrored = settings.weights_mirror_uri and any(w.profile.model.weights_in_s3 for w in workloads)
    # Resolved before any build or copy: a refusal must come before the first command runs.
    endpoint = upload_endpoint(settings) if uploads or mirrored else settings.weights_endpoint_url
    commands = mirror_commands(workloads, settings, build_root, copier, endpoint)
    for w in workloads:
        context = render(w, build_root, Target.kubernetes)
        extra = mirrors.build_contexts(spec_for(w, Target.kubernetes).base_image, settings)
        commands += image_commands(builder, context, image_reference(w, settings, context), extra)
        local = local_weights_dir(w)
        if local is not None:
            commands.append(upload_command(local, weights_source(w, settings), endpoint))
    return commands, batch


def run(
    paths: list[Path],
    *,
    pulumi_stack: str | None,
    build_root: Path,
    builder: str = "auto",
    dry_run: bool = False,
    copier: str = "auto",
) -> int:
    settings = from_stack_file(f"Pulumi.{pulumi_stack}.yaml") if pulumi_stack else ClusterSettings()
    # A dry run on a machine with neither tool still shows the docker commands a CI runner would run.
    tool = "docker" if dry_run and builder == "auto" and not _any_builder() else builder_for(builder)
    commands, batch = plan(paths or [DEFAULT_PROFILES], settings, build_root, tool, mirrors.copier(copier))
    for cmd in commands:
        print(shlex.join(cmd), flush=True)
        if not dry_run:
            result = subprocess.run(cmd, check=False)
            if result.returncode != 0:
                raise SwitchyardError(f"`{shlex.join(cmd)}` failed (exit {result.returncode}); nothing after it ran")
    if not commands:
        print("no kubernetes workloads: nothing to publish", file=sys.stderr)
    print_failures(batch.failures)
    return exit_code(batch)


def _any_builder() -> bool:
    return any(shutil.which(t) for t in ("docker", "podman"))
