"""The queue's Redis is bounded by the sizing, and the bound holds on a real redis-server.

The issue's night: the embeddings profile (50 msg/s for 2 h) kept results 7 days with no maxmemory
and a 1 Gi limit: OOM-killed after ~50 min. The bound is computed from the sizing, and a real
redis-server started with the program's own arguments fills to it and stays under it with the
stream intact.
"""

from __future__ import annotations

import math
import shutil
import subprocess

import pytest

from stacks.k8s.redis import auth_conf, redis_args
from stacks.pricebook import Platform
from stacks.profile import Target
from stacks.targets.kubernetes import kubernetes_sizing
from stacks.targets.kubernetes.queue import (
    ALLOCATOR_ROUNDING,
    RESULT_OVERHEAD_BYTES,
    STREAM_ENTRY_OVERHEAD_BYTES,
    queue_redis,
)
from tests.conftest import PROFILES
from tests.packaging_helpers import workload
from tests.runtime_helpers import free_port, render_server, slow_profile, wait_for

REDIS = shutil.which("redis-server")
MIB = 1024**2


def test_the_memory_bound_at_the_example_nightly_rate():
    w = workload(PROFILES / "nightly-embeddings.yaml")
    u, platform = w.profile.utilization, w.settings.platform
    q = kubernetes_sizing(w).queue
    # One night's messages live for the results' TTL (24 h): 50 msg/s x 2 h.
    assert q.results_held == 50 * 2 * 3600 == 360_000
    assert q.result_ttl_s == platform.k8s_results_retention_hours * 3600 == 86_400
    assert q.result_bytes == 4 * 1024 * ALLOCATOR_ROUNDING + RESULT_OVERHEAD_BYTES == 5376
    # A 15-minute backlog at the peak (100 msg/s) plus what the replicas hold at once.
    k = kubernetes_sizing(w)
    assert q.backlog_messages == 100 * 15 * 60 + k.max_replicas * k.replica_concurrency
    assert q.message_bytes == 4 * 1024 * ALLOCATOR_ROUNDING + STREAM_ENTRY_OVERHEAD_BYTES
    expected = 360_000 * q.result_bytes + q.backlog_messages * q.message_bytes + 64 * MIB + 64 * MIB
    assert q.maxmemory_mb == math.ceil(expected / MIB) == 2458
    assert q.memory_limit_mb == math.ceil(2458 * 1.5) and q.volume_gi == math.ceil(2458 * 3 / 1024)
    # The old fixed 1 Gi limit is below one night's results: the kernel killed Redis, not a bound.
    assert q.maxmemory_mb > 1024 and u.avg_rps == 50
    # Billed: its memory held around the clock on a CPU node, and its volume.
    bill = w.decision.option(Target.kubernetes).bill.items
    assert bill["queue_redis"] > 0 and bill["queue_volume"] == round(q.volume_gi * 0.10, 2)


@pytest.fixture
def bounded_redis(tmp_path):
    """A real redis-server started with the program's arguments for a small sizing: its own bound."""
    if REDIS is None:
        pytest.skip("redis-server is not installed (.ci/run installs it: apt-get install redis-server)")
    redis = pytest.importorskip("redis")
    profile = workload(PROFILES / "nightly-embeddings.yaml").profile
    small = profile.model_copy(
        update={"utilization": profile.utilization.model_copy(update={"avg_rps": 0.01, "peak_rps": 0.02})}
    )
    q = queue_redis(small, Platform(queue_dead_letter_mb=1, k8s_results_retention_hours=1), in_workers=2)
    assert q.maxmemory_mb < 80  # the base and dead letters: small enough to fill in a test
    auth = tmp_path / "auth.conf"
    auth.write_text(auth_conf("s3cret-of-the-test"))
    args = redis_args(q)
    args[0] = str(auth)
    args[args.index("--dir") + 1] = str(tmp_path)
    port = free_port()
    proc = subprocess.Popen([REDIS, *args, "--port", str(port), "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, password="s3cret-of-the-test")
    wait_for(lambda: client.ping())
    yield client, q
    proc.terminate()
    proc.wait(timeout=10)


def test_a_full_redis_refuses_new_messages_keeps_every_one_it_took_and_still_drains(bounded_redis, tmp_path):
    import redis

    client, q = bounded_redis
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert int(client.config_get("maxmemory")["maxmemory"]) == q.maxmemory_mb * MIB
    stream, payload = "nightly-embeddings:queue", b"x" * 4096
    client.xgroup_create(stream, "workers", id="0", mkstream=True)
    # Results with their TTL up to 60 % of the bound, then messages until Redis says no.
    results = 0
    while client.info("memory")["used_memory"] < q.maxmemory_mb * MIB * 0.6:
        pipe = client.pipeline(transaction=False)
        for i in range(results, results + 500):
            pipe.set(f"{stream}:results/stream/r{i}", payload, ex=q.result_ttl_s)
        pipe.execute()
        results += 500
    accepted = 0
    with pytest.raises(redis.exceptions.OutOfMemoryError, match="maxmemory"):
        while True:
            client.xadd(stream, {"body": payload, "caller": "c"})
            accepted += 1
    assert accepted > 1000
    memory = client.info("memory")
    # Redis bounds what it holds; the AOF buffer (writes not yet on disk, appendfsync everysec) is
    # left out of the bound and grows while the disk is busy (several MiB on a loaded machine).
    # The container's limit leaves room for it: that limit, not maxmemory, is what OOM-kills.
    assert memory["used_memory"] - memory["mem_not_counted_for_evict"] <= q.maxmemory_mb * MIB
    assert memory["used_memory"] <= q.memory_limit_mb * MIB
    assert client.info("stats")["evicted_keys"] == 0
    assert client.xlen(stream) == accepted  # the stream intact: every message it took is there
    assert client.dbsize() == results + 1 and client.ttl(f"{stream}:results/stream/r0") > 0
    # The sizing's per-object costs hold on a real Redis (the bound is their sum).
    assert client.memory_usage(f"{stream}:results/stream/r0") <= q.result_bytes
    per_entry = client.memory_usage(stream, samples=0) / accepted
    assert per_entry <= q.message_bytes, per_entry
    # Full, yet a worker still finishes a message: its outcome script may run over the limit
    # (allow-oom), and the stream shrinks.
    app = render_server(slow_profile(tmp_path / "p", {"mode: both": "mode: async"}), tmp_path / "build")
    script = (app / "queue_worker.py").read_text().split('OUTCOME = """', 1)[1].split('"""', 1)[0]
    outcome = client.register_script(script)
    ((_, [(entry, _)]),) = client.xreadgroup("workers", "pod-a", {stream: ">"}, count=1)
    done = outcome(
        keys=[stream, f"{stream}:results/c/job-1", f"{stream}:dead", f"{stream}:dead:bytes"],
        args=["workers", entry, '{"id":"job-1","outputs":[1]}', q.result_ttl_s, "", "job-1", payload, 1024, "c"],
    )
    assert done == 1 and client.xlen(stream) == accepted - 1 and client.get(f"{stream}:results/c/job-1")
