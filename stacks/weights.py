"""Which weights a workload serves, and their version: one definition for both targets.

The version names the directory the weights live in (EFS on Lambda, the model cache on
Kubernetes), so a new version is copied beside the old one and switched to atomically.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from stacks.decision.workload import Workload


def tree_hash(root: Path) -> str:
    """Content hash of a directory: names and bytes, in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def local_weights_dir(w: Workload) -> Path | None:
    """The weights directory for a profile with local weights; None for s3:// weights."""
    if w.profile.model.weights_in_s3:
        return None
    return (w.file.parent / w.profile.model.weights).resolve()


def weights_version(w: Workload) -> str:
    """s3:// weights: a hash of the URI (put a version in the prefix); local: a hash of the files."""
    local = local_weights_dir(w)
    if local is None:
        return hashlib.sha256(w.profile.model.weights.encode()).hexdigest()[:16]
    return tree_hash(local)[:16]
