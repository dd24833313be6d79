"""`switchyard outputs`: where each workload is reached, whichever target it is on.

For every workload: the synchronous endpoint and its auth, the queue, its dead letters and where
each caller's results land (results/<caller>/<id> on every target: the caller is the sender's IAM
identity on AWS, the API key's name on Kubernetes), read from what was deployed (the CDK outputs file `cdk deploy --outputs-file`
writes, and the Pulumi stack outputs) under the exact names the stacks export (the AWS targets'
CfnOutputs: endpoints_aws.py; stacks/k8s/program.py `workloads`). A workload not deployed yet is shown from the plan:
"not deployed", with the names that will exist. (`stacks/commands/outputs.py` is about synth's
output folders, not this.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stacks.commands.endpoint_types import (
    API_KEY_HINT,
    HTTP_CALLER,
    REDIS_PORT,
    Async,
    Endpoints,
    Sync,
)
from stacks.commands.endpoints_aws import cdk_output_names, hybrid, lambda_function, stack_name
from stacks.commands.report import exit_code, print_failures, print_no_profiles
from stacks.decision.workload import Workload
from stacks.errors import SwitchyardError
from stacks.k8s import naming
from stacks.k8s.scaling import queue_result_key, queue_stream
from stacks.k8s.settings import ClusterSettings, RedisMode, from_stack_file
from stacks.profile import Mode, Preset
from stacks.targets.serverless.installation import front_stack, instances_stack, workload_stack
from stacks.workloads import DEFAULT_PROFILES, Batch, load_all

DEFAULT_CDK_OUTPUTS = Path("cdk-outputs.json")  # what the README's `cdk deploy --outputs-file` writes
__all__ = ["Endpoints", "cdk_output_names", "gather", "run", "stack_name"]
AWS_FUNCTIONS = ("serverless", "managed-instances")  # a Lambda function behind the serverless front


def _planned_queue(w: Workload, namespace: str, settings: ClusterSettings) -> dict[str, Any]:
    """The queue the program will create (stacks/k8s/redis.py), for a workload not deployed yet."""
    stream = queue_stream(w.name)
    deploy = settings.redis_mode is RedisMode.deploy
    return {
        "address": f"{w.name}-redis.{namespace}.svc:{REDIS_PORT}" if deploy else settings.redis_address,
        "stream": stream,
        "result": queue_result_key(w.name),
        "dead": f"{stream}:dead",
        "passwordSecret": f"{w.name}-redis" if deploy else None,
    }


def kubernetes(w: Workload, outputs: dict[str, Any] | None, source: str, settings: ClusterSettings) -> Endpoints:
    from stacks.k8s.exposure import external_url  # pulumi: only for a workload on kubernetes

    deployed = outputs is not None
    namespace = naming.namespace_for(w.name, w.settings.platform.k8s_namespace_prefix)
    out = outputs or {
        "namespace": namespace,
        "service": naming.service_address(w.name, namespace),
        "url": external_url(w.name, settings),
    }
    e = Endpoints(w.name, "kubernetes", deployed, source if deployed else "plan (not deployed)", outputs=dict(out))
    if not deployed:
        e.notes.append("not deployed: after `pulumi up` these names exist (`pulumi stack output workloads`)")
    vllm = w.profile.model.preset is Preset.vllm
    url = out.get("url") or out.get("service")
    if w.profile.sla.mode is not Mode.async_ or vllm:
        e.sync = Sync(url, "/v1/completions" if vllm else "/predict", API_KEY_HINT)
    if not out.get("url"):
        e.notes.append(
            f"{out.get('service')} resolves inside the cluster only, from namespaces in clientNamespaces; "
            f"from elsewhere: kubectl -n {out.get('namespace', namespace)} port-forward svc/{w.name} 8080:80"
        )
    if w.profile.sla.mode is not Mode.sync and not vllm:
        queue = out.get("queue") or _planned_queue(w, out.get("namespace", namespace), settings)
        secret = queue.get("passwordSecret")
        auth = (
            f"Redis AUTH: kubectl -n {out.get('namespace', namespace)} get secret {secret} -o jsonpath='{{.data.password}}' | base64 -d"
            if secret
            else "the existing Redis's own auth (switchyard:redisPassword)"
        )
        # Callers send and read over the server's HTTP API with their key; the stream itself is for
        # producers inside the namespace.
        e.async_ = Async(
            "redis-stream",
            queue["stream"],
            queue["dead"],
            queue["result"],
            API_KEY_HINT,
            queue["address"],
            caller=HTTP_CALLER,
            api=url,
            stream_auth=auth,
        )
        if deployed and "queue" not in out:
            e.notes.append("the stack's outputs predate the queue entry: the queue names shown are the plan's")
    return e


def read_cdk_outputs(paths: Sequence[Path] | Path | None) -> tuple[dict[str, dict[str, Any]], str | None]:
    """`cdk deploy --outputs-file` JSON: {stack: {output: value}}; an absent default file is no deployment.

    Each `cdk deploy --outputs-file` run writes only the stacks it deployed, so a team that deploys
    stacks one at a time keeps one file per run: several files merge in order, a later file's
    stack replacing an earlier one's (it is the newer deploy of that stack)."""
    if isinstance(paths, Path):
        paths = [paths]
    if not paths:
        return _read_one_cdk_outputs(None)
    merged: dict[str, dict[str, Any]] = {}
    for path in paths:
        doc, _ = _read_one_cdk_outputs(path)
        merged.update(doc)
    return merged, ", ".join(str(p) for p in paths)


def _read_one_cdk_outputs(path: Path | None) -> tuple[dict[str, dict[str, Any]], str | None]:
    explicit = path is not None
    path = path or DEFAULT_CDK_OUTPUTS
    if not path.exists():
        if explicit:
            raise SwitchyardError(
                f"--cdk-outputs {path}: no such file\n    hint: npx cdk deploy --all --outputs-file {path}"
            )
        return {}, None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SwitchyardError(f"{path}: not a CDK outputs file (JSON): {exc}") from None
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise SwitchyardError(f"{path}: not a CDK outputs file: expected {{stack: {{output: value}}}}")
    for stack, outputs in doc.items():
        for key, value in outputs.items():
            if not isinstance(value, str):  # CloudFormation outputs are strings, always
                raise SwitchyardError(
                    f"{path}: {stack}.{key} is {json.dumps(value)[:80]}, not text: not a CDK outputs file as "
                    f"`cdk deploy --outputs-file` writes it\n    hint: npx cdk deploy --all --outputs-file {path}"
                )
    return doc, str(path)


_TEXT_FIELDS = ("namespace", "service", "url")
_QUEUE_FIELDS = ("address", "stream", "result", "dead")


def _check_workloads(workloads: dict[str, Any], source: str) -> None:
    """Each entry as stacks/k8s/program.py exports it; anything else would be shown as if it were."""
    hint = "\n    hint: pulumi stack output --json > FILE, from this project's stack"
    for name, entry in workloads.items():
        if not isinstance(entry, dict):
            raise SwitchyardError(f"{source}: workloads.{name} is {json.dumps(entry)[:80]}, not an object{hint}")
        for key in _TEXT_FIELDS:
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise SwitchyardError(
                    f"{source}: workloads.{name}.{key} is {json.dumps(entry[key])[:80]}, not text{hint}"
                )
        queue = entry.get("queue")
        if isinstance(queue, str) and queue.startswith(("https://", "http://")):
            continue  # a hybrid worker's: the URL of the SQS queue it consumes
        if queue is not None and not (
            isinstance(queue, dict) and all(isinstance(queue.get(k), str) for k in _QUEUE_FIELDS)
        ):
            raise SwitchyardError(
                f"{source}: workloads.{name}.queue is {json.dumps(queue)[:80]}, not an object with "
                f"{', '.join(_QUEUE_FIELDS)}{hint}"
            )


def read_pulumi_outputs(path: Path | None, stack: str | None) -> tuple[dict[str, Any], str | None]:
    """`pulumi stack output --json`, from a file or from the CLI when it is installed."""
    if path is not None:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SwitchyardError(f"--pulumi-outputs {path}: not `pulumi stack output --json` output: {exc}") from None
        source = str(path)
    else:
        pulumi = shutil.which("pulumi")
        if pulumi is None:
            return {}, None
        argv = [pulumi, "stack", "output", "--json", *(["--stack", stack] if stack else [])]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            print("warning: `pulumi stack output` did not answer within 60 s", file=sys.stderr)
            return {}, None
        if done.returncode != 0:
            print(f"warning: `pulumi stack output` failed: {done.stderr.strip()[:300]}", file=sys.stderr)
            return {}, None
        try:
            doc = json.loads(done.stdout)
        except ValueError:
            return {}, None
        source = f"pulumi stack {stack or '(current)'}"
    if path is not None and (not isinstance(doc, dict) or (doc and "workloads" not in doc)):
        # `{}` is a stack never deployed; outputs without `workloads` are another project's stack.
        found = ", ".join(sorted(doc)) if isinstance(doc, dict) else type(doc).__name__
        raise SwitchyardError(
            f"--pulumi-outputs {path}: no `workloads` output (found: {found}): not this project's stack\n"
            "    hint: pulumi stack output --json --stack <this project's stack> > FILE"
        )
    workloads = doc.get("workloads") if isinstance(doc, dict) else None
    if workloads is not None and not isinstance(workloads, dict):
        raise SwitchyardError(f"{source}: output `workloads` is not an object")
    _check_workloads(workloads or {}, source)
    return workloads or {}, source


def collect(
    batch: Batch,
    cdk: dict[str, dict[str, Any]],
    cdk_source: str | None,
    pulumi: dict[str, Any],
    pulumi_source: str | None,
    settings: ClusterSettings,
) -> list[Endpoints]:
    out = []
    for w in batch.workloads:
        stack = stack_name(w)
        installation = w.settings.platform.installation
        # Another target's deployment of the same workload: a move in progress (plan --check's runbook).
        # Each AWS target has a stack name of its own: the other two, when deployed, are the old ones.
        aws_stacks = {
            "serverless": workload_stack(w.name, installation),
            "managed-instances": instances_stack(w.name, installation),
            "hybrid": front_stack(w.name, installation),
        }
        elsewhere = {
            "kubernetes": w.name in pulumi and not isinstance(pulumi[w.name].get("queue"), str),
            **{other: aws_stacks[other] in cdk and other != w.target.value for other in aws_stacks},
        }
        if w.target.value in AWS_FUNCTIONS:
            e = lambda_function(w, cdk.get(stack), cdk_source or "")
        elif w.target.value == "hybrid":
            e = hybrid(w, cdk.get(stack), cdk_source or "", pulumi.get(w.name), pulumi_source)
        else:
            e = kubernetes(w, pulumi.get(w.name), pulumi_source or "", settings)
            elsewhere["kubernetes"] = False
        for where, found in elsewhere.items():
            if not found:
                continue
            if where == "kubernetes":
                entry = pulumi[w.name]
                e.notes.append(
                    f"also deployed on kubernetes ({pulumi_source}): a move is in progress; callers still on "
                    f"{entry.get('url') or entry.get('service')} move here before `pulumi up` removes it"
                )
                continue
            old = aws_stacks[where]
            if "QueueUrl" in cdk[old]:
                e.notes.append(
                    f"also deployed on {where} ({cdk_source}): a move is in progress; drain {old}'s "
                    "QueueUrl and DeadLetterQueueUrl before deleting the stack"
                )
            else:
                e.notes.append(f"also deployed on {where} ({cdk_source}): a move is in progress")
        out.append(e)
    return out


def render(endpoints: list[Endpoints]) -> str:
    lines = []
    for e in endpoints:
        state = f"deployed ({e.source})" if e.deployed else "not deployed"
        lines.append(f"{e.name}  {e.target}  {state}")
        if e.sync:
            lines.append(f"  sync:    POST {(e.sync.url or '<url once deployed>').rstrip('/')}{e.sync.path}")
            lines.append(f"           auth: {e.sync.auth}")
        if e.async_:
            a = e.async_
            if a.kind == "sqs":
                lines.append(
                    f'  async:   SQS SendMessage {{"id", "inputs"}} to {a.queue or "<QueueUrl once deployed>"}'
                )
                lines.append(f"           result: {a.results or 's3://<ResultsBucketName>/results/<caller>/<id>.json'}")
                lines.append(f"           caller: {a.caller}")
                lines.append(f"           dead letters: {a.dead_letters or '<DeadLetterQueueUrl once deployed>'}")
                lines.append(f"           auth: {a.auth}")
            else:
                api = (a.api or "<url once deployed>").rstrip("/")
                lines.append(f'  async:   POST {api}/messages {{"id"?, "inputs": [...]}} -> 202 {{"id"}}')
                lines.append(f"           result: GET {api}/results/<id> (404 while pending)")
                lines.append(f"           caller: {a.caller}")
                lines.append(f"           auth: {a.auth}")
                lines.append(
                    f'           inside the namespace: XADD {a.queue} * body \'{{"id": ..., "inputs": [...]}}\' '
                    f"[caller <name>] at redis://{a.address}; result: GET {a.results}; dead letters: stream {a.dead_letters}"
                )
                lines.append(f"           redis auth: {a.stream_auth}")
        lines += [f"  note:    {n}" for n in e.notes]
        lines.append("")
    return "\n".join(lines).rstrip()


def gather(
    paths: list[Path],
    *,
    cdk_outputs: Sequence[Path] | Path | None,
    pulumi_outputs: Path | None,
    pulumi_stack: str | None,
) -> tuple[Batch, list[Endpoints]]:
    batch = load_all(paths or [DEFAULT_PROFILES])
    settings = from_stack_file(f"Pulumi.{pulumi_stack}.yaml") if pulumi_stack else ClusterSettings()
    cdk, cdk_source = read_cdk_outputs(cdk_outputs)
    pulumi, pulumi_source = read_pulumi_outputs(pulumi_outputs, pulumi_stack)
    return batch, collect(batch, cdk, cdk_source, pulumi, pulumi_source, settings)


def run(
    paths: list[Path],
    *,
    cdk_outputs: Sequence[Path] | Path | None = None,
    pulumi_outputs: Path | None = None,
    pulumi_stack: str | None = None,
    as_json: bool = False,
) -> int:
    batch, endpoints = gather(paths, cdk_outputs=cdk_outputs, pulumi_outputs=pulumi_outputs, pulumi_stack=pulumi_stack)
    if as_json:
        print(json.dumps({"workloads": [e.to_json() for e in endpoints]}, indent=2))
    elif endpoints:
        print(render(endpoints))
    print_failures(batch.failures)
    print_no_profiles(batch, paths)
    return exit_code(batch)
