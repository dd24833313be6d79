"""The vLLM preset: the pinned release, its flags, and the image's user."""

from __future__ import annotations

import json

import pytest

from stacks.errors import ProfileError
from stacks.profile.loader import load_profile
from stacks.profile.vllm_args import FLAGS_FILE, VLLM_VERSION, flags, render

LLM = """\
name: chat
target: kubernetes
model:
  preset: vllm
  weights: s3://acme-models/llm/
  weights_gb: 16
  memory_gb: 64
  gpu: required
  accelerator: A100-80GB:1
  args:
    model: meta-llama/Llama-3.1-8B-Instruct
{extra}sla: {{p99_latency_ms: 4000, cold_start_budget_ms: 2000, timeout_s: 120}}
utilization: {{avg_rps: 5, peak_rps: 12, active_hours_per_day: 24, inference_ms: 1500}}
"""


def test_the_flag_list_is_the_pinned_releases_with_its_provenance():
    doc = json.loads(FLAGS_FILE.read_text())
    assert doc["vllm_version"] == VLLM_VERSION
    assert doc["provenance"]["wheel"] == f"vllm-{VLLM_VERSION}-cp38-abi3-manylinux_2_28_x86_64.whl"
    assert len(doc["provenance"]["sha256"]) == 64
    f = flags()
    # graceful drain and the flags the program sets exist in this release
    assert f["--shutdown-timeout"] == "value" and f["--gpu-memory-utilization"] == "value"
    assert f["--enforce-eager"] == "boolean" and f["--enable-prefix-caching"] == "boolean"


def test_booleans_render_as_flag_and_no_flag():
    assert render({"model": "x", "enforce_eager": True, "enable_prefix_caching": False, "max_model_len": 8192}) == [
        "--enable-prefix-caching".replace("--", "--no-"),
        "--enforce-eager",
        "--max-model-len",
        "8192",
    ]


def test_a_valid_preset_loads(write_profile):
    extra = "    enforce_eager: true\n    max-model-len: 8192\n"
    assert load_profile(write_profile(LLM.format(extra=extra))).profile.model.args["enforce_eager"] is True


@pytest.mark.parametrize(
    ("extra", "line", "message", "hint"),
    [
        (
            "    max_model_length: 8192\n",
            12,
            "vLLM 0.33.0 has no flag --max-model-length",
            "did you mean 'max_model_len'?",
        ),
        ("    enforce_eager: 'yes'\n", 12, "--enforce-eager is a boolean flag (got 'yes')", None),
        ("    max_model_len: true\n", 12, "--max-model-len takes a value, not true", None),
        ("    gpu_memory_utilization: 0.5\n", 12, "'gpu_memory_utilization' is set by Switchyard", None),
    ],
)
def test_a_flag_vllm_would_refuse_is_a_located_validation_error(write_profile, extra, line, message, hint):
    with pytest.raises(ProfileError) as err:
        load_profile(write_profile(LLM.format(extra=extra)))
    (problem,) = err.value.problems
    assert problem.line == line and problem.path.startswith("model.args.")
    assert message in problem.message
    if hint:
        assert problem.hint == hint


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ("    uds: /tmp/vllm.sock\n", "the container port"),  # no TCP listener: probes and the Service find nothing
        ("    ssl_keyfile: /certs/key.pem\n", "plain HTTP"),  # HTTPS: the HTTP probes never pass
        ("    ssl_certfile: /certs/cert.pem\n", "plain HTTP"),
        ("    root_path: /llm\n", "plain HTTP"),
        ("    pipeline_parallel_size: 2\n", "model.accelerator's GPU count"),  # more GPUs than the pod requests
        ("    data_parallel_size: 2\n", "model.accelerator's GPU count"),
        ("    headless: true\n", "the container port"),  # no API server at all
    ],
)
def test_flags_that_would_keep_the_pod_from_serving_are_refused(write_profile, extra, why):
    """Each of these parses, then leaves the Deployment that Switchyard generates unable to serve:
    nothing listening where the probes, the Service and the PodMonitor look, or a parallel layout
    needing more GPUs than the pod requests (vLLM waits for them forever)."""
    with pytest.raises(ProfileError) as err:
        load_profile(write_profile(LLM.format(extra=extra)))
    (problem,) = err.value.problems
    assert "is set by Switchyard" in problem.message and why in problem.message
