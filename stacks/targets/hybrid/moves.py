"""The hybrid end of a move (stacks/commands/lock.py `runbook`): the CDK front (SQS, retained on
delete; results bucket) first, then the worker in the Pulumi program; no synchronous endpoint."""

from __future__ import annotations

from stacks.pricebook import Platform
from stacks.profile.names import namespace_for
from stacks.targets.base import MoveEnd
from stacks.targets.hybrid.config import FRONTS_CONFIG
from stacks.targets.serverless.installation import front_stack, platform_stack
from stacks.targets.serverless.moves import aws_queue


def hybrid_end(name: str, platform: Platform) -> MoveEnd:
    stack = front_stack(name, platform.installation)
    ns = namespace_for(name, platform.k8s_namespace_prefix)
    # The front is a queue whatever the workload's mode: its removal always leaves the queue behind.
    left_behind = (
        "its queue, dead-letter queue and results bucket are retained: delete them once empty and once callers no "
        "longer read old results; deactivate the worker's and scaler's access keys"
    )
    return MoveEnd(
        label="hybrid",
        aws_deploy=f"npx cdk deploy {platform_stack(platform.installation)} {stack}, then set its outputs as stack "
        f"config switchyard:{FRONTS_CONFIG}.{name}.{{queueUrl,region,resultsBucket}} and the IAM users' keys as secret "
        f"config switchyard:hybridCredentials.{name}.* (aws iam create-access-key --user-name <WorkerUserName>, "
        "<ScalerUserName>)",
        cluster_deploy=f"pulumi up   (the program now includes {name}'s worker)",
        health=f"kubectl -n {ns} rollout status deployment/{name} --timeout=15m && kubectl -n {ns} get scaledobject "
        f"{name} -o jsonpath='{{.status.conditions}}'   (Ready True: KEDA reads the queue with the scaler's key)",
        sync=None,
        activity=f"the {stack} queue's NumberOfMessagesSent",
        queue=aws_queue(stack, platform.results_retention_days, consumer=f"the worker in {ns}"),
        cluster_remove=f"pulumi up   (the program no longer includes {name}'s worker)",
        aws_remove=f"aws cloudformation delete-stack --stack-name {stack} && aws cloudformation wait "
        f"stack-delete-complete --stack-name {stack}",
        left_behind=left_behind,
        left_behind_sync=left_behind,
        namespace=ns,
    )
