"""Rules that look past the profile's text: the files it names, and whether it fits the platform.

Run by the loader after the schema, so `validate` and `plan` catch what would otherwise fail
late (a jsii traceback in serverless synth, the hash of an empty directory as a weights version
on Kubernetes, a 2 TB pod). Each rule yields errors.Hit; the loader adds file and line.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from stacks.errors import Hit, ProfileError, show
from stacks.limits import LAMBDA_MAX_MEMORY_MB
from stacks.pricebook import Settings
from stacks.profile.model import Gpu, Preset, Profile, Target
from stacks.profile.safe_yaml import read_text  # the same bounded, regular-file-only reader as profiles

ENTRYPOINT_MAX_BYTES = 1024 * 1024
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ENTRYPOINT_ALLOWED = "a Python file defining load(weights_dir) and predict(model, inputs)"
FUNCTIONS = (("load", 1, "load(weights_dir)"), ("predict", 2, "predict(model, inputs)"))


def file_problems(p: Profile, settings: Settings, profile_file: Path) -> Iterator[Hit]:
    root = profile_file.parent
    m = p.model
    if m.preset is Preset.custom and m.entrypoint and m.entrypoint.endswith(".py"):
        path, escape = _inside(root, m.entrypoint)
        module = PurePosixPath(m.entrypoint).stem
        if not _MODULE.fullmatch(module) or keyword.iskeyword(module):
            # The server imports it as user_model.<stem>: `model.v2.py` would render, then never load.
            yield Hit(
                ("model", "entrypoint"),
                f"{show(m.entrypoint)}: '{module}' is not an importable Python module name",
                "a file name matching [A-Za-z_][A-Za-z0-9_]*.py that is not a Python keyword (e.g. model_v2.py)",
            )
        elif escape:
            yield Hit(
                ("model", "entrypoint"), f"{show(m.entrypoint)} {escape}", "a file inside the profile's directory"
            )
        else:
            for problem in entrypoint_problems(path):
                yield Hit(("model", "entrypoint"), problem, ENTRYPOINT_ALLOWED)
            # Every .py file beside the entrypoint is copied into the image: none may lead outside.
            link = _link_out(root, path.parent, suffix=".py")
            odd = _not_regular(path.parent, suffix=".py")
            if link:
                yield Hit(
                    ("model", "entrypoint"),
                    f"{link} is copied into the image but leads outside the profile's directory",
                    "files inside the profile's directory",
                    "copy the file instead of linking it",
                )
            elif odd:
                yield Hit(("model", "entrypoint"), f"{odd} is copied into the image but {NOT_REGULAR}", "regular files")
    if not m.weights_in_s3:
        yield from _local_weights(root, m.weights)
    yield from _fits_the_platform(p, settings)


def _inside(root: Path, relative: str) -> tuple[Path, str | None]:
    """The path, and why it is not acceptable (None when it stays inside root)."""
    path = root / relative
    try:
        resolved = path.resolve()
        resolved.relative_to(root.resolve())
    except ValueError:
        return path, f"leaves the profile's directory (a symbolic link to {path.resolve()})"
    except (OSError, RuntimeError) as exc:  # a symlink loop
        return path, f"cannot be resolved ({exc})"
    return path, None


def entrypoint_problems(path: Path) -> list[str]:
    """What is wrong with a model entrypoint file; [] when it defines load and predict right."""
    if not path.is_file():
        return [f"{path} does not exist" if not path.exists() else f"{path} is not a file"]
    try:
        source = read_text(path, limit=ENTRYPOINT_MAX_BYTES, what="model entrypoint")
    except ProfileError as exc:
        return [str(exc).split(": ", 1)[-1]]
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        return [f"{path}:{exc.lineno}: syntax error: {exc.msg}"]
    except (ValueError, RecursionError, MemoryError) as exc:
        return [f"{path}: cannot be parsed as Python ({type(exc).__name__})"]
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    missing = []
    for name, arity, signature in FUNCTIONS:
        fn = functions.get(name)
        if fn is None:
            missing.append(f"does not define {signature}")
        elif len(fn.args.posonlyargs) + len(fn.args.args) != arity:
            missing.append(f"defines {name} at line {fn.lineno} with the wrong arguments: expected {signature}")
    return [f"{path} " + "; ".join(missing)] if missing else []


def _local_weights(root: Path, weights: str) -> Iterator[Hit]:
    loc = ("model", "weights")
    allowed = "s3://bucket/prefix/, or a directory (relative to the profile) holding the weight files"
    path, escape = _inside(root, weights)
    if escape:
        yield Hit(loc, f"{show(weights)} {escape}", allowed)
    elif not path.exists():
        yield Hit(loc, f"local weights {show(weights)} do not exist ({path})", allowed, _typo_hint(path))
    elif not path.is_dir():
        yield Hit(
            loc, f"local weights {show(weights)} are not a directory", allowed, f"use its directory: {path.parent}"
        )
    elif not any(child.is_file() for child in path.rglob("*")):
        yield Hit(loc, f"local weights directory {show(weights)} holds no files", allowed, None)
    else:
        link = _link_out(root, path)
        odd = None if link else _not_regular(path)
        if link:
            yield Hit(
                loc, f"{link} leads outside the profile's directory", allowed, "copy the file instead of linking it"
            )
        elif odd:
            yield Hit(loc, f"{odd} {NOT_REGULAR}", allowed)


def _link_out(root: Path, directory: Path, suffix: str | None = None) -> Path | None:
    """The first symbolic link under `directory` that resolves outside `root`.

    The whole tree, however large: packaging copies every file of it into the build context, so a
    link past any cap would be copied (an outside secret in build/, uploaded by `publish`). os.walk
    does not descend into linked directories; the link itself is checked here.
    """
    top = root.resolve()
    for current, dirs, files in os.walk(directory):
        for name in [*dirs, *files]:
            entry = Path(current) / name
            if not entry.is_symlink() or (suffix and not name.endswith(suffix) and name not in dirs):
                continue
            try:
                entry.resolve().relative_to(top)
            except (ValueError, OSError, RuntimeError):
                return entry
    return None


NOT_REGULAR = "is not a regular file (a FIFO, socket or device: copying it would wait for ever or copy a stream)"


def _not_regular(directory: Path, suffix: str | None = None) -> Path | None:
    """The first entry under `directory` (of `suffix`) that is neither a regular file nor a directory,
    once links (already checked to stay inside) are followed."""
    for current, _dirs, files in os.walk(directory):  # os.walk lists FIFOs, sockets among files
        for name in files if suffix is None else [f for f in files if f.endswith(suffix)]:
            entry = Path(current) / name
            try:
                mode = entry.stat().st_mode
            except OSError:  # a dangling link: nothing to copy, and packaging skips it
                continue
            if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
                return entry
    return None


def _typo_hint(path: Path) -> str | None:
    parent = path.parent
    if not parent.is_dir():
        return None
    names = [c.name for c in parent.iterdir()][:1000]
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    return f"did you mean {parent / close[0]}?" if close else None


def _fits_the_platform(p: Profile, settings: Settings) -> Iterator[Hit]:
    """Memory must fit where the workload can run: one Lambda function or one node."""
    m, platform = p.model, settings.platform
    if m.uses_gpu:
        return  # GPU nodes: the platform states GPUs per node (checked with accelerator), not their memory
    node_gb = platform.cpu_node_memory_gb
    fits_node = m.memory_gb <= node_gb
    fits_lambda = m.memory_gb * 1024 <= LAMBDA_MAX_MEMORY_MB and m.gpu is not Gpu.required
    if fits_node or (p.target is Target.auto and fits_lambda) or p.target is Target.serverless:
        return  # an explicit serverless target is checked against Lambda's limits by the decision
    hint = None
    if m.memory_gb >= 512:
        hint = f"memory_gb is in GB: {m.memory_gb:g} GB; for {m.memory_gb:g} MB write {m.memory_gb / 1024:g}"
    else:
        hint = "or describe larger nodes: platform.cpu_node_memory_gb in platform.yaml"
    where = "a CPU node" if p.target is Target.kubernetes else "a CPU node or a Lambda function (10,240 MB)"
    yield Hit(
        ("model", "memory_gb"),
        f"{m.memory_gb:g} GB per replica does not fit on {where}: a node has {node_gb:g} GB (platform cpu_node_memory_gb)",
        f"memory_gb <= {node_gb:g}",
        hint,
    )
