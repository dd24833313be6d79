"""The Redis of a Kubernetes async workload (redisMode deploy): what it holds, its memory bound and
its volume, sized from the traffic; stacks/k8s/redis.py deploys it and the bill prices it.
"""

from __future__ import annotations

import math

from stacks.decision.sizing import Frozen
from stacks.pricebook import Platform
from stacks.profile import Mode, Preset, Profile

# A replica should work off its share of a backlog within this (KEDA's queue triggers, Redis and SQS).
QUEUE_DRAIN_TARGET_S = 30


class QueueSizing(Frozen):
    """The Redis of a Kubernetes async workload: what it holds, its memory bound and its volume.

    Redis keeps everything in memory, so its bound is computed, not guessed: the results kept for
    their TTL, a backlog of messages at the peak rate, the dead letters (bounded in bytes) and
    Redis's own base. `maxmemory` is that bound with `noeviction`: past it Redis refuses new
    messages (the producer is told) and never drops a stream entry or a result before its time.
    """

    results_held: int  # results alive at once: the messages of one TTL window
    result_bytes: int  # one result in Redis: payload in its allocator slot + key, value and expiry overhead
    backlog_messages: int  # messages waiting at most: the backlog allowance at the peak + those in the workers
    message_bytes: int  # one stream entry: payload + entry and pending-list overhead
    message_max_bytes: int  # larger messages are refused (413) or answered with an error result
    result_ttl_s: int
    dead_letter_bytes: int  # the dead-letter stream is trimmed, oldest first, to this many bytes
    base_bytes: int  # an empty Redis, client buffers, the Lua scripts
    maxmemory_mb: int  # Redis `maxmemory`: the sum of the above
    memory_limit_mb: int  # the container's request = limit: maxmemory + fragmentation + fork copy-on-write
    volume_gi: int  # append-only file: the data, its growth before a rewrite, and the rewrite's new copy


# Redis's own cost per object (64-bit, jemalloc). jemalloc rounds an allocation up to its size
# class, and classes are at most 25 % apart (four per doubling): a 4,096 B value plus its header
# takes a 5,120 B slot. Beyond the value: a string key with an expiry is a dict entry, the key and
# value objects and an entry in the expires dict (~100 B); a stream entry a listpack node of its
# own (a 4 KB entry fills one), its fields, the radix-tree node and, while it is worked, a
# pending-list node (~400 B). tests/test_redis_bounds.py measures both on a real redis-server:
# 5,208 B per 4 KB result (model 5,376), 5,482 B per 4 KB stream entry (model 5,632).
ALLOCATOR_ROUNDING = 1.25
RESULT_OVERHEAD_BYTES = 256
STREAM_ENTRY_OVERHEAD_BYTES = 512
REDIS_BASE_BYTES = 64 * 1024**2  # an empty Redis is ~1 MB; client buffers and scripts take the rest
# jemalloc's fragmentation (RSS ~1.1-1.4 x used memory) and the pages an AOF rewrite's fork copies
# while writes go on: the container gets half again the data bound, or the kernel OOM-kills Redis.
REDIS_LIMIT_FACTOR = 1.5
# The AOF grows to twice its rewritten size before the next rewrite (auto-aof-rewrite-percentage
# 100), and a rewrite writes a new copy beside it.
AOF_VOLUME_FACTOR = 3
MIB = 1024**2


def uses_queue(p: Profile) -> bool:
    """A Kubernetes replica works a Redis stream: async or both, a custom model (vLLM has no worker)."""
    return p.sla.mode is not Mode.sync and p.model.preset is not Preset.vllm


def results_held(p: Profile, ttl_hours: int) -> int:
    """Results alive at once: every message of the TTL window (whole days of traffic, then the rest)."""
    u = p.utilization
    days, rest_h = divmod(ttl_hours, 24)
    hours = days * u.active_hours_per_day + min(rest_h, u.active_hours_per_day)
    return math.ceil(u.avg_rps * hours * 3600)


def queue_redis(p: Profile, platform: Platform, *, in_workers: int) -> QueueSizing:
    ttl_h = platform.k8s_results_retention_hours
    held = results_held(p, ttl_h)
    result_bytes = math.ceil(platform.async_result_kb * 1024 * ALLOCATOR_ROUNDING) + RESULT_OVERHEAD_BYTES
    backlog = math.ceil(p.utilization.peak_rps * platform.queue_backlog_minutes * 60) + in_workers
    message_bytes = math.ceil(platform.async_message_kb * 1024 * ALLOCATOR_ROUNDING) + STREAM_ENTRY_OVERHEAD_BYTES
    dead = platform.queue_dead_letter_mb * MIB
    total = held * result_bytes + backlog * message_bytes + dead + REDIS_BASE_BYTES
    maxmemory_mb = math.ceil(total / MIB)
    return QueueSizing(
        results_held=held,
        result_bytes=result_bytes,
        backlog_messages=backlog,
        message_bytes=message_bytes,
        message_max_bytes=platform.async_message_max_kb * 1024,
        result_ttl_s=ttl_h * 3600,
        dead_letter_bytes=dead,
        base_bytes=REDIS_BASE_BYTES,
        maxmemory_mb=maxmemory_mb,
        memory_limit_mb=math.ceil(maxmemory_mb * REDIS_LIMIT_FACTOR),
        volume_gi=max(1, math.ceil(maxmemory_mb * AOF_VOLUME_FACTOR / 1024)),
    )
