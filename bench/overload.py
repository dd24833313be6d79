"""More callers than capacity: successful throughput of 4 vs 50 keep-alive clients over replicas.

    python bench/overload.py [--replicas 2] [--seconds 5]

Each replica is the server rendered for a model whose predict() sleeps 5 ms, with 4 slots and 4
waiting (CONCURRENCY=4, QUEUE_DEPTH=4). A client holds one keep-alive connection to a replica
picked at random, as a Service's proxy would; when an answer says `Connection: close` (every 503
does) it reconnects, again to a random replica, and sends its next request at once. Reported:
successful requests/s with 4 clients and with 50, their ratio (the issue's target: >= 80 %), the
share of 503s and how many connections the 50 clients opened.

The load generator is one asyncio process; the replicas are others, all on this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server_load import SLEEPY_PROFILE, Running  # noqa: E402
from stacks.packaging import render  # noqa: E402
from stacks.profile import Target  # noqa: E402
from stacks.profile.loader import load_profile  # noqa: E402
from stacks.targets import decide  # noqa: E402

MODEL = """import time


def load(weights_dir):
    return None


def predict(model, inputs):
    time.sleep(0.005)
    return [len(str(x)) for x in inputs]
"""
BODY = b'{"inputs": ["abc"]}'
REQUEST = (
    b"POST /predict HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
    + BODY
)


async def client(ports: list[int], until: float, stats: dict[str, int]) -> None:
    reader = writer = None
    while time.monotonic() < until:
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", random.choice(ports))
            stats["connections"] += 1
        writer.write(REQUEST)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            writer = None
            stats["dropped"] += 1
            continue
        length, close = 0, False
        for line in head.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line[15:])
            close = close or line == b"connection: close"
        await reader.readexactly(length)
        stats[head[9:12].decode()] = stats.get(head[9:12].decode(), 0) + 1
        if close:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


def run(ports: list[int], clients: int, seconds: float) -> dict[str, int]:
    stats = {"connections": 0, "dropped": 0}

    async def go() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(client(ports, until, stats) for _ in range(clients)))

    asyncio.run(go())
    return stats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "sleepy"
        (project / "weights").mkdir(parents=True)
        (project / "weights" / "none.txt").write_text("-")
        (project / "model.py").write_text(MODEL)
        (project / "profile.yaml").write_text(SLEEPY_PROFILE.format(batching=""))
        app = render(decide(load_profile(project / "profile.yaml")), Path(tmp) / "build", Target.kubernetes) / "app"
        replicas = [Running(app, project / "weights", CONCURRENCY="4", QUEUE_DEPTH="4") for _ in range(args.replicas)]
        try:
            ports = [r.port for r in replicas]
            run(ports, 4, 1)  # warm up
            few = run(ports, 4, args.seconds)
            many = run(ports, 50, args.seconds)
        finally:
            for r in replicas:
                r.stop()
    for label, stats in (("4 clients", few), ("50 clients", many)):
        total = sum(v for k, v in stats.items() if k.isdigit())
        print(
            f"  {label}: {stats.get('200', 0) / args.seconds:,.0f} successful requests/s, "
            f"{stats.get('503', 0) / max(1, total):.0%} 503, {stats['connections']} connections opened, "
            f"{stats['dropped']} dropped"
        )
    ratio = many.get("200", 0) / max(1, few.get("200", 0))
    print(
        f"  50 clients keep {ratio:.0%} of the 4-client throughput (target >= 80 %: {'met' if ratio >= 0.8 else 'MISSED'})"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
