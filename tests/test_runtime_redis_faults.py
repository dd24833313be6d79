"""The queue consumer against a real redis-server failing in each way production's does: it goes
unready, logs the error's class, retries with backoff and comes back; or, when the error never
clears, exits with a log line saying why. A prediction that hangs is dead-lettered, not waited on."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.runtime_helpers import (
    REDIS,
    RedisServer,
    call,
    free_port,
    render_server,
    slow_profile,
    start_server,
    wait_for,
)
from tests.test_runtime_worker import QUEUE, async_workers, dead, redis_server, result, send, settled  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One Redis and one queue-only replica for every recoverable fault (each test restores Redis).
    REDIS_TIMEOUT_S 0.3: a command stalled 0.3 s past its blocking time is a timeout; retries at
    most 0.5 s apart, so recovery is seen soon after Redis is back."""
    if REDIS is None:
        pytest.skip("redis-server is not installed (.ci/run installs it: apt-get install redis-server)")
    directory = tmp_path_factory.mktemp("redis-faults")
    redis = RedisServer(directory)
    redis.start()
    profile = slow_profile(directory / "p", {"timeout_s: 30": "timeout_s: 2", "mode: both": "mode: async"})
    env = {
        "QUEUE_URL": f"redis://127.0.0.1:{redis.port}/0",
        "QUEUE_NAME": QUEUE,
        "REDIS_PASSWORD": "s3cret",
        "POD_NAME": "pod-a",
        "REDIS_TIMEOUT_S": "0.3",
        "REDIS_BACKOFF_MAX_S": "0.5",
    }
    server = start_server(render_server(profile, directory / "build"), directory / "pod-a.log", **env)
    yield redis, server
    server.stop()
    redis.stop()


def readyz(server) -> tuple[int, str]:
    status, body = call(server.health_port, "/readyz", timeout=2)
    return status, json.loads(body).get("reason", "")


def _restart_loading(redis: RedisServer) -> None:
    """Restart Redis with enough keys, loaded slowly enough, that it answers LOADING for a while."""
    pipe = redis.client.pipeline(transaction=False)
    for i in range(500):
        pipe.set(f"fill:{i}", "x")
    pipe.execute()
    redis.client.bgrewriteaof()  # the keys go to the RDB base file, which key-load-delay slows down
    wait_for(lambda: not redis.client.info("persistence")["aof_rewrite_in_progress"])
    wait_for(lambda: not redis.client.info("persistence")["aof_rewrite_scheduled"])
    redis.stop()
    redis.start("--key-load-delay", "2000", "--loading-process-events-interval-bytes", "1024", wait=False)


@dataclass
class Fault:
    kind: str  # the error class the worker logs and names in /readyz
    induce: Callable[[RedisServer], object]
    lift: Callable[[RedisServer], object]
    lasts: bool = True  # long enough to see /readyz say so (a reset connection is back at once)


FAULTS = [
    # A failover: the Service's address now reaches a replica (its blocked reads are cut: UNBLOCKED).
    Fault(
        "readonly",
        lambda r: r.client.execute_command("REPLICAOF", "127.0.0.1", str(free_port())),
        lambda r: r.client.execute_command("REPLICAOF", "NO", "ONE"),
    ),
    Fault("loading", _restart_loading, lambda r: wait_for(r.up)),
    # Full, and the group must be made again (the stream was lost): XGROUP CREATE is refused.
    Fault(
        "oom",
        lambda r: (r.client.config_set("maxmemory", "1"), r.client.delete(QUEUE)),
        lambda r: r.client.config_set("maxmemory", "0"),
    ),
    Fault(
        "wrongtype",
        lambda r: (r.client.delete(QUEUE), r.client.set(QUEUE, "not a stream")),
        lambda r: r.client.delete(QUEUE),
    ),
    # A stalled primary: every command waits. The test's own next command waits out the pause.
    Fault("timeout", lambda r: r.client.execute_command("CLIENT", "PAUSE", "3000", "ALL"), lambda r: r.client.ping()),
    Fault("connection", lambda r: r.client.client_kill_filter(_type="normal", skipme=True), lambda r: None, False),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.kind for f in FAULTS])
def test_the_consumer_goes_unready_through_a_redis_error_and_recovers(shared, fault):
    redis, server = shared
    wait_for(lambda: readyz(server)[0] == 200, timeout=10)
    before = len(server.events())
    fault.induce(redis)
    if fault.lasts:
        wait_for(lambda: readyz(server) == (503, readyz(server)[1]) and f"({fault.kind})" in readyz(server)[1])
    fault.lift(redis)
    wait_for(lambda: readyz(server)[0] == 200, timeout=10)
    send(redis.client, json.dumps({"id": f"after-{fault.kind}", "inputs": [2]}))
    wait_for(lambda: result(redis.client, f"after-{fault.kind}") is not None, timeout=10)
    assert result(redis.client, f"after-{fault.kind}") == {"id": f"after-{fault.kind}", "outputs": [6.0]}
    events = server.events()[before:]
    assert any(e.get("event") == "queue_unavailable" and e["error_class"] == fault.kind for e in events), events
    assert any(e.get("event") == "queue_recovered" for e in events)
    assert server.proc.poll() is None


def test_a_redis_error_that_never_clears_ends_in_a_logged_exit(async_workers, redis_server):  # noqa: F811
    client, start = async_workers
    server = start("pod-a", REDIS_OUTAGE_S="1", REDIS_BACKOFF_MAX_S="0.3")
    wait_for(lambda: readyz(server)[0] == 200)
    client.delete(QUEUE)
    client.set(QUEUE, "not a stream")
    assert server.proc.wait(timeout=15) == 1
    fatal = [e for e in server.events() if e.get("event") == "fatal"]
    assert len(fatal) == 1 and "(wrongtype)" in fatal[0]["reason"] and "WRONGTYPE" in fatal[0]["reason"]


def test_a_hung_message_is_dead_lettered_and_the_next_ones_run_on_the_restarted_replica(
    async_workers,  # noqa: F811
    tmp_path,
):
    client, start = async_workers
    send(client, json.dumps({"id": "hung", "inputs": [f"until:{tmp_path / 'never'}"]}))
    for i in range(3):
        send(client, json.dumps({"id": f"next-{i}", "inputs": [i]}))
    a = start("pod-a", STUCK_AFTER_S="1")
    wait_for(lambda: result(client, "hung") is not None, timeout=10)
    assert result(client, "hung") == {"id": "hung", "error": "prediction took longer than 2 s"}  # at once, not retried
    assert [d["id"] for d in dead(client)] == ["hung"]
    # Its only slot is lost: it reads nothing more (a message read now would time out unrun), and
    # once the prediction is stuck for good it exits for Kubernetes to restart it.
    assert a.proc.wait(timeout=10) == 1
    assert any(e.get("event") == "fatal" and "still running" in e["reason"] for e in a.events())
    assert client.xlen(QUEUE) == 3 and client.xpending(QUEUE, "workers")["pending"] == 0
    start("pod-a")  # the restarted container
    wait_for(lambda: settled(client), timeout=15)
    assert [result(client, f"next-{i}") for i in range(3)] == [
        {"id": f"next-{i}", "outputs": [i * 3.0]} for i in range(3)
    ]
