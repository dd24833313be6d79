"""Autoscaling for real: Prometheus scrapes the rendered server the way the generated PodMonitor
asks, load is driven, and the generated ScaledObject's own query, evaluated by Prometheus, is
turned into the replica count KEDA would set."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from stacks.k8s.settings import ClusterSettings
from tests.k8s_helpers import find, manifests
from tests.runtime_helpers import call, free_port, render_server, slow_profile, start_server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
PROMETHEUS = shutil.which("prometheus")
SCRAPE_S = 1


def scrape_config(pod_monitor: dict, pod_labels: dict, container: dict, address: str) -> dict:
    """The scrape job Prometheus Operator generates from a PodMonitor, for one pod at `address`.

    The operator discovers pods with kubernetes_sd, keeps those whose labels match the selector
    and whose container port is named like the endpoint's `port`, and labels their series with
    namespace, pod and container. Here the one pod is the server we started.
    """
    (endpoint,) = pod_monitor["spec"]["podMetricsEndpoints"]
    selector = pod_monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items(), "the PodMonitor does not select the workload's pods"
    assert endpoint["port"] in [p["name"] for p in container["ports"]], "no container port by that name"
    ns = pod_monitor["metadata"]["namespace"]
    return {
        "job_name": f"podMonitor/{ns}/{pod_monitor['metadata']['name']}/0",
        "scrape_interval": endpoint["interval"],
        "scrape_timeout": endpoint["scrapeTimeout"],
        "metrics_path": endpoint["path"],
        "static_configs": [
            {
                "targets": [address],
                "labels": {"namespace": ns, "pod": f"{ns}-7d9f8-x2x4q", "container": container["name"]},
            }
        ],
    }


def keda_replicas(so: dict, value: float | None, failures: int = 0) -> int:
    """What KEDA (through the HPA) sets for one trigger with metricType AverageValue.

    No value (the query failed or had no series, ignoreNullValues false) counts as a failure;
    after fallback.failureThreshold of them KEDA holds fallback.replicas.
    """
    spec = so["spec"]
    if value is None:
        fb = spec["fallback"]
        return fb["replicas"] if failures >= fb["failureThreshold"] else -1
    (trigger,) = [t for t in spec["triggers"] if t["type"] == "prometheus"]
    meta = trigger["metadata"]
    if spec["minReplicaCount"] == 0 and value <= float(meta["activationThreshold"]):
        return 0
    wanted = math.ceil(value / float(meta["threshold"]))
    return min(spec["maxReplicaCount"], max(spec["minReplicaCount"], wanted))


class Prometheus:
    def __init__(self, workdir: Path, scrape: dict) -> None:
        self.port = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {"global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": "1s"}, "scrape_configs": [scrape]}
            ),
            encoding="utf-8",
        )
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(workdir / "prometheus.log", "w"),  # noqa: SIM115
        )
        wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2).status == 200)

    def query(self, promql: str) -> float | None:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.load(r)
        assert doc["status"] == "success", doc
        result = doc["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def generated(tmp_path):
    """The slow model as a sync Kubernetes workload that peaks at 400 rps, through the Pulumi program."""
    profile = slow_profile(
        tmp_path / "profiles",
        {
            "name: slow-model\n": "name: slow-model\ntarget: kubernetes\n",
            "peak_rps: 2": "peak_rps: 400",
            "mode: both": "mode: sync",
        },
    )
    settings = ClusterSettings(scrape_interval_s=SCRAPE_S, prometheus_address="http://prometheus.test:9090")
    docs = manifests(profile.parent, tmp_path / "build", settings)["slow-model"]
    return profile, docs


def test_scaled_object_scales_up_under_load_back_to_min_when_idle_and_falls_back_without_signal(tmp_path, generated):
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (.ci/run installs it: apt-get install prometheus)")
    profile, docs = generated
    deployment = find(docs, "Deployment")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    so = find(docs, "ScaledObject")
    (trigger,) = so["spec"]["triggers"]
    query = trigger["metadata"]["query"]
    assert so["spec"]["pollingInterval"] >= SCRAPE_S

    server = start_server(render_server(profile, tmp_path / "run"), tmp_path / "server.log", QUEUE_DEPTH="64")
    prometheus = Prometheus(
        tmp_path,
        scrape_config(find(docs, "PodMonitor"), pod["metadata"]["labels"], container, f"127.0.0.1:{server.port}"),
    )
    try:
        wait_for(lambda: call(server.port, "/readyz")[0] == 200)
        low, high = so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]
        assert low >= 1 and high > low
        wait_for(lambda: prometheus.query(query) is not None, timeout=20)
        assert keda_replicas(so, prometheus.query(query)) == low  # idle: the minimum

        stop = threading.Event()

        def client() -> None:
            while not stop.is_set():
                call(server.port, "/predict", {"inputs": ["sleep:0.05"]})

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            # Four callers keep about four requests in a replica that serves one at a time.
            wait_for(lambda: (prometheus.query(query) or 0) > 2.5, timeout=30, interval=0.5)
            loaded = prometheus.query(query)
            assert loaded < 5, loaded
            assert keda_replicas(so, loaded) > low
        finally:
            stop.set()
            for t in threads:
                t.join()
        wait_for(lambda: keda_replicas(so, prometheus.query(query)) == low, timeout=30, interval=0.5)

        # The signal disappears (the pods' metrics are gone): KEDA holds the peak capacity.
        server.stop()
        wait_for(lambda: prometheus.query(query) is None, timeout=30, interval=0.5)
        assert keda_replicas(so, None, failures=1) == -1  # one failed read changes nothing yet
        assert keda_replicas(so, None, failures=3) == high
    finally:
        prometheus.stop()
        server.stop()
