"""Names on the cluster: which namespace a workload gets, which names it may never take, and the
ownership labels every object carries.

One function per question, shared by validation (`switchyard validate` refuses a profile whose
namespace would land on a reserved one), the Pulumi program (which checks again against the
add-on namespaces its stack config names) and `switchyard plan` (which lists what each workload
owns and where it is reachable).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

# Which names a workload may never take is profile validation's (stacks/profile/names.py), so that
# `switchyard validate` imports no builder; re-exported for the Pulumi program, which checks again
# against the add-on namespaces its stack config names.
from stacks.profile.names import (  # noqa: F401
    DEFAULT_ADDON_NAMESPACES,
    RESERVED_ALLOWED,
    SYSTEM_NAMESPACES,
    SYSTEM_PREFIX,
    namespace_for,
    reserved_reason,
)

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "switchyard"
WORKLOAD_LABEL = "switchyard.dev/workload"
PROFILE_LABEL = "switchyard.dev/profile"
PLAN_LABEL = "switchyard.dev/plan-revision"
PROFILE_ANNOTATION = "switchyard.dev/profile-path"
# On a namespace kept across `pulumi destroy` and moves (an async workload's queue): the stack that
# may apply over it again. The never-adopt guard refuses to change it, so a second stack declaring
# the same workload cannot take over the first one's live queue.
STACK_LABEL = "switchyard.dev/stack"

_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]")


def stack_identity() -> str:
    """<project>.<stack> of the running Pulumi program (the organization is not in a label's 63
    characters' reach for every backend: two stacks on one cluster must differ in these)."""
    import pulumi  # heavy: only the Pulumi program asks, and plan and validate import this module too

    return label_value(f"{pulumi.get_project()}.{pulumi.get_stack()}")


def plan_revision(entry: dict) -> str:
    """A short hash of the workload's plan-lock entry: which reviewed plan the objects came from."""
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()[:12]


def label_value(text: str) -> str:
    """A Kubernetes label value (63 chars of [A-Za-z0-9._-], alphanumeric at both ends)."""
    value = _LABEL_VALUE.sub(".", text)[-63:].strip("._-")
    return value or "none"


def ownership(name: str, profile_file: Path, revision: str, root: Path) -> dict[str, str]:
    """The labels every object of one workload carries (the same facts as the AWS tags)."""
    rel = profile_file.name
    for base in (root, Path.cwd()):  # the project root (pulumi up), or where `switchyard synth` runs
        try:
            rel = profile_file.resolve().relative_to(base.resolve()).as_posix()
            break
        except ValueError:
            continue
    return {
        MANAGED_BY: MANAGER,
        WORKLOAD_LABEL: name,
        PROFILE_LABEL: label_value(rel),
        PLAN_LABEL: revision,
    }


def addon_ownership(addon: str) -> dict[str, str]:
    return {MANAGED_BY: MANAGER, "switchyard.dev/addon": label_value(addon)}


def service_address(name: str, namespace: str, port: int = 80) -> str:
    return (
        f"http://{name}.{namespace}.svc.cluster.local:{port}"
        if port != 80
        else f"http://{name}.{namespace}.svc.cluster.local"
    )


def placement(name: str, prefix: str) -> dict[str, object]:
    """What a kubernetes workload owns on the cluster and where callers reach it (for `switchyard plan`).

    External URLs depend on the stack's `expose` setting; `pulumi stack output workloads` has them.
    """
    namespace = namespace_for(name, prefix)
    return {"namespaces": [namespace], "service": service_address(name, namespace)}
