"""The AWS targets' endpoints, read from `cdk deploy --outputs-file` under the exact names their
stacks declare: serverless (<installation>-<name>, stacks/aws/workload.py), managed-instances
(<installation>-Instances-<name>, stacks/aws/managed_instances_stack.py), both with the front of
stacks/aws/front.py, and the hybrid front (<installation>-Front-<name>, stacks/aws/hybrid.py), whose
consumer is the cluster's worker.
"""

from __future__ import annotations

from typing import Any

from stacks.commands.endpoint_types import RESULTS_PREFIX, SQS_CALLER, Async, Endpoints, Sync
from stacks.decision.workload import Workload
from stacks.profile import Endpoint, Mode
from stacks.targets.serverless.installation import front_stack, instances_stack, workload_stack

ASYNC_OUTPUTS = [
    "QueueUrl",
    "QueueArn",
    "DeadLetterQueueUrl",
    "ResultsBucketName",
    "ResultsPrefixArn",
    "ResultsReadPolicyArn",
]
# stacks/aws/hybrid.py HybridFrontStack: what callers, the worker's stack config and its keys need.
HYBRID_OUTPUTS = [
    "QueueUrl",
    "QueueArn",
    "DeadLetterQueueUrl",
    "Region",
    "ResultsBucketName",
    "QueueSendPolicyArn",
    "ResultsReadPolicyArn",
    "WorkerUserName",
    "ScalerUserName",
]


def stack_name(w: Workload) -> str:
    """The CDK stack that holds what callers reach: <installation>-<name> for serverless,
    <installation>-Instances-<name> for managed-instances, <installation>-Front-<name> for hybrid
    (Switchyard-... by default): three names, so a move between two of them runs both stacks."""
    installation = w.settings.platform.installation
    if w.target.value == "hybrid":
        return front_stack(w.name, installation)
    if w.target.value == "managed-instances":
        return instances_stack(w.name, installation)
    return workload_stack(w.name, installation)


def cdk_output_names(w: Workload) -> list[str]:
    """The CfnOutputs the workload's stack declares for this profile."""
    if w.target.value == "hybrid":
        return list(HYBRID_OUTPUTS)
    sla = w.profile.sla
    if w.target.value == "managed-instances":
        names = ["FunctionName", "FunctionArn", "CapacityProviderArn"]
    else:
        names = ["FunctionName", "AliasArn"]
    if sla.mode is not Mode.sync:
        names += ASYNC_OUTPUTS
    if sla.mode is not Mode.async_:
        names += ["HttpApiUrl", "HttpApiInvokeArn"] if sla.endpoint is Endpoint.http_api else ["FunctionUrl"]
    return names


def _start(w: Workload, outputs: dict[str, Any] | None, source: str) -> Endpoints:
    """The workload's entry, with what to do when its stack is missing from the outputs file or lacks names."""
    stack = stack_name(w)
    deployed = outputs is not None
    out = outputs or {}
    e = Endpoints(w.name, w.target.value, deployed, source if deployed else "plan (not deployed)", outputs=out)
    if not deployed and source:
        # `cdk deploy A --outputs-file F` rewrites F with A's outputs alone (aws/aws-cdk#16437).
        last = source.rsplit(", ", 1)[-1]  # several --cdk-outputs files: the last one is rewritten next
        e.notes.append(
            f"not in {source}: not deployed, or a later `cdk deploy --outputs-file {last}` of other stacks "
            f"rewrote the file (CDK writes only the stacks it deployed): `npx cdk deploy {stack} --outputs-file "
            f"{stack}.json` writes its outputs (no change to deploy), then pass that file too "
            f"(`--cdk-outputs {last} --cdk-outputs {stack}.json`)"
        )
    elif not deployed:
        e.notes.append(f"not deployed: after `cdk deploy {stack}` its outputs are {', '.join(cdk_output_names(w))}")
    elif lacking := [n for n in cdk_output_names(w) if n not in out]:
        # A stack deployed by an older version, with another endpoint or mode, or a hand-trimmed file.
        e.notes.append(
            f"{source} lacks {stack}'s {', '.join(lacking)}: redeploy or refresh it with "
            f"`npx cdk deploy {stack} --outputs-file {source}`"
        )
    return e


def _sqs(e: Endpoints, stack: str, send_grant: str) -> Async:
    def name(key: str) -> str | None:
        return e.outputs.get(key) if e.deployed else None

    bucket = name("ResultsBucketName")
    return Async(
        "sqs",
        name("QueueUrl"),
        name("DeadLetterQueueUrl"),
        f"s3://{bucket}/{RESULTS_PREFIX}<caller>/<id>.json" if bucket else None,
        f"{send_grant}; attach the managed policy "
        f"{name('ResultsReadPolicyArn') or stack + ' output ResultsReadPolicyArn'} "
        "(s3:GetObject on results/${aws:userid}/*: your own results only)",
        caller=SQS_CALLER,
    )


def lambda_function(w: Workload, outputs: dict[str, Any] | None, source: str) -> Endpoints:
    """serverless (invoked through its alias) or managed-instances (unqualified: $LATEST.PUBLISHED)."""
    sla = w.profile.sla
    stack = stack_name(w)
    e = _start(w, outputs, source)

    def name(key: str) -> str | None:
        return e.outputs.get(key) if e.deployed else None

    function_key = "FunctionArn" if w.target.value == "managed-instances" else "AliasArn"
    if sla.mode is not Mode.async_:
        if sla.endpoint is Endpoint.http_api:
            e.sync = Sync(
                name("HttpApiUrl"),
                "",
                f"SigV4 (service execute-api): execute-api:Invoke on {name('HttpApiInvokeArn') or stack + ' output HttpApiInvokeArn'}",
            )
        else:
            function = name(function_key) or f"{stack} output {function_key}"
            e.sync = Sync(
                name("FunctionUrl"),
                "",
                f"SigV4 (service lambda): lambda:InvokeFunctionUrl and lambda:InvokeFunction on {function}",
            )
    if sla.mode is not Mode.sync:
        e.async_ = _sqs(e, stack, f"sqs:SendMessage on {name('QueueArn') or stack + ' output QueueArn'}")
    if e.deployed and w.target.value == "managed-instances":
        e.notes.append(
            f"capacity provider {e.outputs.get('CapacityProviderArn', '(not in the outputs)')}: its instances run "
            "in the platform VPC and scale asynchronously (traffic more than doubling within minutes is throttled)"
        )
    return e


def hybrid(
    w: Workload, outputs: dict[str, Any] | None, source: str, worker: dict[str, Any] | None, worker_source: str | None
) -> Endpoints:
    """The AWS front callers use (queue, results), and whether the cluster's worker consumes that queue."""
    stack = stack_name(w)
    e = _start(w, outputs, source)
    send = e.outputs.get("QueueSendPolicyArn") if e.deployed else None
    e.async_ = _sqs(e, stack, f"attach the managed policy {send or stack + ' output QueueSendPolicyArn'}")
    queue = e.outputs.get("QueueUrl") if e.deployed else None
    if worker is None and worker_source is None:
        e.notes.append(
            "the cluster's worker is not checked: no Pulumi stack outputs read (--pulumi-outputs FILE or "
            "--pulumi-stack NAME with the pulumi CLI)"
        )
    elif worker is None:
        e.notes.append(
            f"no worker in {worker_source}: messages wait in the queue until `pulumi up` runs the "
            f"worker, with switchyard:hybridFronts.{w.name} set from {stack}'s QueueUrl, Region and ResultsBucketName"
        )
    elif queue and worker.get("queue") != queue:
        # A front redeployed (new queue) while the worker still drains the old one: callers' messages
        # would never be consumed.
        e.notes.append(
            f"the cluster's worker consumes {worker.get('queue')}, not {queue}: set switchyard:hybridFronts."
            f"{w.name}.queueUrl from {stack}'s QueueUrl and run `pulumi up`"
        )
    else:
        e.notes.append(f"consumed by the worker in namespace {worker.get('namespace')} on the cluster (KEDA scales it)")
    return e
