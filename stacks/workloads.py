"""Load and decide every profile under some paths; one bad profile never hides the others."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.decision.workload import Workload
from stacks.errors import Problem, ProfileError, SwitchyardError
from stacks.pricebook import Platform, Settings
from stacks.profile import Target
from stacks.profile.loader import PLATFORM_FILE, discover, load_profile, load_settings
from stacks.targets import BY_TARGET, TARGETS, decide
from stacks.targets.kubernetes import kubernetes_sizing

DEFAULT_PROFILES = Path("profiles")


@dataclass(frozen=True)
class Failure:
    file: Path
    error: SwitchyardError


@dataclass(frozen=True)
class Batch:
    workloads: list[Workload]
    failures: list[Failure]

    def by_target(self, target: str) -> list[Workload]:
        return [w for w in self.workloads if w.target.value == target]


def load_all(paths: list[Path] | None = None) -> Batch:
    paths = [Path(p) for p in (paths or [DEFAULT_PROFILES])]
    workloads: list[Workload] = []
    failures: list[Failure] = []
    settings_by_dir: dict[Path, Settings | None] = {}
    names: dict[str, Path] = {}
    for file in discover(paths):
        directory = file.parent
        if directory not in settings_by_dir:
            try:
                settings_by_dir[directory] = load_settings(directory)
            except SwitchyardError as exc:
                # Reported once, for the file that has the problem; the profiles that depend on
                # it are not checked until it is fixed (their numbers would be meaningless).
                settings_by_dir[directory] = None
                failures.append(Failure(directory / PLATFORM_FILE, exc))
        settings = settings_by_dir[directory]
        if settings is None:
            continue
        try:
            loaded = load_profile(file, settings)
            workload = decide(loaded)
        except SwitchyardError as exc:
            failures.append(Failure(file, exc))
            continue
        overflow = _not_finite(workload.decision.model_dump())
        if overflow:
            # Validation bounds every number; this net keeps any combination it missed out of the
            # plan, the lock and `--json` (NaN/Infinity are not JSON), as a located error.
            failures.append(
                Failure(
                    file,
                    SwitchyardError(
                        f"{file}:1: the numbers of this profile and its overrides make {overflow} overflow; "
                        "check the magnitudes (units are in the field names)"
                    ),
                )
            )
            continue
        sharing = _sharing_conflict(workload, settings)
        if sharing:
            failures.append(Failure(file, sharing))
            continue
        if workload.name in names:
            line = loaded.line_of("name")
            where = f"{file}:{line}" if line else str(file)
            failures.append(
                Failure(
                    file,
                    SwitchyardError(
                        f"{where}: name: '{workload.name}' is already used by {names[workload.name]}; "
                        "names become stack and namespace names and must be unique"
                    ),
                )
            )
            continue
        names[workload.name] = file
        workloads.append(workload)
    # Limits of the set, not of one profile: reported once, the workloads still listed.
    failures += [Failure(Path(where), error) for t in TARGETS for where, error in t.fleet_problems(workloads)]
    return Batch(workloads, failures)


def buildable(batch: Batch) -> Batch:
    """The batch a builder may build: a workload its target models but cannot build (TargetSpec.unbuildable)
    becomes a failure, so `synth` writes nothing rather than a half of the profiles."""
    refused = [(w, BY_TARGET[w.target].unbuildable(w)) for w in batch.workloads]
    failures = [Failure(w.file, error) for w, error in refused if error is not None]
    if not failures:
        return batch
    return Batch([w for w, error in refused if error is None], batch.failures + failures)


SHARING_FIELDS = ("gpu_sharing", "time_slicing_replicas", "mig_strategy")


def sharing_disagreement(w: Workload, cluster: Platform) -> tuple[str, str] | None:
    """(the workload's, the cluster's) GPU sharing settings when a GPU workload's differ from the
    cluster's: the GPU Operator applies one mode to every node. Checked at load (plan) and again by
    the Pulumi program for the batch it is given."""
    if kubernetes_sizing(w).gpu_type is None:
        return None
    mine = tuple(getattr(w.settings.platform, f) for f in SHARING_FIELDS)
    want = tuple(getattr(cluster, f) for f in SHARING_FIELDS)
    if mine == want:
        return None
    return tuple(  # type: ignore[return-value]
        ", ".join(f"{f}={v}" for f, v in zip(SHARING_FIELDS, values, strict=True)) for values in (mine, want)
    )


def _sharing_conflict(w: Workload, base: Settings) -> ProfileError | None:
    """A Kubernetes GPU workload whose overrides change the GPU sharing mode of the cluster (platform.yaml):
    the Pulumi program would refuse it; plan does too."""
    found = sharing_disagreement(w, base.platform) if w.target is Target.kubernetes else None
    if found is None:
        return None
    shown, cluster = found
    return ProfileError(
        [
            Problem(
                file=str(w.file),
                line=None,
                path="overrides.platform",
                message=f"{shown} disagrees with the cluster's {cluster}",
                allowed=f"one GPU sharing mode per cluster (the GPU Operator applies one to every node): {PLATFORM_FILE}'s",
                hint=f"set it once in {PLATFORM_FILE} beside the profiles and remove it from the profile",
            )
        ]
    )


def _not_finite(value: Any, path: str = "") -> str | None:
    """The path of the first NaN or infinite number in a decision, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "a figure"
    if isinstance(value, dict):
        for key, item in value.items():
            found = _not_finite(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _not_finite(item, f"{path}[{i}]")
            if found:
                return found
    return None
