"""The managed-instances end of a move (stacks/commands/lock.py `runbook`): its own CDK stack (the
capacity provider and its function behind the serverless front: HTTP API, SQS queue retained on
delete, results bucket), named by the function the CDK app names it with, so it runs beside a
serverless stack of the same workload while callers and messages move."""

from __future__ import annotations

from stacks.pricebook import Platform
from stacks.targets.base import MoveEnd
from stacks.targets.serverless.installation import instances_stack, platform_stack
from stacks.targets.serverless.moves import aws_queue, stack_output


def managed_instances_end(name: str, platform: Platform) -> MoveEnd:
    stack = instances_stack(name, platform.installation)
    function = stack_output(stack, "FunctionName")
    return MoveEnd(
        label="managed-instances",
        aws_deploy=f"npx cdk deploy {platform_stack(platform.installation)} {stack} --outputs-file cdk-outputs.json",
        # The stack is complete once the published version's environments run on the capacity
        # provider's instances; State Active says Lambda can route to them.
        health=f"aws cloudformation describe-stacks --stack-name {stack} --query 'Stacks[0].Outputs' && aws lambda "
        f"get-function-configuration --function-name {function} --qualifier '$LATEST.PUBLISHED' --query "
        f"'[State, LastUpdateStatus]'   (Active, Successful) && aws cloudwatch describe-alarms --alarm-name-prefix "
        f"{stack} --state-value ALARM",
        sync=f"the {stack} HttpApiUrl output (SigV4, service execute-api: execute-api:Invoke on the {stack} "
        "HttpApiInvokeArn output)",
        activity=f"the Invocations of {stack}'s function (its FunctionName output)",
        queue=aws_queue(stack, platform.results_retention_days, consumer="the function"),
        aws_remove=f"aws cloudformation delete-stack --stack-name {stack} && aws cloudformation wait "
        f"stack-delete-complete --stack-name {stack}   (the CDK app no longer contains it, so `npx cdk destroy` "
        "cannot select it; the capacity provider's instances stop with it)",
        left_behind="its queue, dead-letter queue and results bucket are retained: delete them once empty and "
        "once callers no longer read old results",
    )
