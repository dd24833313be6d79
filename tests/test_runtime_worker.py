"""The queue worker (async and both modes on Kubernetes) against a real Redis, with faults injected."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.runtime_helpers import REDIS, RedisServer, call, metric, render_server, slow_profile, start_server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
QUEUE = "slow-model:queue"
GROUP = "workers"


@pytest.fixture
def redis_server(tmp_path):
    if REDIS is None:
        pytest.skip("redis-server is not installed (.ci/run installs it: apt-get install redis-server)")
    pytest.importorskip("redis")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def workers(tmp_path, redis_server):
    """Start workers (the rendered server with a queue, mode both) by pod name; timeout_s 2 so claims come fast."""
    yield from _workers(tmp_path, redis_server, {})


@pytest.fixture
def async_workers(tmp_path, redis_server):
    """The same, for a queue-only workload (mode async): the queue is all it serves."""
    yield from _workers(tmp_path, redis_server, {"mode: both": "mode: async"})


def _workers(tmp_path, redis_server, edits: dict[str, str]):
    app = render_server(slow_profile(tmp_path / "p", {"timeout_s: 30": "timeout_s: 2", **edits}), tmp_path / "build")
    assert (app / "queue_worker.py").is_file()
    assert "redis==" in (app.parent / "requirements.txt").read_text()  # mode both: the image ships the client
    started = []

    def start(pod: str, **env: str):
        queue = {
            "QUEUE_URL": f"redis://127.0.0.1:{redis_server.port}/0",
            "QUEUE_NAME": QUEUE,
            "REDIS_PASSWORD": "s3cret",
            "POD_NAME": pod,
        }
        server = start_server(app, tmp_path / f"{pod}.log", **{**queue, **env})
        started.append(server)
        return server

    yield redis_server.client, start
    for s in started:
        s.stop()


def send(client, body: str) -> str:
    return client.xadd(QUEUE, {"body": body})


def result(client, message_id: str, caller: str = "stream") -> dict | None:
    """A result as the worker files it: <queue>:results/<caller>/<id> (direct XADDs have the caller `stream`)."""
    raw = client.get(f"{QUEUE}:results/{caller}/{message_id}")
    return json.loads(raw) if raw else None


def dead(client) -> list[dict]:
    return [fields for _, fields in client.xrange(f"{QUEUE}:dead")]


def settled(client) -> bool:
    """Nothing left to deliver and nothing held."""
    groups = client.xinfo_groups(QUEUE)
    return client.xlen(QUEUE) == 0 and all(g["pending"] == 0 for g in groups)


def test_poison_messages_go_dead_at_once_and_never_block_good_ones(workers):
    client, start = workers
    poison = {
        "undecodable": "{not json",
        "too-deep": '{"id": "too-deep", "inputs": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "value-error": json.dumps({"id": "value-error", "inputs": ["text"]}),
        "crash": json.dumps({"id": "crash", "inputs": ["crash"]}),
        "nan": json.dumps({"id": "nan", "inputs": ["nan"]}),
    }
    entries = {name: send(client, body) for name, body in poison.items()}
    client.xadd(QUEUE, {"other": "no body field"})
    bad_id = send(client, json.dumps({"id": "bad id with spaces", "inputs": [1]}))
    for i in range(10):
        send(client, json.dumps({"id": f"good-{i}", "inputs": [i]}))
    anonymous = send(client, json.dumps({"inputs": [7]}))
    server = start("worker-a")
    wait_for(lambda: settled(client), timeout=30)
    for i in range(10):
        assert result(client, f"good-{i}") == {"id": f"good-{i}", "outputs": [i * 3.0]}
    assert result(client, anonymous) == {"id": anonymous, "outputs": [21.0]}  # no id: the entry id names it
    assert "expected a number" in result(client, "value-error")["error"]
    assert "attempt 3 of 3" in result(client, "crash")["error"]  # retried, then given up
    assert "NaN" in result(client, "nan")["error"]
    # Too deep to read its id: the error result is filed under the stream entry's id.
    assert "nested too deeply" in result(client, entries["too-deep"])["error"]
    assert "not valid JSON" in result(client, entries["undecodable"])["error"]
    assert '"id" must be' in result(client, bad_id)["error"]
    dead_ids = sorted(d["id"] for d in dead(client))
    assert len(dead_ids) == 7 and len(set(dead_ids)) == 7  # one dead entry each, the body kept for replay
    assert call(server.port, "/readyz")[0] == 200


def test_a_message_held_by_a_killed_pod_is_finished_by_another_pod_exactly_once(workers):
    client, start = workers
    a = start("pod-a")
    wait_for(lambda: metric(a.port, "switchyard_queue_available") == 1)  # mode both: ready before the queue is
    send(client, json.dumps({"id": "held", "inputs": ["sleep:1.5"]}))
    wait_for(lambda: client.xpending(QUEUE, GROUP)["pending"] == 1)  # pod-a holds it, mid-predict
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    for i in range(5):
        send(client, json.dumps({"id": f"after-{i}", "inputs": [i]}))
    # A replacement pod has another name: it cannot pick up pod-a's list by name, it claims what has
    # been idle CLAIM_IDLE_MS (timeout_s + margin, 4 s here; set to 1 s rather than waited out).
    b = start("pod-b", CLAIM_IDLE_MS="1000")
    wait_for(lambda: settled(client), timeout=30)
    assert result(client, "held") == {"id": "held", "outputs": ["slept"]}
    for i in range(5):
        assert result(client, f"after-{i}") == {"id": f"after-{i}", "outputs": [i * 3.0]}
    assert dead(client) == []
    reclaimed = [e for e in b.events() if e.get("event") == "message_reclaimed"]
    assert len(reclaimed) == 1 and reclaimed[0]["deliveries"] == 2


def test_consumers_of_pods_long_gone_are_forgotten_unless_they_hold_work(workers):
    client, start = workers
    client.xgroup_create(QUEUE, GROUP, id="0", mkstream=True)
    client.xgroup_createconsumer(QUEUE, GROUP, "old-pod")
    send(client, json.dumps({"id": "held-by-ghost", "inputs": ["sleep:30"]}))
    client.xreadgroup(GROUP, "ghost-pod", {QUEUE: ">"}, count=1)  # a dead pod holding a message
    time.sleep(0.7)
    server = start("pod-a", CONSUMER_IDLE_S="0.5", CLAIM_IDLE_MS="60000")  # no takeover during the test
    wait_for(lambda: "old-pod" not in {c["name"] for c in client.xinfo_consumers(QUEUE, GROUP)})
    assert "ghost-pod" in {c["name"] for c in client.xinfo_consumers(QUEUE, GROUP)}  # its message is still owed
    # The pod logs the removal after Redis has made it: the line may land a moment after the check above.
    wait_for(
        lambda: any(e.get("event") == "consumer_forgotten" and e["forgotten"] == "old-pod" for e in server.events())
    )


def test_two_pods_share_the_work_and_each_message_is_done_once(workers):
    client, start = workers
    pods = [start("pod-a"), start("pod-b")]
    for i in range(40):
        send(client, json.dumps({"id": f"m-{i}", "inputs": ["sleep:0.02"]}))
    wait_for(lambda: settled(client), timeout=30)
    assert all(result(client, f"m-{i}") == {"id": f"m-{i}", "outputs": ["slept"]} for i in range(40))
    done = [sum(1 for e in p.events() if e.get("event") == "message_done") for p in pods]
    assert sum(done) == 40 and all(d > 0 for d in done), done


def test_redis_restart_mid_run_turns_readiness_false_then_work_resumes(async_workers, redis_server):
    client, start = async_workers
    server = start("pod-a", REDIS_BACKOFF_MAX_S="0.3")  # retries 0.3 s apart at most: back soon after Redis
    wait_for(lambda: call(server.port, "/readyz")[0] == 200)
    for i in range(30):
        send(client, json.dumps({"id": f"r-{i}", "inputs": ["sleep:0.05"]}))
    wait_for(lambda: result(client, "r-3") is not None)
    redis_server.stop()
    wait_for(lambda: call(server.port, "/readyz")[0] == 503)
    assert "queue unavailable" in json.loads(call(server.port, "/readyz")[1])["reason"]
    time.sleep(1)
    redis_server.start()  # same port, same append-only file
    wait_for(lambda: call(server.port, "/readyz")[0] == 200, timeout=20)
    wait_for(lambda: settled(client), timeout=30)
    assert all(result(client, f"r-{i}") == {"id": f"r-{i}", "outputs": ["slept"]} for i in range(30))
    assert server.proc.poll() is None


def test_a_worker_that_cannot_reach_redis_goes_unready_and_exits_non_zero(async_workers, redis_server):
    _client, start = async_workers
    server = start("pod-a", REDIS_OUTAGE_S="1", REDIS_BACKOFF_MAX_S="0.3")
    wait_for(lambda: call(server.port, "/readyz")[0] == 200)
    redis_server.stop()
    wait_for(lambda: call(server.port, "/readyz")[0] == 503)
    assert server.proc.wait(timeout=15) == 1
    assert any(e.get("event") == "fatal" and "queue unavailable" in e["reason"] for e in server.events())


def test_wrong_password_is_not_ready_and_exits(async_workers):
    _client, start = async_workers
    server = start("pod-a", REDIS_PASSWORD="wrong", REDIS_OUTAGE_S="1", REDIS_BACKOFF_MAX_S="0.3")
    assert server.proc.wait(timeout=15) == 1
    assert any(e.get("event") == "fatal" for e in server.events())


def test_sigterm_finishes_the_message_in_hand(workers):
    client, start = workers
    server = start("pod-a")
    wait_for(lambda: metric(server.port, "switchyard_queue_available") == 1)  # mode both: ready before the queue is
    send(client, json.dumps({"id": "slow", "inputs": ["sleep:1.5"]}))
    wait_for(lambda: client.xpending(QUEUE, GROUP)["pending"] == 1)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=20) == 0
    assert result(client, "slow") == {"id": "slow", "outputs": ["slept"]}
    assert settled(client)


def test_a_message_that_keeps_killing_workers_is_dead_lettered_under_the_clients_id(workers):
    """An input that kills the process (OOM, a segfault in native code) is delivered to pod after
    pod; after MAX_DELIVERIES it goes dead, and its error result is filed under the client's id,
    where the client is polling (not under the stream entry id it never saw)."""
    client, start = workers
    client.xgroup_create(QUEUE, GROUP, id="0", mkstream=True)
    entry = send(client, json.dumps({"id": "kills-workers", "inputs": ["sleep:30"]}))
    client.xreadgroup(GROUP, "pod-1", {QUEUE: ">"}, count=1)  # delivered, then that pod was OOM-killed
    for pod in ("pod-2", "pod-3"):  # reclaimed by the next pods, which died on it too
        client.xclaim(QUEUE, GROUP, pod, 0, [entry])
    assert client.xpending_range(QUEUE, GROUP, min=entry, max=entry, count=1)[0]["times_delivered"] == 3
    time.sleep(0.3)
    start("pod-4", CLAIM_IDLE_MS="200")
    wait_for(lambda: settled(client), timeout=30)
    outcome = result(client, "kills-workers")
    assert outcome is not None and "delivered 4 times" in outcome["error"]
    assert [d["id"] for d in dead(client)] == ["kills-workers"]
    assert result(client, entry) is None


def test_in_both_mode_a_queue_outage_never_takes_the_http_api_down(workers, redis_server):
    """Mode both: callers also wait on HTTP, which needs no Redis. A Redis restart (one replica,
    Recreate; minutes when its volume moves to another node) must not empty the Service of every
    replica, nor make them exit into a crash loop: HTTP keeps answering, the queue resumes."""
    client, start = workers
    server = start("pod-a", REDIS_OUTAGE_S="0.5", REDIS_BACKOFF_MAX_S="0.3")
    wait_for(lambda: metric(server.port, "switchyard_queue_available") == 1)  # mode both: ready before the queue is
    redis_server.stop()
    outage_over = time.monotonic() + 1.5  # three times REDIS_OUTAGE_S
    while time.monotonic() < outage_over:
        assert call(server.port, "/readyz")[0] == 200
        assert call(server.port, "/predict", {"inputs": [2]}) == (200, '{"outputs":[6.0]}')
        time.sleep(0.2)
    assert server.proc.poll() is None
    wait_for(lambda: any(e.get("event") == "queue_unavailable" for e in server.events()))
    redis_server.start()
    send(client, json.dumps({"id": "after-outage", "inputs": [1]}))
    wait_for(lambda: result(client, "after-outage") is not None, timeout=20)
    assert result(client, "after-outage") == {"id": "after-outage", "outputs": [3.0]}
