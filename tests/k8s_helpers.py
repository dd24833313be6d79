from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from stacks.k8s import mocks
from stacks.k8s.settings import ClusterSettings
from stacks.workloads import load_all

IMAGE_TAG = re.compile(r"(/[a-z0-9-]+):[0-9a-f]{16}$")


def manifests(profiles: Path, build_root: Path, settings: ClusterSettings | None = None) -> dict[str, list[dict]]:
    batch = load_all([profiles])
    resources = mocks.run(batch, settings or ClusterSettings(), build_root)
    return mocks.by_workload(resources, [w.name for w in batch.by_target("kubernetes")])


def find(docs: list[dict], kind: str, name: str | None = None) -> dict[str, Any]:
    hits = [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(hits) == 1, f"{len(hits)} {kind} objects"
    return hits[0]


def normalised(docs: list[dict]) -> list[dict]:
    """The image tag is the build context's content hash: out of snapshots, so a code edit does not churn them."""

    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            return IMAGE_TAG.sub(r"\1:CONTEXTHASH", v)
        return v

    return walk(docs)
