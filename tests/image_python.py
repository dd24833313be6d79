"""The image's Python, built beside the test's image root so an unprivileged UID can run it.

The image has its own interpreter and `pip install -r requirements.txt`; a process of another UID
must not need to read the checkout or this interpreter's home, which may be private (a 0700 home,
a `mktemp -d` folder, pyenv under /root). So the interpreter, its standard library and exactly
the distributions requirements.txt names (with their dependencies) are copied into a folder every
UID can read: an import the requirements do not cover fails here as it would in the image.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import sysconfig
import tempfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

STDLIB_UNUSED = ("site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3")
OPTIMISED_BYTECODE = (".opt-1.pyc", ".opt-2.pyc")  # python -O only


def _unused(name: str) -> bool:
    return name in STDLIB_UNUSED or name.startswith("config-") or name.endswith(OPTIMISED_BYTECODE)


def traversable_tmp() -> Path:
    """A temporary folder other UIDs can reach: TMPDIR when every parent lets them through, else /tmp."""
    base = Path(tempfile.gettempdir()).resolve()
    if not all(p.stat().st_mode & stat.S_IXOTH for p in (base, *base.parents)):
        base = Path("/tmp")
    root = Path(tempfile.mkdtemp(prefix="sy-image-", dir=base))
    os.chmod(root, 0o755)
    return root


def _distributions(names: list[str]) -> list[metadata.Distribution]:
    """The installed distributions of `names` and everything they require (markers evaluated here)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        dist = metadata.distribution(name)
        seen[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def _readable(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        if p.is_symlink():
            continue
        mode = p.stat().st_mode
        os.chmod(p, 0o755 if p.is_dir() or mode & stat.S_IXUSR else 0o644)


def build(dest: Path, requirements: Path) -> tuple[Path, dict[str, str]]:
    """This interpreter with the requirements installed under `dest`: (python, extra environment)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lib = dest / "lib" / version
    shutil.copytree(stdlib, lib, ignore=lambda _d, names: [n for n in names if _unused(n)])
    if not (lib / "lib-dynload").is_dir():  # some layouts keep the extension modules apart
        shutil.copytree(Path(sysconfig.get_paths()["platstdlib"]) / "lib-dynload", lib / "lib-dynload")
    python = dest / "bin" / version  # finds its prefix from lib/pythonX.Y/os.py beside it, like any install
    python.parent.mkdir(parents=True)
    shutil.copy2(Path(getattr(sys, "_base_executable", sys.executable)).resolve(), python)
    env: dict[str, str] = {}
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):  # the binary links libpython by an absolute RUNPATH
        shutil.copy2(Path(sysconfig.get_config_var("LIBDIR")) / sysconfig.get_config_var("INSTSONAME"), dest / "lib")
        env["LD_LIBRARY_PATH"] = str(dest / "lib")

    site = lib / "site-packages"
    site.mkdir()
    names = [
        Requirement(line.split("#")[0].strip()).name
        for line in requirements.read_text(encoding="utf-8").splitlines()
        if line.split("#")[0].strip()
    ]
    for dist in _distributions(names):
        root = Path(dist.locate_file("")).resolve()
        for file in dist.files or []:
            source = Path(dist.locate_file(file)).resolve()
            if root not in source.parents or not source.is_file():  # console scripts in bin/, caches
                continue
            target = site / source.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    _readable(dest)
    return python, env
