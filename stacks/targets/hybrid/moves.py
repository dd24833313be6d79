"""The hybrid end of a move (stacks/commands/lock.py `runbook`): the CDK front (SQS, retained on
delete; results bucket) first, then the worker in the Pulumi program; no synchronous endpoint."""

from __future__ import annotations

from stacks.pricebook import Platform
from stacks.profile.names import namespace_for
from stacks.targets.base import MoveEnd
from stacks.targets.hybrid.config import CREDENTIALS_CONFIG, FRONTS_CONFIG
from stacks.targets.serverless.installation import front_stack, platform_stack
from stacks.targets.serverless.moves import aws_queue, stack_output


def hybrid_end(name: str, platform: Platform) -> MoveEnd:
    stack = front_stack(name, platform.installation)
    ns = namespace_for(name, platform.k8s_namespace_prefix)
    # The front is a queue whatever the workload's mode: its removal always leaves the queue behind.
    left_behind = (
        "its queue, dead-letter queue and results bucket are retained: delete them once empty and once callers no "
        f"longer read old results; drop the stack config the worker read: pulumi config rm --path "
        f"'switchyard:{FRONTS_CONFIG}.{name}' && pulumi config rm --path 'switchyard:{CREDENTIALS_CONFIG}.{name}'"
    )
    # The two IAM users hold keys the operator created (never in the template): IAM refuses to delete a
    # user holding keys, so the stack's delete would fail on them, and a worker's key must not outlive it.
    users = f"{stack_output(stack, 'WorkerUserName')} {stack_output(stack, 'ScalerUserName')}"
    delete_keys = (
        f'for u in {users}; do for k in $(aws iam list-access-keys --user-name "$u" --query '
        "'AccessKeyMetadata[].AccessKeyId' --output text); do aws iam delete-access-key --user-name \"$u\" "
        '--access-key-id "$k"; done; done'
    )
    return MoveEnd(
        label="hybrid",
        aws_deploy=f"npx cdk deploy {platform_stack(platform.installation)} {stack} --outputs-file cdk-outputs.json, "
        f"then set its outputs as stack config switchyard:{FRONTS_CONFIG}.{name}.{{queueUrl,region,resultsBucket}} "
        f"and the IAM users' keys as secret config switchyard:{CREDENTIALS_CONFIG}.{name}.* (aws iam "
        "create-access-key --user-name <WorkerUserName>, <ScalerUserName>)",
        cluster_deploy=f"pulumi up   (the program now includes {name}'s worker)",
        health=f"kubectl -n {ns} rollout status deployment/{name} --timeout=15m && kubectl -n {ns} get scaledobject "
        f"{name} -o jsonpath='{{.status.conditions}}'   (Ready True: KEDA reads the queue with the scaler's key)",
        sync=None,
        activity=f"the {stack} queue's NumberOfMessagesSent",
        queue=aws_queue(stack, platform.results_retention_days, consumer=f"the worker in {ns}"),
        cluster_remove=f"pulumi up   (the program no longer includes {name}'s worker)",
        aws_remove=f"delete the worker's and the scaler's access keys, then the stack: {delete_keys}; aws "
        f"cloudformation delete-stack --stack-name {stack} && aws cloudformation wait stack-delete-complete "
        f"--stack-name {stack}",
        left_behind=left_behind,
        left_behind_sync=left_behind,
        namespace=ns,
    )
