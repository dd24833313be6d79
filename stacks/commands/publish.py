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
from stacks.k8s.settings import ClusterSettings, from_stack_file
from stacks.packaging import render
from stacks.profile import Target
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


def image_commands(builder: str, context: Path, reference: str) -> list[list[str]]:
    if builder == "docker":
        return [["docker", "buildx", "build", "--platform", PLATFORM, "--tag", reference, "--push", str(context)]]
    return [
        ["podman", "build", "--platform", PLATFORM, "--tag", reference, str(context)],
        ["podman", "push", reference],
    ]


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


def plan(paths: list[Path], settings: ClusterSettings, build_root: Path, builder: str) -> tuple[list[list[str]], Batch]:
    from stacks.k8s.program import image_reference, weights_source  # pulumi: only when publishing

    batch = load_all(paths)
    commands: list[list[str]] = []
    uploads = [w for w in batch.by_target("kubernetes") if local_weights_dir(w) is not None]
    endpoint = upload_endpoint(settings) if uploads else settings.weights_endpoint_url  # before any build
    for w in batch.by_target("kubernetes"):
        context = render(w, build_root, Target.kubernetes)
        commands += image_commands(builder, context, image_reference(w, settings, context))
        local = local_weights_dir(w)
        if local is not None:
            commands.append(upload_command(local, weights_source(w, settings), endpoint))
    return commands, batch


def run(
    paths: list[Path], *, pulumi_stack: str | None, build_root: Path, builder: str = "auto", dry_run: bool = False
) -> int:
    settings = from_stack_file(f"Pulumi.{pulumi_stack}.yaml") if pulumi_stack else ClusterSettings()
    # A dry run on a machine with neither tool still shows the docker commands a CI runner would run.
    tool = "docker" if dry_run and builder == "auto" and not _any_builder() else builder_for(builder)
    commands, batch = plan(paths or [DEFAULT_PROFILES], settings, build_root, tool)
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
