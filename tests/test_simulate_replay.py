"""The simulator against the real server: a real trace replayed against the rendered Kubernetes server.

The server is rendered from a profile whose sizing gives 4 slots and a queue of 8 (the model sleeps
a known 50 ms); the simulator reads the same workload's parameters through stacks/simulate/inputs.py
and replays the same arrivals against its model of one replica. Each request has a fresh
connection (a 503 may close it), sent open-loop at its trace time. p50/p99 (of the requests that
were answered 200 or 504) and the 503 count must agree within 15 %.

The slice: 200 requests from row 2,001 of the Azure trace, its densest stretch (the trace clumps
requests within milliseconds), replayed 1.5x faster: ~5 s, with queueing and shedding. The
simulated service time is the server's own for one request alone (the 100 ms sleep plus its
HTTP and thread hand-off): the median of five lone requests before the replay and five after it,
so one request slowed by another process on a shared machine moves it not at all. The simulator
models queueing, not the interpreter; scheduling delays land in the measured tail, so a replay
that misses (a disk flush elsewhere stalled two requests past p99) is replayed, up to three times
in all: the test passes on the first that agrees (a wrong simulator misses in every one).

The trace does not reach the edges of the contract (a 503 count barely moves with the queue bound
one longer, and nothing times out), so a second, scripted replay of ~3 s does: a burst over the
bound, requests running past the 2 s timeout (504 at the deadline, their slot held until they
return), waiters expiring (504, their place freed), a replica whose every slot is held by such a
prediction refusing at once (503), and requests right after it is free again. Every outcome of it
is worked out by hand below, and the real server and the simulator must both give it.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import time
from pathlib import Path

import pytest

from stacks.simulate.engine import Engine
from stacks.simulate.inputs import kubernetes_params
from stacks.simulate.results import OK, REJECTED, TIMED_OUT, Recorder, percentile, summarize
from stacks.simulate.server import ReplicaServer
from stacks.simulate.traffic import load_trace
from tests.conftest import ROOT
from tests.packaging_helpers import workload
from tests.runtime_helpers import call, render_server, slow_profile, start_server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

TRACE = ROOT / "tests" / "fixtures" / "traces" / "azure-llm-2023-code.csv"
FIRST, COUNT, SPEED = 2000, 200, 1.5
SLEEP_S = 0.1
EDITS = {
    "p99_latency_ms: 1000": "p99_latency_ms: 200",
    "inference_ms: 10": "inference_ms: 100",
    "  inference_ms: 100\n": "  inference_ms: 100\noverrides:\n  platform:\n    replica_concurrency_custom: 4\n",
    "timeout_s: 30": "timeout_s: 2",
}
# The scripted replay: (offset s, model sleep s, how many). With 4 slots, a queue of 8 and a 2 s
# timeout: at 0, 4 run 1.2 s (200), 4 wait then run 1.2-2.4 s (504 at 2.0, slots held to 2.4), 4
# wait past 2.0 (504), 2 find the queue full (503); at 2.2 every slot holds an abandoned
# prediction (503 at once); at 2.6 all are free (200 after 0.2 s).
SCRIPT = [(0.0, 1.2, 14), (2.2, 0.1, 2), (2.6, 0.2, 4)]
SCRIPT_OUTCOMES = {OK: [0.2] * 4 + [1.2] * 4, TIMED_OUT: [2.0] * 8, REJECTED: [0.0] * 4}  # sorted
TOLERANCE = 0.15
# The machine is shared: another process's burst (a disk flush, a busy core) stalls a request or two
# for 100 ms and more, and p99 of 200 requests is their second slowest. Such a stall lands in one
# replay; a simulator that is wrong misses in every one.
ATTEMPTS = 3


def arrivals() -> list[float]:
    trace = load_trace(TRACE, mean_inference_ms=SLEEP_S * 1000, speed=SPEED)
    times = trace.times[FIRST : FIRST + COUNT]
    return [t - times[0] for t in times]


async def _one(port: int, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    reply = await reader.read()  # to the close: one request per connection
    elapsed = time.perf_counter() - started
    writer.close()
    return int(reply.split(b" ", 2)[1]), elapsed


async def _replay(port: int, offsets: list[float], sleeps: list[float] | None = None) -> list[tuple[int, float]]:
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.2

    async def at(offset: float, sleep: float) -> tuple[int, float]:
        body = json.dumps({"inputs": [f"sleep:{sleep}"]}).encode()
        await asyncio.sleep(max(0.0, t0 + offset - loop.time()))
        return await _one(port, body)

    return await asyncio.gather(*(at(o, s) for o, s in zip(offsets, sleeps or [SLEEP_S] * len(offsets), strict=True)))


def script() -> tuple[list[float], list[float]]:
    offsets = [o for o, _, n in SCRIPT for _ in range(n)]
    sleeps = [s for _, s, n in SCRIPT for _ in range(n)]
    return offsets, sleeps


def outcomes(replies: list[tuple[int, float]]) -> dict[int, list[float]]:
    by_code: dict[int, list[float]] = {}
    for code, seconds in replies:
        by_code.setdefault(code, []).append(seconds if code != REJECTED else 0.0)
    return {code: sorted(v) for code, v in by_code.items()}


def simulated_script(profile: Path, overhead_s: float) -> dict[int, list[float]]:
    k = kubernetes_params(workload(profile))
    offsets, sleeps = script()
    engine, rec = Engine(), Recorder(offsets)
    server = ReplicaServer(engine, rec, k.replica_concurrency, k.queue_depth, k.timeout_s)
    engine.feed(offsets, lambda i: server.offer(i, sleeps[i] + overhead_s))
    engine.run(math.inf)
    return outcomes(list(zip(rec.code, rec.latency, strict=True)))


def simulated(offsets: list[float], profile: Path, service_s: float) -> tuple[int, float, float, dict]:
    k = kubernetes_params(workload(profile))
    engine, rec = Engine(), Recorder(offsets)
    server = ReplicaServer(engine, rec, k.replica_concurrency, k.queue_depth, k.timeout_s)
    engine.feed(offsets, lambda i: server.offer(i, service_s))
    engine.run(math.inf)
    s = summarize(rec)
    return s.rejected, s.p50_ms, s.p99_ms, {"concurrency": k.replica_concurrency, "queue_depth": k.queue_depth}


def measured_figures(replies: list[tuple[int, float]]) -> tuple[int, float, float]:
    waited = sorted(d for code, d in replies if code in (OK, TIMED_OUT))
    return (
        sum(1 for code, _ in replies if code == REJECTED),
        percentile(waited, 50) * 1000,
        percentile(waited, 99) * 1000,
    )


def _measure(port: int) -> tuple[float, list[tuple[int, float]]]:
    """One replay of the slice, and the service time: the median of five lone requests before it
    and five after it."""
    # A loop of its own, never the thread's: asyncio.run() leaves the main thread with no current
    # loop, and a later test in this worker that uses Pulumi's mocks directly would fail.
    loop = asyncio.new_event_loop()
    try:
        lone = [0.15 * i for i in range(5)]
        alone = [d for _, d in loop.run_until_complete(_replay(port, lone))]
        replies = loop.run_until_complete(_replay(port, arrivals()))
        alone += [d for _, d in loop.run_until_complete(_replay(port, lone))]
    finally:
        loop.close()
    service_s = statistics.median(alone)
    assert SLEEP_S <= service_s < SLEEP_S * 1.5, alone  # the sleep, plus HTTP and a thread hand-off
    return service_s, replies


def test_simulated_p50_p99_and_503s_match_the_real_server_on_a_real_trace(tmp_path):
    profile = slow_profile(tmp_path / "p", EDITS)  # applied in order: the third edits the second's result
    app = render_server(profile, tmp_path / "build")
    server = start_server(app, tmp_path / "server.log")
    misses = []
    try:
        wait_for(lambda: call(server.port, "/readyz")[0] == 200)
        for _ in range(ATTEMPTS):
            service_s, replies = _measure(server.port)
            sim_503, sim_p50, sim_p99, sized = simulated(arrivals(), profile, service_s)
            assert sized == {"concurrency": 4, "queue_depth": 8}  # the profile sizes what the server runs
            codes = {code for code, _ in replies}
            assert codes <= {OK, REJECTED}, codes
            assert sim_503 > 10  # the slice does exercise the bounded queue
            real_503, real_p50, real_p99 = measured_figures(replies)
            figures = (
                f"service {service_s * 1000:.1f} ms; 503: simulated {sim_503}, measured {real_503}; "
                f"p50: simulated {sim_p50:.1f} ms, measured {real_p50:.1f} ms; "
                f"p99: simulated {sim_p99:.1f} ms, measured {real_p99:.1f} ms"
            )
            print(figures)
            if (
                abs(real_503 - sim_503) <= TOLERANCE * sim_503
                and abs(real_p50 / sim_p50 - 1) <= TOLERANCE
                and abs(real_p99 / sim_p99 - 1) <= TOLERANCE
            ):
                break
            misses.append(figures)
        else:
            pytest.fail(f"no replay of {ATTEMPTS} agreed within {TOLERANCE:.0%}:\n" + "\n".join(misses))
        wait_for(lambda: call(server.port, "/readyz")[0] == 200)
        loop = asyncio.new_event_loop()  # a loop of its own (see _measure)
        try:
            scripted = outcomes(loop.run_until_complete(_replay(server.port, *script())))
        finally:
            loop.close()
    finally:
        server.stop()

    # The scripted replay: the simulator gives the hand-worked outcomes, and the server the same.
    sim_script = simulated_script(profile, service_s - SLEEP_S)
    assert {code: len(v) for code, v in sim_script.items()} == {c: len(v) for c, v in SCRIPT_OUTCOMES.items()}
    for code, expected in SCRIPT_OUTCOMES.items():
        assert sim_script[code] == pytest.approx(expected, abs=0.01), (code, sim_script[code])
    assert {code: len(v) for code, v in scripted.items()} == {c: len(v) for c, v in sim_script.items()}, scripted
    for code, measured in scripted.items():
        assert measured == pytest.approx(sim_script[code], rel=TOLERANCE, abs=0.05), (code, measured, sim_script[code])
