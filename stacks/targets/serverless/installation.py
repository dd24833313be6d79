"""Every global name a serverless installation creates in an account and region, from its name.

Two installations in one account (staging and production, two teams) must not share a stack,
an SSM parameter, a function name or a metric. Each name below derives from
`platform.installation`; the default, Switchyard, gives exactly the names of the releases before
the setting existed (Switchyard-Platform, /switchyard/platform/...), so upgrading an existing
deployment renames nothing.

Installation names are letters and digits only, and a workload stack is <installation>-<workload>:
the part before the first '-' tells the installation, so two installations never produce the same
stack name whatever their workloads are called.
"""

from __future__ import annotations

from stacks.pricebook import DEFAULT_INSTALLATION


def platform_stack(installation: str = DEFAULT_INSTALLATION) -> str:
    return f"{installation}-Platform"


def workload_stack(workload: str, installation: str = DEFAULT_INSTALLATION) -> str:
    return f"{installation}-{workload}"


def front_stack(workload: str, installation: str = DEFAULT_INSTALLATION) -> str:
    """A hybrid workload's AWS front. Not its serverless stack's name: during a move between the two
    both stacks run (the old queue drains while the new one fills); "Front" is no workload name (lowercase)."""
    return f"{installation}-Front-{workload}"


def instances_stack(workload: str, installation: str = DEFAULT_INSTALLATION) -> str:
    """A managed-instances workload's stack. Not its serverless stack's name either: a move between the
    two runs both side by side (the old queue drains while the new one fills) and then deletes the old
    stack, which must not be the new one; "Instances" is no workload name (lowercase)."""
    return f"{installation}-Instances-{workload}"


def parameter_prefix(installation: str = DEFAULT_INSTALLATION) -> str:
    """SSM parameters the platform publishes for its workload stacks."""
    return f"/{installation.lower()}/platform"


def weights_sync_provider(installation: str = DEFAULT_INSTALLATION) -> str:
    """The weights-sync custom-resource provider's function name: a fixed name, so its ARN (the
    workload stacks' ServiceToken) survives a replacement of the function (stacks/aws/weights.py)."""
    return f"{installation}-weights-sync-provider"


def metrics_namespace(installation: str = DEFAULT_INSTALLATION) -> str:
    """CloudWatch namespace of the handler's and the cold-start metrics (dimension: the workload)."""
    return installation


def bucket_prefix(installation: str = DEFAULT_INSTALLATION) -> str:
    """CloudFormation names a stack's buckets after the stack, lowercased."""
    return f"{installation.lower()}-"
