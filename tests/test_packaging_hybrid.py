"""The hybrid worker's build context: the Kubernetes image running the SQS worker, with boto3."""

from __future__ import annotations

import json

import pytest

from stacks.errors import RenderError
from stacks.packaging import HYBRID_WORKER, hybrid_worker_spec, render
from stacks.targets.kubernetes import kubernetes_sizing
from tests.conftest import PROFILES
from tests.packaging_helpers import SLOW_PROFILE, workload


def test_the_worker_image_runs_the_sqs_worker_with_its_config(tmp_path):
    w = workload(SLOW_PROFILE)
    context = render(w, tmp_path, spec=hybrid_worker_spec(w))
    dockerfile = (context / "Dockerfile").read_text()
    assert dockerfile.splitlines()[0].endswith("(hybrid, cpu): do not edit by hand.")
    assert 'CMD ["python3", "sqs_worker.py"]' in dockerfile
    assert "EXPOSE 8081\n" in dockerfile  # probes and metrics only: the work arrives from SQS
    assert "/readyz" in dockerfile  # the HEALTHCHECK reads the worker's readiness
    requirements = (context / "requirements.txt").read_text().splitlines()
    assert {"boto3==1.44.8", "prometheus-client==0.26.0"} <= set(requirements)
    assert not any(r.startswith(("uvicorn", "redis")) for r in requirements)  # no HTTP server, no Redis
    assert (context / "app" / "sqs_worker.py").read_text() == HYBRID_WORKER.read_text()
    assert not (context / "app" / "server.py").exists()
    config = json.loads((context / "app" / "worker_config.json").read_text())
    profile = w.profile
    assert config["timeout_s"] == config["drain_s"] == config["stuck_after_s"] == profile.sla.timeout_s
    assert config["concurrency"] == kubernetes_sizing(w).replica_concurrency
    assert config["visibility_timeout_s"] == 0 and config["max_receive_count"] == 0  # read from the queue
    assert (context / "app" / "user_model" / "model.py").exists()


def test_a_vllm_model_has_no_hybrid_worker():
    with pytest.raises(RenderError, match="vllm has no SQS worker"):
        hybrid_worker_spec(workload(PROFILES / "llm-chat.yaml"))
