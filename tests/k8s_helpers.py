from __future__ import annotations

from pathlib import Path
from typing import Any

from stacks.commands.snapshot import normalised_objects as normalised  # the user-facing snapshots' rules
from stacks.k8s import mocks
from stacks.k8s.settings import ClusterSettings
from stacks.workloads import load_all

__all__ = ["find", "manifests", "normalised"]


def manifests(profiles: Path, build_root: Path, settings: ClusterSettings | None = None) -> dict[str, list[dict]]:
    batch = load_all([profiles])
    resources = mocks.run(batch, settings or ClusterSettings(), build_root)
    return mocks.by_workload(resources, [w.name for w in batch.by_target("kubernetes")])


def find(docs: list[dict], kind: str, name: str | None = None) -> dict[str, Any]:
    hits = [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(hits) == 1, f"{len(hits)} {kind} objects"
    return hits[0]
