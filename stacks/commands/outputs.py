"""Producing every output of a batch into staging directories, and swapping them into place.

`synth` and `snapshot` share this: both run the CDK app and the Pulumi program (under mocks)
over the same workloads. Outputs are built beside their final place and swapped in only after
everything succeeded, so a failure leaves the previous outputs, never half of new ones.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.errors import SwitchyardError
from stacks.k8s.naming import MANAGED_BY, MANAGER
from stacks.k8s.settings import ClusterSettings, differences, from_stack_file, secrets_from_stack_file
from stacks.workloads import Batch

NODE_MISSING = (
    "Node.js was not found: the AWS CDK needs it to synthesize serverless workloads. "
    "Run `make install` (it pins Node.js 22 in node_modules/.bin, which switchyard finds by itself) "
    "or install Node.js 22 and put `node` on PATH"
)


def require_node() -> None:
    """A one-line error instead of jsii's traceback when there is no Node.js."""
    if shutil.which("node") is None:
        raise SwitchyardError(NODE_MISSING)


@dataclass
class Produced:
    cdk_out: Path | None  # the cloud assembly, when there is a serverless workload
    build_root: Path
    k8s_objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per workload + cluster-addons


def produce(
    batch: Batch,
    *,
    profiles_dir: Path,
    cdk_out: Path,
    build_root: Path,
    cluster_settings: Any,
    secrets: Any = None,
    progress=None,
    pulumi_stack: str | None = None,
    template_validation: bool = True,
) -> Produced:
    """Build contexts, the CDK assembly and the Kubernetes objects of every workload in `batch`
    (`template_validation`: stacks.aws.app.build_app's)."""
    say = progress or (lambda _text: None)
    serverless, kubernetes = batch.by_target("serverless"), batch.by_target("kubernetes")
    # The CDK app builds both Lambda targets (serverless, managed-instances) and the hybrid fronts;
    # the hybrid workers are the Pulumi program's.
    serverless = serverless + batch.by_target("managed-instances")
    hybrid = batch.by_target("hybrid")
    produced = Produced(cdk_out=None, build_root=build_root)
    say(f"synthesizing the CDK app ({len(serverless)} Lambda, {len(hybrid)} hybrid workload(s))")
    if serverless or hybrid:
        require_node()
        from stacks.aws.app import build_app  # aws-cdk-lib starts Node.js: only for serverless workloads

        # Absolute: jsii's Node.js resolves relative paths against its own working directory, which
        # is wherever the process stood when the kernel started (not ours, after a chdir).
        build_app(
            batch,
            profiles_dir=profiles_dir.resolve(),
            outdir=str(cdk_out.resolve()),
            build_root=build_root.resolve(),
            template_validation=template_validation,
        ).synth()
        produced.cdk_out = cdk_out
    say(f"running the Pulumi program under mocks ({len(kubernetes)} kubernetes, {len(hybrid)} hybrid workload(s))")
    if kubernetes or hybrid:
        from stacks.k8s import mocks  # pulumi: only for kubernetes workloads
        from stacks.k8s.hybrid_workloads import fronts_from_stack_file  # pulumi, as above

        # The fronts the stack sets: the review shows the queue `pulumi up` would use, not a placeholder.
        fronts = fronts_from_stack_file(f"Pulumi.{pulumi_stack}.yaml", hybrid) if pulumi_stack and hybrid else None
        # the stack's name is in what it renders (a kept queue's namespace label): the one `pulumi up` runs as
        resources = mocks.run(
            batch, cluster_settings, build_root, secrets, stack=pulumi_stack or "synth", fronts=fronts
        )
        groups = mocks.by_workload(resources, [w.name for w in [*kubernetes, *hybrid]])
        produced.k8s_objects = {name: docs for name, docs in groups.items() if docs}
    return produced


def cluster_settings(pulumi_stack: str | None) -> tuple[Any, Any]:
    """The cluster settings and secrets `pulumi up` would use with that stack (defaults without one)."""
    if not pulumi_stack:
        return ClusterSettings(), None
    stack_file = f"Pulumi.{pulumi_stack}.yaml"
    return from_stack_file(stack_file), secrets_from_stack_file(stack_file)


def stacks_that_differ(settings: Any, project: Path = Path(".")) -> dict[str, list[str] | str]:
    """Each Pulumi stack file of the project -> the keys its settings differ from `settings` in (or
    why it cannot be read): a render from built-in defaults is not what `pulumi up` deploys there."""
    found: dict[str, list[str] | str] = {}
    for path in sorted(project.glob("Pulumi.*.yaml")):
        stack = path.name[len("Pulumi.") : -len(".yaml")]
        try:
            keys = differences(settings, from_stack_file(str(path)))
        except SwitchyardError as exc:
            found[stack] = str(exc).splitlines()[0].removeprefix(f"{path}: ")
            continue
        if keys:
            found[stack] = keys
    return found


# --------------------------------------------------------------------------- staging


# What a render killed part-way leaves in build/ (packaging.render: `.<name>.old`, mkdtemp `.<name>.xxxxxxxx`).
_RENDER_DEBRIS = re.compile(r"\.[a-z0-9][a-z0-9-]*\.(old|[a-z0-9_]{8})")


def foreign_hidden(kind: str, folder: Path) -> list[str]:
    """Hidden entries of `folder` synth did not write (.git, .gitignore, .github, ...)."""
    return sorted(
        e.name
        for e in folder.iterdir()
        if e.name.startswith(".") and not (kind == "build" and _RENDER_DEBRIS.fullmatch(e.name))
    )


OWNED = f"{MANAGED_BY}: {MANAGER}"  # every object synth renders carries it
_SNIFF_BYTES = 1 << 20


def _ours(path: Path) -> bool:
    """A YAML file synth rendered: a GitOps overlay's kustomization.yaml or patches never carry our label."""
    try:
        with path.open("rb") as f:
            return OWNED.encode() in f.read(_SNIFF_BYTES)
    except OSError:
        return False


def _is_assembly_marker(path: Path) -> bool:
    """CDK writes cdk.out, {"version": ...}, into every cloud assembly."""
    try:
        return path.is_file() and path.stat().st_size < 4096 and '"version"' in path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def _looks_generated(kind: str, folder: Path) -> bool:
    """True when every entry of an existing `folder` is what synth writes there."""
    if foreign_hidden(kind, folder):
        return False
    entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
    if not entries:
        return True
    if kind == "cdk":  # a CDK cloud assembly: manifest.json alone is any web app's, cdk.out is CDK's
        return (folder / "manifest.json").is_file() and _is_assembly_marker(folder / "cdk.out")
    if kind == "k8s":  # one YAML file per workload, plus cluster-addons.yaml, each of our objects
        return all(e.is_file() and not e.is_symlink() and e.suffix == ".yaml" and _ours(e) for e in entries)
    # build: one context per workload, each with its Dockerfile
    return all(e.is_dir() and not e.is_symlink() and (e / "Dockerfile").is_file() for e in entries)


def check_outputs(outputs: dict[str, tuple[str, Path]], inputs: list[Path]) -> None:
    """Refuse output folders synth must not replace: it swaps each one in whole, deleting what was there.

    `outputs` maps a flag (--build, ...) to (kind, folder). A folder that is (or holds) the working
    directory or an input, another output, or an existing folder with files synth did not write,
    is the user's: a mistyped flag must not delete it.
    """
    cwd = Path.cwd().resolve()
    resolved = {flag: (kind, folder, folder.resolve()) for flag, (kind, folder) in outputs.items()}
    for flag, (kind, folder, real) in resolved.items():
        problem = None
        inside = [i for i in inputs if i.resolve() == real or real in i.resolve().parents]
        if real == cwd or real in cwd.parents:
            problem = "is the working directory or one of its parents"
        elif inside:
            problem = f"holds the profiles ({inside[0]})"
        elif any(
            other == real or real in other.parents or other in real.parents
            for f, (_, _, other) in resolved.items()
            if f != flag
        ):
            problem = "is, holds or lies inside another output folder"
        elif folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            problem = "exists and is not a folder"
        elif folder.is_dir() and foreign_hidden(kind, folder):
            shown = ", ".join(foreign_hidden(kind, folder)[:5])
            problem = (
                f"exists and holds hidden entries synth did not write ({shown}; a Git repository?): it replaces "
                "the whole folder, which would delete them"
            )
        elif folder.is_dir() and not _looks_generated(kind, folder):
            problem = "exists and holds files synth did not write (it replaces the whole folder)"
        if problem:
            raise SwitchyardError(
                f"{flag} {folder}: {problem}; name a new or empty folder, or one synth wrote before "
                "(nothing was written)"
            )


def staging_dir(final: Path) -> Path:
    """An empty directory on the same file system as `final`, so the swap is a rename."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.staging-", dir=final.parent))


def swap(staged: Path, final: Path) -> None:
    """Replace `final` with `staged` whole: the old tree moves aside, the new one is renamed in."""
    old = None
    if final.exists() or final.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.rename(final, old / final.name)
    os.chmod(staged, 0o755)  # mkdtemp makes it 0700
    os.rename(staged, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged(*finals: Path) -> Iterator[list[Path]]:
    """Staging directories for `finals`; removed on failure, swapped in by the caller on success."""
    dirs: list[Path] = []
    try:
        for final in finals:
            dirs.append(staging_dir(final))
        yield dirs
    finally:
        for d in dirs:
            if d.exists():
                shutil.rmtree(d, ignore_errors=True)


def keep_others(final: Path, staged_dir: Path, replaced: set[str]) -> None:
    """Partial runs (some files, not whole directories): carry over entries of other workloads."""
    if not final.is_dir():
        return
    for child in final.iterdir():
        if child.name.split(".")[0] in replaced or child.name.startswith("."):
            continue
        dest = staged_dir / child.name
        if dest.exists():
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.copytree(child, dest, symlinks=True)
        else:
            shutil.copy2(child, dest, follow_symlinks=False)


def warn(text: str) -> None:
    print(text, file=sys.stderr)
