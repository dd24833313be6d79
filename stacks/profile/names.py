"""Names a workload may not take: validation refuses them before anything is synthesized.

A workload's name becomes its CDK stack (Switchyard-<name>), its Kubernetes output file
(k8s.out/<name>.yaml) and its namespace (<prefix><name>). These rules live with the profile so
that `switchyard validate` checks them without importing a target or a builder; the builders
(stacks/aws, stacks/k8s/naming.py) take the same constants from here.
"""

from __future__ import annotations

from collections.abc import Iterable

from stacks.errors import Hit
from stacks.pricebook import Settings
from stacks.profile.model import Profile

STACK_PREFIX = "Switchyard-"  # workload stacks are Switchyard-<name>
PLATFORM_STACK = "Switchyard-Platform"  # the shared platform stack
ADDONS_FILE = "cluster-addons"  # k8s.out/cluster-addons.yaml: the add-ons (stacks/k8s/mocks.py)

# Namespaces a workload may never be placed in, whatever the stack config says: the cluster's own.
SYSTEM_NAMESPACES = ("default",)
SYSTEM_PREFIX = "kube-"
# Add-on namespaces at their defaults (stack config may name others: the Pulumi program checks
# those too). The charts install into these (stacks/k8s/vendor.py; tests/test_namespace_guards.py
# holds the two to the same names).
DEFAULT_ADDON_NAMESPACES = {
    "GPU Operator": "gpu-operator",
    "KEDA": "keda",
    "KEDA HTTP add-on": "keda",
    "monitoring": "monitoring",
    "queue (Redis)": "switchyard",
}
RESERVED_ALLOWED = (
    "a name whose namespace is not kube-*, default, an add-on namespace (gpu-operator, keda, monitoring, "
    "switchyard, ...) or one listed in platform k8s_foreign_namespaces"
)


def namespace_for(name: str, prefix: str) -> str:
    """The one namespace a workload owns: the platform's prefix + its name."""
    return f"{prefix}{name}"


def reserved_reason(
    name: str, prefix: str, addons: dict[str, str] | None = None, foreign: Iterable[str] = ()
) -> str | None:
    """Why a workload called `name` may not exist on the cluster, or None.

    Both the bare name and the prefixed namespace are checked: the bare name is what the workload
    is known by everywhere (Service, labels, AWS stack), and a prefix can be changed later.
    """
    addons = DEFAULT_ADDON_NAMESPACES if addons is None else addons
    foreign = set(foreign)
    for candidate in dict.fromkeys((name, namespace_for(name, prefix))):
        if candidate.startswith(SYSTEM_PREFIX):
            return f"namespace '{candidate}' is reserved for Kubernetes itself (kube-*)"
        if candidate in SYSTEM_NAMESPACES:
            return f"namespace '{candidate}' is the cluster's default namespace"
        for addon, ns in sorted(addons.items()):
            if candidate == ns:
                return f"namespace '{candidate}' belongs to the {addon} add-on"
        if candidate in foreign:
            return f"namespace '{candidate}' is listed as foreign (platform k8s_foreign_namespaces)"
    return None


def name_problems(p: Profile, settings: Settings) -> list[Hit]:
    """A workload name must not collide with the platform stack, the add-ons' output or a reserved namespace.

    CloudFormation compares stack names case-sensitively, but the cloud assembly's file names
    (Switchyard-Platform.template.json) and case-insensitive file systems do not.
    """
    problems = []
    if p.name == ADDONS_FILE:
        problems.append(
            Hit(
                ("name",),
                f"'{p.name}' would write its Kubernetes objects to k8s.out/{p.name}.yaml, the cluster add-ons' file",
                "any other DNS-1123 label",
                f"e.g. {p.name}-api",
            )
        )
    stack = f"{STACK_PREFIX}{p.name}"
    if stack.lower() == PLATFORM_STACK.lower():
        problems.append(
            Hit(
                ("name",),
                f"'{p.name}' would name its stack {stack}, which collides with the shared platform stack {PLATFORM_STACK}",
                "any other DNS-1123 label",
                f"e.g. {p.name}-api",
            )
        )
    platform = settings.platform
    reserved = reserved_reason(p.name, platform.k8s_namespace_prefix, foreign=platform.k8s_foreign_namespaces)
    if reserved:
        problems.append(Hit(("name",), f"'{p.name}': {reserved}", RESERVED_ALLOWED, "rename the workload"))
    return problems


# Pulumi stack config the program reads a hybrid workload's AWS front from (plain, not secret):
# switchyard:hybridFronts.<workload>.{queueUrl, region, resultsBucket}. Named here, below both the
# hybrid target and the cluster settings that accept the key.
FRONTS_CONFIG = "hybridFronts"
# ... and its IAM users' keys, as secrets: switchyard:hybridCredentials.<workload>.*
CREDENTIALS_CONFIG = "hybridCredentials"
