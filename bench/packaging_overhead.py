"""Overhead of the rendered serving code over calling the model's predict directly.

    python bench/packaging_overhead.py [--requests N]

Renders the example sentiment-api for both targets into a temporary directory, then measures:
  - init overhead: importing and setting up the rendered handler / server, minus the model's own
    load (importing the user's module and running its load()), in a fresh process each time;
  - per-request overhead: p50 and p99 of (handler or HTTP round trip) minus predict() alone.
Targets on a 2-core machine: init overhead < 150 ms; handler p50 per-request overhead < 1 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
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

PROFILE = ROOT / "tests" / "fixtures" / "profiles" / "sentiment-api.yaml"  # never profiles/: the user's
QUEUE_PROFILE = PROFILE.parent / "nightly-embeddings.yaml"  # async: the handler also loads the batch utilities
WEIGHTS = PROFILE.parent / "models" / "sentiment" / "weights"
INPUTS = ["I love this, great and fast", "awful slow service", "the delivery was late but support was helpful"]
RUNS = 7

HANDLER_INIT = """
import time
t0 = time.perf_counter()
import handler
total = time.perf_counter() - t0
print(total - handler.RUNNER.load_seconds)
"""
SERVER_INIT = """
import time
t0 = time.perf_counter()
import server
app = server.APP  # the ASGI app, built at import
print(time.perf_counter() - t0)
"""
HANDLER_REQUESTS = """
import json, sys, time
import handler
inputs = json.loads(sys.argv[1]); n = int(sys.argv[2])
event = {"version": "2.0", "requestContext": {"http": {"method": "POST"}}, "body": json.dumps({"inputs": inputs}),
         "isBase64Encoded": False}
class Ctx:  # what the Lambda runtime passes; Powertools' logger reads these
    function_name = "bench"; function_version = "1"; memory_limit_in_mb = 2048; aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench:live"
ctx = Ctx()
direct, full = [], []
for _ in range(200):
    handler.handler(event, ctx); handler.RUNNER.predict(inputs)
for _ in range(n):
    t = time.perf_counter(); handler.RUNNER.predict(inputs); direct.append(time.perf_counter() - t)
    t = time.perf_counter(); handler.handler(event, ctx); full.append(time.perf_counter() - t)
print(json.dumps({"direct": direct, "full": full}))
"""


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _python(code: str, cwd: Path, *args: str) -> str:
    env = {**os.environ, "WEIGHTS_DIR": str(WEIGHTS)}
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    n = parser.parse_args().requests
    w = decide(load_profile(PROFILE))
    with tempfile.TemporaryDirectory() as tmp:
        lam = render(w, Path(tmp) / "lambda", Target.serverless) / "app"
        k8s = render(w, Path(tmp) / "k8s", Target.kubernetes) / "app"
        handler_init = statistics.median(float(_python(HANDLER_INIT, lam)) for _ in range(RUNS)) * 1000
        queue_lam = render(decide(load_profile(QUEUE_PROFILE)), Path(tmp) / "queue", Target.serverless) / "app"
        queue_init = statistics.median(float(_python(HANDLER_INIT, queue_lam)) for _ in range(RUNS)) * 1000
        server_init = statistics.median(float(_python(SERVER_INIT, k8s)) for _ in range(RUNS)) * 1000
        # the last line: the handler prints its EMF metric documents before it
        timings = json.loads(_python(HANDLER_REQUESTS, lam, json.dumps(INPUTS), str(n)).splitlines()[-1])
        over = [f - d for f, d in zip(timings["full"], timings["direct"], strict=True)]
        handler_p50, handler_p99 = _percentile(over, 0.5) * 1000, _percentile(over, 0.99) * 1000
        direct_p50 = _percentile(timings["direct"], 0.5) * 1000

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            health_port = s.getsockname()[1]
        env = {
            **os.environ,
            "WEIGHTS_DIR": str(WEIGHTS),
            "PORT": str(port),
            "HEALTH_PORT": str(health_port),
            "LOG_LEVEL": "WARNING",
        }
        proc = subprocess.Popen([sys.executable, "server.py"], cwd=k8s, env=env, stdout=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if urllib.request.urlopen(f"{url}/readyz", timeout=1).status == 200:
                        break
                except OSError:
                    time.sleep(0.05)
            body = json.dumps({"inputs": INPUTS}).encode()
            rtts = []
            for i in range(min(n, 1000) + 100):
                req = urllib.request.Request(f"{url}/predict", data=body, headers={"content-type": "application/json"})
                t = time.perf_counter()
                urllib.request.urlopen(req, timeout=5).read()
                if i >= 100:
                    rtts.append(time.perf_counter() - t)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
        server_p50 = (_percentile(rtts, 0.5) - _percentile(timings["direct"], 0.5)) * 1000

    rows = [
        ("handler init overhead (median of 7 processes)", handler_init, 150),
        ("handler init overhead, queue workload (median of 7)", queue_init, 150),
        ("server init overhead (median of 7 processes)", server_init, 150),
        ("handler per-request overhead p50", handler_p50, 1),
        ("handler per-request overhead p99", handler_p99, None),
        ("server per-request overhead p50 (HTTP on loopback, new connection each)", server_p50, None),
    ]
    print(f"predict() alone p50: {direct_p50:.3f} ms for a batch of {len(INPUTS)}")
    for label, ms, target in rows:
        verdict = "" if target is None else (f"  target < {target} ms: " + ("met" if ms < target else "MISSED"))
        print(f"{label:<75} {ms:8.3f} ms{verdict}")


if __name__ == "__main__":
    main()
