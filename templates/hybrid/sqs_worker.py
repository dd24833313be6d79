"""SQS queue worker of the hybrid target: the queue and the results on AWS, the model on the GPU cluster.

Copied as is into the build context (app/sqs_worker.py) beside the rendered serving core; its
settings come from app/worker_config.json (rendered from the workload's sizing), each overridden by
the environment variable of the same name in upper case. boto3 reads the region, the endpoint
(AWS_ENDPOINT_URL, or AWS_ENDPOINT_URL_SQS / _S3 for an S3/SQS-compatible server) and the
credentials (the worker's IAM user, from the pod's Secret) from the environment.

The result contract is the Lambda handler's (templates/serverless/handler.py.jinja), so a caller
cannot tell which target worked its message:

- One result per message, at <RESULTS_URI>/<caller>/<id>.json, where the caller is the sender's
  IAM identity as SQS reports it (the SenderId attribute) and the id the client's (the SQS message
  id without one). The put is conditional (If-None-Match: *): a second message with the same id
  never replaces the first result, and a redelivery after a write that landed is a no-op.
- The message is deleted only after its result is written. While a prediction runs, a heartbeat
  extends the message's visibility, so a live worker never loses it to another; a worker killed
  outright stops the heartbeat, and the message is visible again within the queue's visibility
  timeout for any other worker to take.
- Permanent failures get an error result at once and are deleted: a body that is not valid JSON
  or too large, a bad id, the model's ValueError / TypeError, outputs that are not JSON (NaN), a
  model that calls sys.exit() or raises KeyboardInterrupt on the input, a prediction past TIMEOUT_S.
- Any other model exception may be transient: the message is made visible again after a backoff
  and SQS counts the receive; at its last receive (the queue's maxReceiveCount) it gets an error
  result, and the next receive moves it to the dead-letter queue.
- A result write or an SQS call that fails is logged, counted and retried with bounded exponential
  backoff, the message kept in hand (heartbeat on) meanwhile; readiness is false while the queue or
  the results bucket cannot be reached.
- A prediction past TIMEOUT_S is abandoned in its thread (Python cannot stop one): its slot counts
  as lost until it returns, and one still running STUCK_AFTER_S later makes the process exit 1 for a
  restart with every slot free.
- SIGTERM stops polling; messages in hand get DRAIN_S to finish, then any still running is handed
  back (visibility 0: at once for another worker) and the process exits 0, by DRAIN_S plus a
  second or two whatever it waits on.

GET /healthz (liveness), /readyz (readiness) and /metrics (Prometheus) are served on HEALTH_PORT.
Every log line is one JSON object.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from serving_core import (
    WORKLOAD,
    BadRequest,
    ModelError,
    ModelRunner,
    caller_id,
    message_too_large,
    parse_message,
    result_body,
    result_name,
)

CONFIG_FILE = Path(__file__).resolve().parent / "worker_config.json"
UNKNOWN_CALLER = "unknown"  # a message whose SenderId is missing or malformed (never on SQS itself)
# SQS's own error codes for a receipt handle this worker no longer owns.
LOST_RECEIPT = {
    "ReceiptHandleIsInvalid",
    "InvalidParameterValue",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
}
AWS_ERRORS = (BotoCoreError, ClientError, OSError)

log = logging.getLogger("switchyard.sqs")

MESSAGES = Counter("switchyard_queue_messages_total", "Queue messages by how this worker left them", ["outcome"])
RESULT_WRITE_FAILURES = Counter(
    "switchyard_result_write_failures_total", "Result writes to the results bucket that failed (then retried)"
)
DUPLICATE_IDS = Counter(
    "switchyard_duplicate_ids_total",
    "Results not written because one exists under the caller and id (the first is kept)",
)
QUEUE_ERRORS = Counter("switchyard_queue_errors_total", "SQS calls that failed, by call", ["call"])
QUEUE_AVAILABLE = Gauge("switchyard_queue_available", "1 while the worker reaches the queue and the results bucket")
IN_HAND = Gauge("switchyard_inflight_messages", "Messages received and not yet finished or handed back")
ABANDONED = Gauge("switchyard_abandoned_predictions", "Predictions past their timeout whose thread still runs")
PREDICTION = Histogram(
    "switchyard_prediction_duration_seconds",
    "predict() calls that returned, failures included",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)


def settings() -> dict[str, Any]:
    """worker_config.json, each key overridden by its upper-case environment variable."""
    found = json.loads(CONFIG_FILE.read_text()) if CONFIG_FILE.exists() else {}
    for key in ("queue_url", "results_uri"):
        found.setdefault(key, "")
    for key, value in list(found.items()):
        env = os.environ.get(key.upper())
        if env is None:
            continue
        if isinstance(value, int | float):
            try:
                found[key] = float(env)
            except ValueError:
                raise SystemExit(f"{key.upper()}={env!r} is not a number") from None
        else:
            found[key] = env
    return found


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {"time": round(record.created, 3), "level": record.levelname.lower()}
        message = record.getMessage()
        try:
            parsed = json.loads(message) if message.startswith("{") else None
        except ValueError:
            parsed = None
        doc.update(parsed if isinstance(parsed, dict) else {"event": "log", "message": message})
        if record.exc_info:
            doc["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(doc, default=str)


def event(level: int, name: str, **fields: Any) -> None:
    log.log(level, json.dumps({"event": name, "workload": WORKLOAD, **fields}, default=str))


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def caller_of(message: dict[str, Any]) -> str:
    """Who sent the message: its SenderId (an IAM user id, or role-id:session), as on Lambda."""
    try:
        return caller_id((message.get("Attributes") or {}).get("SenderId"), UNKNOWN_CALLER)
    except BadRequest:
        return UNKNOWN_CALLER


def receives_of(message: dict[str, Any]) -> int:
    try:
        return int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 1))
    except (TypeError, ValueError):
        return 1


@dataclass
class InHand:
    """A received message this worker owns until it deletes it or hands it back."""

    message_id: str
    receipt: str
    done: threading.Event = field(default_factory=threading.Event)


class Permanent(Exception):
    """The same input fails the same way again: an error result now, no retry."""


class Transient(Exception):
    """May succeed on another receive: SQS redelivers it (the DLQ after maxReceiveCount)."""


class Released(Exception):
    """The worker is stopping: the message goes back to the queue unfinished."""


class Worker:
    def __init__(self, config: dict[str, Any], runner: ModelRunner | None = None) -> None:
        self.config = config
        self.queue_url = config["queue_url"]
        results = config["results_uri"]
        if not self.queue_url or not results.startswith("s3://"):
            raise SystemExit("QUEUE_URL and RESULTS_URI (s3://bucket/prefix/) are required")
        self.bucket, _, self.prefix = results[5:].partition("/")
        self.concurrency = max(1, int(config["concurrency"]))
        self.timeout_s = float(config["timeout_s"])
        self.drain_s = float(config["drain_s"])
        self.wait_s = int(config["wait_s"])
        self.stuck_after_s = float(config["stuck_after_s"])
        self.backoff_max_s = float(config["backoff_max_s"])
        self.retry_base_s = float(config["retry_base_s"])
        self.visibility_s = int(config["visibility_timeout_s"])  # 0: the queue's own
        self.max_receive_count = int(config["max_receive_count"])  # 0: the queue's redrive policy
        # One client each for the whole process (botocore clients are thread-safe); the standard
        # retry mode covers throttling and brief faults, the loops below everything longer.
        retries = Config(
            retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=self.wait_s + 10
        )
        self.sqs = boto3.client("sqs", config=retries)
        self.s3 = boto3.client("s3", config=retries)
        self.runner = runner or ModelRunner()
        self.lock = threading.Lock()
        self.in_hand: dict[str, InHand] = {}
        self.abandoned: dict[int, float] = {}  # thread id -> when it passed its timeout
        self.stopping = threading.Event()
        self.drain_deadline = float("inf")
        self.problem: str | None = "starting"
        self.last_loop = time.monotonic()
        self.exit_code = 0

    # -- health --------------------------------------------------------------------------------
    @property
    def free_slots(self) -> int:
        with self.lock:
            return self.concurrency - len(self.in_hand) - len(self.abandoned)

    def ready(self) -> tuple[bool, str]:
        if self.stopping.is_set():
            return False, "stopping"
        if not self.runner.ready:
            return False, "loading the model"
        if self.problem:
            return False, self.problem
        with self.lock:
            if len(self.abandoned) >= self.concurrency:
                return False, "every slot is held by a prediction past its timeout"
        return True, "ready"

    def alive(self) -> tuple[bool, str]:
        stalled = time.monotonic() - self.last_loop
        # A receive may take three attempts of a long poll plus the read timeout's margin.
        if stalled > 3 * (self.wait_s + 10) + 30:
            return False, f"the polling loop has not turned for {stalled:.0f} s"
        return True, "alive"

    def trouble(self, what: str, exc: BaseException) -> None:
        first = self.problem != what
        self.problem = what
        QUEUE_AVAILABLE.set(0)
        if first:
            event(logging.WARNING, "queue_unavailable", problem=what, error=f"{error_code(exc)}: {exc}")

    def fine(self) -> None:
        if self.problem is not None:
            event(logging.INFO, "queue_available", after=self.problem)
        self.problem = None
        QUEUE_AVAILABLE.set(1)

    def backoff(self, failures: int) -> float:
        return min(self.backoff_max_s, 0.2 * 2 ** min(failures, 8)) * (0.5 + random.random() / 2)

    # -- start -------------------------------------------------------------------------------
    def read_queue(self) -> None:
        """The queue's visibility timeout and maxReceiveCount, unless the config sets them: one source of truth."""
        if self.visibility_s and self.max_receive_count:
            return
        failures = 0
        while not self.stopping.is_set():
            try:
                attributes = self.sqs.get_queue_attributes(
                    QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
                )["Attributes"]
                break
            except AWS_ERRORS as exc:
                QUEUE_ERRORS.labels("GetQueueAttributes").inc()
                self.trouble(f"cannot read the queue: {error_code(exc)}", exc)
                failures += 1
                self.last_loop = time.monotonic()
                self.stopping.wait(self.backoff(failures))
        else:
            return
        self.visibility_s = self.visibility_s or int(attributes.get("VisibilityTimeout", 30))
        redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
        self.max_receive_count = self.max_receive_count or int(redrive.get("maxReceiveCount", 0))
        event(
            logging.INFO,
            "queue_read",
            visibility_timeout_s=self.visibility_s,
            max_receive_count=self.max_receive_count or None,
        )

    def run(self) -> int:
        self.runner.load()
        self.read_queue()
        # After read_queue: the beat is a third of the visibility timeout, so two beats may fail in a row.
        threading.Thread(target=self.heartbeat, name="heartbeat", daemon=True).start()
        self.last_loop = time.monotonic()
        while not self.stopping.is_set():
            self.last_loop = time.monotonic()
            if self.stuck():
                break
            free = self.free_slots
            if free <= 0:
                self.stopping.wait(0.05)
                continue
            for message in self.receive(min(10, free)):
                if self.stopping.is_set():  # received while SIGTERM arrived: straight back
                    self.release(message["MessageId"], message["ReceiptHandle"])
                    continue
                slot = InHand(message["MessageId"], message["ReceiptHandle"])
                with self.lock:
                    self.in_hand[slot.message_id] = slot
                    IN_HAND.set(len(self.in_hand))
                threading.Thread(target=self.work, args=(message, slot), daemon=True).start()
        return self.drain()

    def stuck(self) -> bool:
        now = time.monotonic()
        with self.lock:
            oldest = min(self.abandoned.values(), default=None)
        if oldest is None or now - oldest < self.stuck_after_s:
            return False
        event(
            logging.CRITICAL, "fatal", reason=f"a prediction is still running {self.stuck_after_s:g} s past its timeout"
        )
        self.exit_code = 1
        self.stop()
        return True

    def receive(self, count: int) -> list[dict[str, Any]]:
        failures = 0
        while not self.stopping.is_set():
            try:
                reply = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=count,
                    WaitTimeSeconds=self.wait_s,
                    MessageSystemAttributeNames=["SenderId", "ApproximateReceiveCount"],
                )
            except AWS_ERRORS as exc:
                QUEUE_ERRORS.labels("ReceiveMessage").inc()
                self.trouble(f"cannot receive from the queue: {error_code(exc)}", exc)
                failures += 1
                self.last_loop = time.monotonic()
                self.stopping.wait(self.backoff(failures))
                continue
            if self.problem and not self.problem.startswith("cannot write"):  # a write clears its own
                self.fine()
            return reply.get("Messages", [])
        return []

    # -- one message ---------------------------------------------------------------------------
    def work(self, message: dict[str, Any], slot: InHand) -> None:
        try:
            self.handle(message, slot)
        except Released:
            self.release(slot.message_id, slot.receipt)
        except Exception:  # a bug here must not leave the slot taken: the message comes back by itself
            log.exception(json.dumps({"event": "worker_error", "workload": WORKLOAD, "message_id": slot.message_id}))
        finally:
            slot.done.set()
            with self.lock:
                self.in_hand.pop(slot.message_id, None)
                IN_HAND.set(len(self.in_hand))

    def handle(self, message: dict[str, Any], slot: InHand) -> None:
        body = message.get("Body")
        receives = receives_of(message)
        last = bool(self.max_receive_count) and receives >= self.max_receive_count
        caller = caller_of(message)
        result_id = slot.message_id
        try:
            too_large = message_too_large(body)
            if too_large:
                raise BadRequest(too_large, result_id)
            result_id, inputs = parse_message(body, slot.message_id)
            text, failed = result_body(result_id, outputs=self.predict(inputs)), False
        except (BadRequest, Permanent, ModelError) as exc:
            # BadRequest: the input; Permanent: the model refused for good; ModelError from
            # result_body: outputs that are not JSON. The same message would fail the same way.
            result_id = getattr(exc, "message_id", None) or result_id
            event(logging.WARNING, "permanent_failure", message_id=slot.message_id, id=result_id, error=str(exc))
            text, failed = result_body(result_id, error=str(exc)), True
        except Transient as exc:
            if not last:
                delay = int(min(self.visibility_s, self.retry_base_s * 2 ** (receives - 1)))
                event(
                    logging.WARNING, "retry", message_id=slot.message_id, receives=receives, in_s=delay, error=str(exc)
                )
                self.change_visibility(slot, delay)
                MESSAGES.labels("retried").inc()
                return
            # The next receive dead-letters it: the caller gets its error result first, once.
            self.store(
                caller, result_id, result_body(result_id, error=f"{exc} (failed on all {receives} receives)"), slot
            )
            event(logging.ERROR, "dead_letter", message_id=slot.message_id, id=result_id, receives=receives)
            self.change_visibility(slot, 0)
            MESSAGES.labels("dead_lettered").inc()
            return
        written = self.store(caller, result_id, text, slot)
        self.delete(slot)
        outcome = "duplicate" if not written else "error" if failed else "ok"
        MESSAGES.labels(outcome).inc()
        event(logging.INFO, "message_done", message_id=slot.message_id, id=result_id, caller=caller, outcome=outcome)

    def predict(self, inputs: list[Any]) -> list[Any]:
        """The model on its own thread, so a prediction past TIMEOUT_S can be abandoned, not waited for."""
        box: dict[str, Any] = {}
        finished = threading.Event()

        def call() -> None:
            started = time.perf_counter()
            try:
                box["outputs"] = self.runner.predict(inputs)
            except BaseException as exc:  # serving_core turns SystemExit into ModelError: this is belt and braces
                box["error"] = exc
            finally:
                PREDICTION.observe(time.perf_counter() - started)
                finished.set()
                with self.lock:
                    if self.abandoned.pop(threading.get_ident(), None) is not None:
                        ABANDONED.set(len(self.abandoned))
                        event(logging.INFO, "abandoned_prediction_returned")

        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        deadline = time.monotonic() + self.timeout_s
        while not finished.wait(0.05):
            if time.monotonic() >= deadline:
                with self.lock:
                    if not finished.is_set():
                        self.abandoned[thread.ident] = time.monotonic()
                        ABANDONED.set(len(self.abandoned))
                raise Permanent(f"prediction took longer than {self.timeout_s:g} s")
            if time.monotonic() >= self.drain_deadline:
                raise Released()
        if "error" in box:
            exc = box["error"]
            if isinstance(exc, BadRequest):
                raise exc
            cause = exc.__cause__ if isinstance(exc, ModelError) else exc
            if isinstance(cause, SystemExit | KeyboardInterrupt):
                # Model code that exits on an input does so on every receive: an error result now.
                raise Permanent(str(exc)) from None
            raise Transient(str(exc)) from None
        return box["outputs"]

    def store(self, caller: str, result_id: str, text: str, slot: InHand) -> bool:
        """Write the result once (False: one exists under the caller and id, and is kept); retried with
        backoff until it lands, the heartbeat keeping the message meanwhile."""
        key = f"{self.prefix}{result_name(caller, result_id).removeprefix('results/')}.json"
        failures = 0
        while True:
            try:
                self.s3.put_object(
                    Bucket=self.bucket, Key=key, Body=text.encode(), ContentType="application/json", IfNoneMatch="*"
                )
                if self.problem and self.problem.startswith("cannot write"):
                    self.fine()
                return True
            except ClientError as exc:
                if error_code(exc) == "PreconditionFailed":
                    DUPLICATE_IDS.inc()
                    event(logging.WARNING, "duplicate_id", caller=caller, id=result_id, message_id=slot.message_id)
                    return False
                failure: BaseException = exc
            except (BotoCoreError, OSError) as exc:
                failure = exc
            RESULT_WRITE_FAILURES.inc()
            failures += 1
            event(
                logging.ERROR,
                "result_write_failed",
                caller=caller,
                id=result_id,
                attempt=failures,
                error=f"{error_code(failure)}: {failure}",
            )
            self.trouble(f"cannot write results: {error_code(failure)}", failure)
            if time.monotonic() >= self.drain_deadline:
                raise Released()
            self.stopping.wait(min(self.backoff(failures), max(0.0, self.drain_deadline - time.monotonic())))

    def delete(self, slot: InHand) -> None:
        for attempt in range(1, 6):
            try:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=slot.receipt)
                return
            except AWS_ERRORS as exc:
                QUEUE_ERRORS.labels("DeleteMessage").inc()
                if error_code(exc) in LOST_RECEIPT:
                    break
                time.sleep(self.backoff(attempt))
        # It comes back after its visibility timeout; its result is written, so that receive finds it
        # there (a duplicate, kept) and deletes it.
        event(logging.WARNING, "delete_failed", message_id=slot.message_id)

    def change_visibility(self, slot: InHand, seconds: int) -> None:
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=slot.receipt, VisibilityTimeout=seconds
            )
        except AWS_ERRORS as exc:  # it comes back after its visibility timeout instead
            QUEUE_ERRORS.labels("ChangeMessageVisibility").inc()
            event(
                logging.WARNING,
                "visibility_change_failed",
                message_id=slot.message_id,
                error=f"{error_code(exc)}: {exc}",
            )

    def release(self, message_id: str, receipt: str) -> None:
        """Hand a message back unfinished: visible at once for another worker."""
        self.change_visibility(InHand(message_id, receipt), 0)
        MESSAGES.labels("released").inc()
        event(logging.INFO, "message_released", message_id=message_id)

    # -- heartbeat -----------------------------------------------------------------------------
    def heartbeat(self) -> None:
        """Keep every message in hand invisible to other workers while it is worked."""
        interval = max(0.2, self.visibility_s / 3)
        while True:
            time.sleep(interval)
            with self.lock:
                slots = list(self.in_hand.values())
            for slot in slots:
                if slot.done.is_set():
                    continue
                try:
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue_url, ReceiptHandle=slot.receipt, VisibilityTimeout=self.visibility_s
                    )
                except AWS_ERRORS as exc:
                    QUEUE_ERRORS.labels("ChangeMessageVisibility").inc()
                    # A lost receipt (the message came back and another worker has it): the conditional
                    # put still keeps one result. Anything else is retried on the next beat.
                    event(
                        logging.WARNING,
                        "heartbeat_failed",
                        message_id=slot.message_id,
                        error=f"{error_code(exc)}: {exc}",
                    )

    # -- stop ----------------------------------------------------------------------------------
    def stop(self, *_: Any) -> None:
        if not self.stopping.is_set():
            self.drain_deadline = time.monotonic() + self.drain_s
            self.stopping.set()
            event(logging.INFO, "stopping", drain_s=self.drain_s)

    def drain(self) -> int:
        """Messages in hand finish by the drain deadline or are handed back; then the process ends."""
        while time.monotonic() < self.drain_deadline:
            with self.lock:
                slots = list(self.in_hand.values())
            if not slots:
                break
            slots[0].done.wait(max(0.0, min(0.1, self.drain_deadline - time.monotonic())))
        # A handler past the deadline hands its message back itself; give it a moment to do so.
        end = time.monotonic() + 2
        while time.monotonic() < end:
            with self.lock:
                if not self.in_hand:
                    break
            time.sleep(0.02)
        with self.lock:
            leftover = list(self.in_hand.values())
        for slot in leftover:  # a handler stuck in an AWS call: its message is handed back from here
            self.release(slot.message_id, slot.receipt)
        event(logging.INFO, "stopped", exit_code=self.exit_code)
        return self.exit_code


def serve_health(worker: Worker, port: int) -> ThreadingHTTPServer:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self.reply(200, generate_latest(), CONTENT_TYPE_LATEST)
                return
            check = {"/healthz": worker.alive, "/readyz": worker.ready}.get(self.path)
            if check is None:
                self.reply(404, b'{"error":"not found"}', "application/json")
                return
            ok, why = check()
            self.reply(200 if ok else 503, json.dumps({"status": why}).encode(), "application/json")

        def reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:  # probes every few seconds are not news
            pass

    server = ThreadingHTTPServer(("0.0.0.0", port), Health)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def main() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("botocore").setLevel(logging.WARNING)
    config = settings()
    worker = Worker(config)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    serve_health(worker, int(config["health_port"]))
    code = worker.run()
    logging.shutdown()
    os._exit(code)  # abandoned prediction threads are not waited for


if __name__ == "__main__":
    main()
