"""Ownership labels/tags: the same keys and values on every object Switchyard creates, on both targets.

    app.kubernetes.io/managed-by = switchyard
    switchyard.dev/workload      = <workload name>          (absent on shared platform objects)
    switchyard.dev/profile       = <profiles dir>/<file>    (e.g. profiles/sentiment-api.yaml)
    switchyard.dev/plan-lock     = <first 12 hex of the plan lock's sha256> | unlocked

The keys are valid as AWS tag keys and Kubernetes label keys. The profile path contains a "/",
which Kubernetes label values do not allow: there it belongs in an annotation.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MANAGED_BY = "app.kubernetes.io/managed-by"
WORKLOAD = "switchyard.dev/workload"
PROFILE = "switchyard.dev/profile"
PLAN_LOCK = "switchyard.dev/plan-lock"
MANAGER = "switchyard"
LOCK_FILE = "plan.lock.json"
UNLOCKED = "unlocked"


def lock_revision(profiles_dir: Path) -> str:
    lock = profiles_dir / LOCK_FILE
    if not lock.is_file():
        return UNLOCKED
    return hashlib.sha256(lock.read_bytes()).hexdigest()[:12]


def profile_label(file: Path) -> str:
    """Stable wherever the repository is checked out: the profile's directory name and file name."""
    return f"{file.parent.name}/{file.name}"


def platform_tags(profiles_dir: Path) -> dict[str, str]:
    return {MANAGED_BY: MANAGER, PLAN_LOCK: lock_revision(profiles_dir)}


def workload_tags(name: str, file: Path, profiles_dir: Path) -> dict[str, str]:
    return {**platform_tags(profiles_dir), WORKLOAD: name, PROFILE: profile_label(file)}
