"""The Kubernetes model server under keep-alive load, and dynamic batching on a slow model.

    python bench/server_load.py [--clients 50] [--requests 2000]

1. Sentiment (the example model, copied into a temporary project): the server rendered from its
   profile, 50 keep-alive clients x 2,000 requests each on loopback. Reports throughput and the
   latency distribution, and the per-request overhead over predict() measured with one client
   (p50 round trip minus p50 of predict() alone on the same input). With 50 clients the latency is
   set by queueing (Little's law: 50 / throughput), so the overhead is measured without it.
   Targets: overhead p50 <= 1 ms; throughput >= 3 x 1,086 requests/s (the http.server baseline).
   The example profile says inference takes 80 ms while predict() takes microseconds, so its
   queue bound (p99 / inference_ms = 3 waiting) would shed most of 50 clients: the run sets
   QUEUE_DEPTH=64 to measure serving, not shedding.
2. A model that sleeps 20 ms per predict() call whatever the batch size, 50 keep-alive clients,
   concurrency 1 (the sizing's for custom models): throughput without batching and with
   `model.batching: {max_size: 32, max_wait_ms: 5}`.

The load generator is one asyncio process; the server is another. On a shared 2-core machine
both compete with each other and with anything else running: read the numbers with that in mind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stacks.packaging import render  # noqa: E402
from stacks.profile import Target  # noqa: E402
from stacks.profile.loader import load_profile  # noqa: E402
from stacks.targets import decide  # noqa: E402

BASELINE_RPS = 1086
INPUT = "the delivery was late but support was helpful"
SLEEPY_MODEL = """import time


def load(weights_dir):
    return None


def predict(model, inputs):
    time.sleep(0.02)  # one call costs 20 ms whatever the batch: a GPU-like model
    return [len(str(x)) for x in inputs]
"""
SLEEPY_PROFILE = """name: sleepy
model:
  entrypoint: model.py
  weights: weights/
  weights_gb: 0.001
  memory_gb: 1
{batching}sla:
  p99_latency_ms: 2000
  cold_start_budget_ms: 60000
  mode: sync
  timeout_s: 30
utilization:
  avg_rps: 10
  peak_rps: 100
  active_hours_per_day: 24
  inference_ms: 20
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


class Running:
    def __init__(self, app: Path, weights: Path, **env: str) -> None:
        self.port = free_port()
        environ = {
            **os.environ,
            "PORT": str(self.port),
            "HEALTH_PORT": str(free_port()),
            "WEIGHTS_DIR": str(weights),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.proc = subprocess.Popen([sys.executable, "server.py"], cwd=app, env=environ, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the server did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


async def _client(port: int, body: bytes, n: int, latencies: list[float], codes: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = (
        b"POST /predict HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    for _ in range(n):
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        code = int(head[9:12])
        codes[code] = codes.get(code, 0) + 1
    writer.close()


def load(port: int, body: bytes, clients: int, requests: int) -> dict:
    latencies: list[float] = []
    codes: dict[int, int] = {}

    async def go() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(_client(port, body, requests, latencies, codes) for _ in range(clients)))
        return time.perf_counter() - started

    try:
        import uvloop

        elapsed = uvloop.run(go())
    except ImportError:
        elapsed = asyncio.run(go())
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "codes": codes,
    }


def predict_alone_p50_ms(model_dir: Path, weights: Path, inputs: list, n: int = 5000) -> float:
    code = (
        "import importlib.util, json, sys, time\n"
        f"spec = importlib.util.spec_from_file_location('m', {str(model_dir / 'model.py')!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"model = m.load({str(weights)!r}); inputs = {inputs!r}; ts = []\n"
        f"for _ in range({n}):\n"
        "    t = time.perf_counter(); m.predict(model, inputs); ts.append(time.perf_counter() - t)\n"
        "ts.sort(); print(ts[len(ts) // 2] * 1000)\n"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def sentiment(tmp: Path, clients: int, requests: int) -> None:
    profiles = tmp / "profiles"
    shutil.copytree(ROOT / "profiles" / "models", profiles / "models")
    shutil.copy(ROOT / "profiles" / "sentiment-api.yaml", profiles / "sentiment-api.yaml")
    app = render(decide(load_profile(profiles / "sentiment-api.yaml")), tmp / "build", Target.kubernetes) / "app"
    weights = profiles / "models" / "sentiment" / "weights"
    body = json.dumps({"inputs": [INPUT]}).encode()
    direct = predict_alone_p50_ms(profiles / "models" / "sentiment", weights, [INPUT])
    server = Running(app, weights, QUEUE_DEPTH="64")
    try:
        load(server.port, body, 4, 500)  # warm up
        one = load(server.port, body, 1, 3000)
        many = load(server.port, body, clients, requests)
    finally:
        server.stop()
    overhead = one["p50_ms"] - direct
    print(f"sentiment, predict() alone p50 {direct:.3f} ms")
    print(
        f"  1 keep-alive client:  p50 {one['p50_ms']:.3f} ms, overhead p50 {overhead:.3f} ms "
        f"(target <= 1 ms: {'met' if overhead <= 1 else 'MISSED'})"
    )
    print(
        f"  {clients} keep-alive clients x {requests}: {many['rps']:,.0f} requests/s "
        f"(target >= {3 * BASELINE_RPS:,}: {'met' if many['rps'] >= 3 * BASELINE_RPS else 'MISSED'}), "
        f"p50 {many['p50_ms']:.2f} ms, p99 {many['p99_ms']:.2f} ms, status codes {many['codes']}"
    )


def batching(tmp: Path, clients: int) -> None:
    results = {}
    for label, batching in (("off", ""), ("on", "  batching: {max_size: 32, max_wait_ms: 5}\n")):
        project = tmp / f"sleepy-{label}"
        (project / "weights").mkdir(parents=True)
        (project / "weights" / "none.txt").write_text("-")
        (project / "model.py").write_text(SLEEPY_MODEL)
        (project / "profile.yaml").write_text(SLEEPY_PROFILE.format(batching=batching))
        app = render(decide(load_profile(project / "profile.yaml")), tmp / f"build-{label}", Target.kubernetes) / "app"
        server = Running(app, project / "weights", QUEUE_DEPTH=str(clients))
        try:
            results[label] = load(server.port, b'{"inputs": ["abc"]}', clients, 40 if label == "off" else 400)
        finally:
            server.stop()
    for label, r in results.items():
        print(
            f"  batching {label:>3}: {r['rps']:,.0f} requests/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
            f"status codes {r['codes']}"
        )
    print(f"  batching speed-up: {results['on']['rps'] / results['off']['rps']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        sentiment(Path(tmp), args.clients, args.requests)
        print(f"sleeping model (20 ms per predict() call), {args.clients} keep-alive clients, concurrency 1:")
        batching(Path(tmp), args.clients)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
