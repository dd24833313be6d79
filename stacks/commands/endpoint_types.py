"""What `switchyard outputs` shows for one workload, whichever target it is on: the synchronous
endpoint and its auth, the queue, its dead letters and where each caller's results land."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

RESULTS_PREFIX = "results/"  # stacks/aws/queue.py: the handler writes results/<caller>/<id>.json
REDIS_PORT = 6379  # stacks/k8s/redis.py (not imported: it loads the Pulumi SDK)
# The served key is derived from switchyard:apiKey per workload (stacks/k8s/api_keys.py), never the
# config value itself.
API_KEY_HINT = "Authorization: Bearer <key> (pulumi stack output apiKeys --show-secrets: this workload's, by caller)"
# Who a result is filed under; the caller reads only its own.
SQS_CALLER = "your aws:userid, the SenderId SQS reports (aws sts get-caller-identity --query UserId)"
HTTP_CALLER = "the name of your API key (`stream` for an XADD without a caller field)"


@dataclass
class Sync:
    url: str | None  # None: known only once deployed
    path: str  # what to POST to, under url
    auth: str


@dataclass
class Async:
    kind: str  # sqs | redis-stream
    queue: str | None
    dead_letters: str | None
    results: str | None  # one caller's result, <caller> and <id> to fill in
    auth: str
    address: str | None = None  # redis-stream: host:port, for producers inside the namespace
    caller: str = ""  # who <caller> is
    api: str | None = None  # redis-stream: the server's base URL for POST /messages, GET /results/<id>
    stream_auth: str | None = None  # redis-stream: Redis AUTH, for an XADD inside the namespace


@dataclass
class Endpoints:
    name: str
    target: str
    deployed: bool
    source: str
    sync: Sync | None = None
    async_: Async | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # what the source exported, verbatim
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["async"] = doc.pop("async_")
        return doc
