"""`switchyard smoke WORKLOAD`: one request and one queued message to the deployed workload, and
the answers checked, as its callers would send them.

Where to send comes from `switchyard outputs` (the CDK outputs file, the Pulumi stack outputs), or
--url / --redis-url for an address only reachable through a port-forward. Sync: `POST` with the
API key (Kubernetes) or SigV4-signed (Lambda Function URL, HTTP API). Results are filed per caller
on every target (results/<caller>/<id>) and the smoke test reads its own, as a caller does. Async
on AWS: SQS SendMessage, then S3 `results/<SenderId>/<id>.json` polled, SenderId being the
sender's aws:userid (STS GetCallerIdentity's UserId). On Kubernetes: the server's `POST /messages`
then `GET /results/<id>` with the API key (whose name is the caller), what callers outside the
namespace use; with --redis-url, what a producer inside the namespace does: XADD with a `caller`
field, then `<stream>:results/<caller>/<id>` polled.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stacks.commands.endpoints import Endpoints, gather
from stacks.decision.workload import Workload
from stacks.errors import SwitchyardError
from stacks.k8s import naming
from stacks.profile import Preset

POLL_S = 1.0
EXTRA = "pip install 'switchyard-iac[smoke]'"
GAVE_UP = object()
STREAM_CALLER = "smoke"  # the caller field of the XADD path: its results under results/smoke/
API_KEY_HINT = (
    "SWITCHYARD_API_KEY=$(pulumi stack output apiKeys --show-secrets --json | jq -r '.[\"{name}\"].default') "
    "switchyard smoke ..."
)


@dataclass
class Outcome:
    kind: str  # sync | async
    ok: bool
    detail: str


def _need(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise SwitchyardError(f"the smoke test needs the Python package {module!r}\n    hint: {EXTRA}") from None


def _outputs_ok(doc: Any) -> str | None:
    """None when `doc` is a one-input answer of the contract; otherwise what is wrong with it."""
    if not isinstance(doc, dict):
        return f"not a JSON object: {str(doc)[:200]}"
    if "error" in doc:
        return f"the workload answered with an error: {doc['error']}"
    outputs = doc.get("outputs")
    if not isinstance(outputs, list) or len(outputs) != 1:
        return f'expected {{"outputs": [one item]}}, got {json.dumps(doc)[:200]}'
    return None


def _exchange(
    method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float, budget: float | None = None
) -> tuple[int, bytes, str | None]:
    """One request: status, body and Retry-After (`budget`: the whole wait it is part of, for the message)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read(), answer.headers.get("retry-after")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("retry-after")
    except http.client.HTTPException as exc:
        raise SwitchyardError(
            f"{method} {url}: something answered, but not HTTP ({type(exc).__name__}: {str(exc)[:100]})\n"
            "    hint: is that the workload's port? (kubectl port-forward svc/<name> 8080:80, then --url http://127.0.0.1:8080)"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            # Connected (or the SYN vanished), and nothing came back in time.
            raise SwitchyardError(
                f"{method} {url}: no answer within {budget or timeout:g} s\n"
                "    hint: --timeout SECONDS waits longer; check the pods' logs and readiness"
            ) from None
        raise SwitchyardError(f"{method} {url}: cannot connect: {reason}") from None


def _retry_after(value: str | None) -> float:
    try:
        return max(float(value or 1), 0.1)
    except ValueError:  # an HTTP-date: the server's own clock, not worth trusting for a smoke test
        return 1.0


def _call(
    method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float, waited: list[str] | None = None
) -> tuple[int, bytes]:
    """A 503 with Retry-After (a model still loading right after a deploy, a full replica) is retried
    as the server says while the timeout allows; `waited` collects what each one said."""
    deadline = time.monotonic() + timeout
    while True:
        status, raw, retry_after = _exchange(method, url, body, headers, max(deadline - time.monotonic(), 0.1), timeout)
        if status != 503 or retry_after is None:
            return status, raw
        pause = _retry_after(retry_after)
        if time.monotonic() + pause >= deadline:
            return status, raw
        if waited is not None:
            waited.append(f"503 {raw[:100].decode(errors='replace')}")
        time.sleep(pause)


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float, waited: list[str]) -> tuple[int, bytes]:
    return _call("POST", url, body, headers, timeout, waited)


def _after(waited: list[str]) -> str:
    return f" (after {len(waited)} x {waited[-1]}, retried as Retry-After said)" if waited else ""


def _api_key(w: Workload, api_key: str | None) -> str:
    if not api_key:
        raise SwitchyardError(
            f"the Kubernetes endpoint needs its API key\n    hint: {API_KEY_HINT.format(name=w.name)}"
        )
    return api_key


def _sigv4_headers(url: str, body: bytes, service: str, region: str) -> dict[str, str]:
    """Lambda Function URLs (service lambda) and HTTP APIs (execute-api) with IAM auth take SigV4."""
    _need("botocore")
    # botocore: the smoke extra, only to sign a call to an IAM-authenticated endpoint
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.session import Session

    credentials = Session().get_credentials()
    if credentials is None:
        raise SwitchyardError("no AWS credentials to sign the request with\n    hint: aws configure sso (then doctor)")
    request = AWSRequest(method="POST", url=url, data=body, headers={"content-type": "application/json"})
    SigV4Auth(credentials.get_frozen_credentials(), service, region).add_auth(request)
    return dict(request.headers.items())


def request_body(w: Workload, item: Any) -> dict[str, Any]:
    if w.profile.model.preset is Preset.vllm:
        return {"model": w.profile.model.args.get("model"), "prompt": item, "max_tokens": 1}
    return {"inputs": [item]}


def smoke_sync(
    w: Workload, e: Endpoints, item: Any, *, url: str | None, api_key: str | None, timeout: float
) -> Outcome:
    assert e.sync is not None
    base = url or e.sync.url
    if not base:
        raise SwitchyardError(f"{w.name}: no sync endpoint to call (not deployed)\n    hint: pass --url")
    target = base.rstrip("/") + e.sync.path
    body = json.dumps(request_body(w, item)).encode()
    headers = {"content-type": "application/json"}
    if e.target == "kubernetes":
        headers["authorization"] = f"Bearer {_api_key(w, api_key)}"
    else:
        service = "execute-api" if "HttpApiUrl" in e.outputs else "lambda"
        headers = _sigv4_headers(target, body, service, w.settings.platform.region)
    started = time.monotonic()
    waited: list[str] = []
    status, raw = _post(target, body, headers, timeout, waited)
    ms = (time.monotonic() - started) * 1000
    if status != 200:
        return Outcome(
            "sync", False, f"POST {target} -> {status} in {ms:,.0f} ms: {raw[:300].decode(errors='replace')}"
        )
    try:
        doc = json.loads(raw)
    except ValueError:
        return Outcome("sync", False, f"POST {target} -> 200 but not JSON: {raw[:200]!r}")
    if w.profile.model.preset is Preset.vllm:
        problem = None if isinstance(doc, dict) and doc.get("choices") else f"no choices in {json.dumps(doc)[:200]}"
    else:
        problem = _outputs_ok(doc)
    if problem:
        return Outcome("sync", False, f"POST {target} -> 200 in {ms:,.0f} ms, but {problem}")
    return Outcome("sync", True, f"POST {target} -> 200 in {ms:,.0f} ms{_after(waited)}: {json.dumps(doc)[:200]}")


def _poll(fetch: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if found is not None or time.monotonic() >= deadline:
            return found
        time.sleep(POLL_S)


def smoke_sqs(w: Workload, e: Endpoints, item: Any, *, message_id: str, timeout: float) -> Outcome:
    assert e.async_ is not None
    queue, bucket = e.outputs.get("QueueUrl"), e.outputs.get("ResultsBucketName")
    if not queue or not bucket:
        raise SwitchyardError(f"{w.name}: QueueUrl and ResultsBucketName are unknown (not deployed)")
    hybrid = e.target == "hybrid"
    # Who takes the message off the queue: the cluster's worker (KEDA wakes it from zero) or the function.
    namespace = naming.namespace_for(w.name, w.settings.platform.k8s_namespace_prefix)
    consumer = (
        f"cluster worker (kubectl -n {namespace} logs deploy/{w.name}; from zero KEDA needs its 30 s poll, SQS's "
        "~1 min count lag and a pod start: --timeout longer)"
        if hybrid
        else "function"
    )
    boto3 = _need("boto3")
    from botocore.exceptions import BotoCoreError, ClientError  # botocore: the smoke extra, with boto3

    # A hybrid front exports its region (the worker's AWS_REGION); the others deploy to the platform's.
    region = e.outputs.get("Region") or w.settings.platform.region
    sqs, s3 = boto3.client("sqs", region_name=region), boto3.client("s3", region_name=region)
    try:
        # SQS reports the sender's aws:userid as SenderId, and the handler files the result under it.
        caller = boto3.client("sts", region_name=region).get_caller_identity()["UserId"]
        key = f"results/{caller}/{message_id}.json"
        started = time.monotonic()
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"id": message_id, **request_body(w, item)}))

        def fetch() -> Any:
            try:
                return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            except s3.exceptions.NoSuchKey:
                return None

        doc = _poll(fetch, timeout)
    except (BotoCoreError, ClientError) as exc:
        raise SwitchyardError(
            f"{w.name}: {exc}\n    hint: the caller needs "
            + (
                "the managed policies QueueSendPolicyArn and"
                if hybrid
                else "sqs:SendMessage on QueueArn and the managed policy"
            )
            + " ResultsReadPolicyArn attached (switchyard outputs); switchyard doctor checks the credentials"
        ) from None
    s = time.monotonic() - started
    where = f"s3://{bucket}/{key}"
    if doc is None:
        dlq = e.outputs.get("DeadLetterQueueUrl")
        return Outcome(
            "async",
            False,
            f"sent {message_id} to {queue}; no result at {where} within {timeout:g} s "
            f"(check the {consumer}'s logs and errors, and the DLQ: aws sqs get-queue-attributes --queue-url {dlq} "
            "--attribute-names ApproximateNumberOfMessages)",
        )
    problem = _outputs_ok(doc)
    if problem:
        return Outcome("async", False, f"result {where} after {s:,.1f} s: {problem}")
    return Outcome("async", True, f"SQS {queue} -> {where} in {s:,.1f} s: {json.dumps(doc)[:200]}")


def smoke_redis(
    w: Workload,
    e: Endpoints,
    item: Any,
    *,
    message_id: str,
    redis_url: str | None,
    password: str | None,
    timeout: float,
) -> Outcome:
    assert e.async_ is not None and e.async_.queue and e.async_.results
    redis = _need("redis")
    url = redis_url or f"redis://{e.async_.address}/0"
    client = redis.Redis.from_url(url, password=password or None, socket_timeout=10, decode_responses=True)
    stream = e.async_.queue
    result_key = e.async_.results.replace("<caller>", STREAM_CALLER).replace("<id>", message_id)
    started = time.monotonic()
    try:
        body = json.dumps({"id": message_id, **request_body(w, item)})
        client.xadd(stream, {"body": body, "caller": STREAM_CALLER})
        doc = _poll(lambda: json.loads(raw) if (raw := client.get(result_key)) else None, timeout)
    except redis.exceptions.RedisError as exc:
        hint = f"kubectl -n {e.outputs.get('namespace')} port-forward svc/{w.name}-redis 6379 & then --redis-url redis://127.0.0.1:6379/0"
        raise SwitchyardError(f"{url}: {type(exc).__name__}: {exc}\n    hint: {hint}") from None
    s = time.monotonic() - started
    if doc is None:
        return Outcome(
            "async",
            False,
            f"XADD {stream} {message_id}: no result at {result_key} within {timeout:g} s "
            f"(check the pods: kubectl -n {e.outputs.get('namespace')} logs deploy/{w.name}; dead letters: XRANGE {e.async_.dead_letters} - +)",
        )
    problem = _outputs_ok(doc)
    if problem:
        return Outcome("async", False, f"result {result_key} after {s:,.1f} s: {problem}")
    return Outcome("async", True, f"XADD {stream} -> GET {result_key} in {s:,.1f} s: {json.dumps(doc)[:200]}")


def smoke_http_async(
    w: Workload, e: Endpoints, item: Any, *, base: str, api_key: str | None, message_id: str, timeout: float
) -> Outcome:
    """POST /messages, then GET /results/<id> until it answers: the caller is the API key's name."""
    assert e.async_ is not None
    headers = {"content-type": "application/json", "authorization": f"Bearer {_api_key(w, api_key)}"}
    send, read = f"{base.rstrip('/')}/messages", f"{base.rstrip('/')}/results/{message_id}"
    body = json.dumps({"id": message_id, **request_body(w, item)}).encode()
    started = time.monotonic()
    waited: list[str] = []
    status, raw = _call("POST", send, body, headers, min(timeout, 120), waited)
    if status != 202:
        return Outcome("async", False, f"POST {send} -> {status}: {raw[:300].decode(errors='replace')}")
    last: list[tuple[int, bytes]] = []

    def fetch() -> Any:
        code, answer, _ = _exchange("GET", read, None, headers, 30)  # a 503 is pending: the poll waits
        last[:] = [(code, answer)]
        if code == 200:
            return json.loads(answer)
        if code in (404, 503):  # pending, or the queue briefly unavailable
            return None
        return GAVE_UP  # anything else will not change by waiting

    try:
        doc = _poll(fetch, timeout)
    except ValueError:
        return Outcome("async", False, f"GET {read} -> 200 but not JSON: {last[0][1][:200]!r}")
    s = time.monotonic() - started
    namespace = e.outputs.get("namespace")
    if doc is None or doc is GAVE_UP:
        code, answer = last[0] if last else (0, b"")
        why = f"no result within {timeout:g} s" if doc is None else "it answered"
        return Outcome(
            "async",
            False,
            f"POST {send} -> 202; {why}: GET {read} -> {code}: {answer[:200].decode(errors='replace')} "
            f"(check the pods: kubectl -n {namespace} logs deploy/{w.name}; dead letters: XRANGE {e.async_.dead_letters} - +)",
        )
    problem = _outputs_ok(doc)
    if problem:
        return Outcome("async", False, f"result GET {read} after {s:,.1f} s: {problem}")
    return Outcome(
        "async", True, f"POST {send} -> 202{_after(waited)}, GET {read} -> 200 in {s:,.1f} s: {json.dumps(doc)[:200]}"
    )


def parse_input(text: str | None, w: Workload) -> Any:
    if text is None:
        if w.profile.model.preset is Preset.vllm:
            return "Say hello."
        raise SwitchyardError(
            f"{w.name}: pass --input with one input the model accepts, as JSON\n"
            "    hint: --input '\"a great product\"' or --input '[0.1, 0.2]'"
        )
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SwitchyardError(
            f"--input {text!r} is not JSON: {exc}\n    hint: a string needs quotes: '\"text\"'"
        ) from None


def run(
    name: str,
    paths: list[Path],
    *,
    input_json: str | None,
    cdk_outputs: Sequence[Path] | Path | None = None,
    pulumi_outputs: Path | None = None,
    pulumi_stack: str | None = None,
    url: str | None = None,
    redis_url: str | None = None,
    only: str | None = None,
    timeout_s: float | None = None,
) -> int:
    batch, endpoints = gather(paths, cdk_outputs=cdk_outputs, pulumi_outputs=pulumi_outputs, pulumi_stack=pulumi_stack)
    found = {e.name: e for e in endpoints}
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise SwitchyardError(f"no workload named {name!r} in the profiles (workloads: {known})")
    e = found[name]
    w = next(w for w in batch.workloads if w.name == name)
    item = parse_input(input_json, w)
    if url and urlsplit(url).scheme not in ("http", "https"):
        raise SwitchyardError(f"--url {url!r}: expected http://host[:port] or https://...")
    sla_s = w.profile.sla.timeout_s
    outcomes = []
    if e.sync and only in (None, "sync"):
        outcomes.append(
            smoke_sync(
                w, e, item, url=url, api_key=os.environ.get("SWITCHYARD_API_KEY"), timeout=timeout_s or sla_s + 10
            )
        )
    if e.async_ and only in (None, "async"):
        message_id = f"smoke-{uuid.uuid4().hex[:12]}"
        # A queued message may wait for a cold start and a batching window on top of its own time.
        wait = timeout_s or sla_s + 120
        if e.async_.kind == "sqs":
            outcomes.append(smoke_sqs(w, e, item, message_id=message_id, timeout=wait))
        elif redis_url or not (url or e.async_.api):
            # Straight to the stream, as a producer inside the namespace would.
            password = os.environ.get("SWITCHYARD_REDIS_PASSWORD")
            outcomes.append(
                smoke_redis(w, e, item, message_id=message_id, redis_url=redis_url, password=password, timeout=wait)
            )
        else:
            base = url or e.async_.api
            assert base is not None
            api_key = os.environ.get("SWITCHYARD_API_KEY")
            outcomes.append(
                smoke_http_async(w, e, item, base=base, api_key=api_key, message_id=message_id, timeout=wait)
            )
    if not outcomes:
        raise SwitchyardError(f"{name} has no {only} interface to test (mode {w.profile.sla.mode.value})")
    for o in outcomes:
        print(f"{'ok  ' if o.ok else 'FAIL'} {name} {o.kind}: {o.detail}", flush=True)
    return 0 if all(o.ok for o in outcomes) else 1
