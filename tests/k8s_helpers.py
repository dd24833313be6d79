from __future__ import annotations

from pathlib import Path
from typing import Any

from stacks.commands.snapshot import normalised_objects as normalised  # the user-facing snapshots' rules
from stacks.k8s import mocks
from stacks.k8s.settings import ClusterSecrets, ClusterSettings
from stacks.workloads import load_all

__all__ = ["CLUSTER", "find", "manifests", "normalised", "write_platform"]

# What a platform team sets in its stack (Pulumi.dev.yaml): a ReadWriteMany class for the model cache.
CLUSTER = ClusterSettings(model_storage_class="cephfs")


def manifests(
    profiles: Path,
    build_root: Path,
    settings: ClusterSettings | None = None,
    secrets: ClusterSecrets | None = None,
) -> dict[str, list[dict]]:
    batch = load_all([profiles])
    assert not batch.failures, [str(f.error) for f in batch.failures]
    resources = mocks.run(batch, settings or CLUSTER, build_root, secrets)
    return mocks.by_workload(resources, [w.name for w in [*batch.by_target("kubernetes"), *batch.by_target("hybrid")]])


def write_platform(profiles: Path, text: str) -> Path:
    """A platform.yaml beside copied profiles (the platform settings the decision reads)."""
    (profiles / "platform.yaml").write_text(text, encoding="utf-8")
    return profiles


def find(docs: list[dict], kind: str, name: str | None = None) -> dict[str, Any]:
    hits = [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(hits) == 1, f"{len(hits)} {kind} objects"
    return hits[0]
