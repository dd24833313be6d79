"""The serverless end of a move (stacks/commands/lock.py `runbook`): a CDK stack, its Function URL or
HTTP API, its SQS queue (retained on delete) and results bucket."""

from __future__ import annotations

from stacks.pricebook import Platform
from stacks.targets.base import MoveEnd, QueueEnd
from stacks.targets.serverless.installation import platform_stack, workload_stack


def stack_output(stack: str, key: str) -> str:
    """A shell expression for one CloudFormation output of a deployed stack."""
    return f"$(aws cloudformation describe-stacks --stack-name {stack} --query \"Stacks[0].Outputs[?OutputKey=='{key}'].OutputValue\" --output text)"


def aws_queue(stack: str, results_days: int, *, consumer: str) -> QueueEnd:
    def output(key: str) -> str:
        return stack_output(stack, key)

    # The stack outputs the dead-letter queue's URL; a move task takes ARNs: SQS answers it.
    dead_arn = (
        f"$(aws sqs get-queue-attributes --queue-url {output('DeadLetterQueueUrl')} --attribute-names QueueArn "
        "--query Attributes.QueueArn --output text)"
    )
    return QueueEnd(
        kind="sqs",
        send=f"the {stack} QueueUrl output (SQS SendMessage, {{id, inputs}})",
        depth=f"aws sqs get-queue-attributes --queue-url {output('QueueUrl')} --attribute-names "
        "ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible",
        dead=f"the {stack} DeadLetterQueueUrl output",
        redrive=f"aws sqs start-message-move-task --source-arn {dead_arn}   "
        f"(no destination: back to the queue it came from, while {consumer} still runs)",
        results=f"s3://<{stack} ResultsBucketName>/results/<caller>/<id>.json",
        results_kept=f"{results_days} days",
        arn=output("QueueArn"),
        dead_arn=dead_arn,
    )


def serverless_end(name: str, platform: Platform) -> MoveEnd:
    stack = workload_stack(name, platform.installation)
    queue = aws_queue(stack, platform.results_retention_days, consumer="the function")
    return MoveEnd(
        label="serverless",
        aws_deploy=f"npx cdk deploy {platform_stack(platform.installation)} {stack} --outputs-file cdk-outputs.json",
        health=f"aws cloudformation describe-stacks --stack-name {stack} --query 'Stacks[0].Outputs'"
        f" && aws cloudwatch describe-alarms --alarm-name-prefix {stack} --state-value ALARM",
        sync=f"the {stack} FunctionUrl (IAM-signed) or HttpApiUrl output",
        activity=f"{stack}'s invocations",
        queue=queue,
        aws_remove=f"aws cloudformation delete-stack --stack-name {stack} && aws cloudformation wait "
        f"stack-delete-complete --stack-name {stack}   (the CDK app no longer contains it, so `npx cdk destroy` "
        "cannot select it)",
        left_behind="its queue, dead-letter queue and results bucket are retained: delete them once empty and "
        "once callers no longer read old results",
    )
