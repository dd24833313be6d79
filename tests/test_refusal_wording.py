"""Every reason that rules out hybrid or managed-instances describes the workload as it is: CPU or
GPU, its mode, the number that decided, and what the target allows. A red team found `target: hybrid`
on a CPU workload refused as "a steady synchronous GPU load"."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from stacks.errors import DecisionError
from stacks.profile import Gpu, Target
from stacks.profile.loader import load_profile
from stacks.targets import decide
from tests.cli_helpers import switchyard
from tests.conftest import FIXTURES

STEADY = ("steady_cpu", "steady-scoring", "target: managed-instances")
TAGGING = ("hybrid", "image-tagging", "target: hybrid")
LLM = ("profiles", "llm-chat", "target: auto")

# (fixture, edits): each one fires some of the two targets' limits
CASES = {
    "cpu-both": (STEADY, {}),
    "cpu-sync-url": (STEADY, {"  mode: both\n  endpoint: http_api\n": "  mode: sync\n"}),
    "cpu-memory": (STEADY, {"memory_gb: 2\n": "memory_gb: 40\n"}),
    "cpu-image": (STEADY, {"image_gb: 1.5\n": "image_gb: 12\n"}),
    "cpu-timeout": (
        STEADY,
        {"  mode: both\n  endpoint: http_api\n  timeout_s: 10\n": "  mode: async\n  timeout_s: 1200\n"},
    ),
    "gpu-async": (TAGGING, {}),
    "gpu-sync": (TAGGING, {"  mode: async\n": "  mode: sync\n"}),
    "vllm-sync": (LLM, {}),
}


def profile(dest: Path, case: str) -> Path:
    (fixture, name, target), edits = CASES[case]
    profiles = dest / case
    shutil.copytree(FIXTURES / fixture, profiles)
    path = profiles / f"{name}.yaml"
    text = path.read_text(encoding="utf-8").replace(f"\n{target}\n", "\ntarget: auto\n")
    for old, new in edits.items():
        assert old in text, (case, old)
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def fired(w, target: Target):
    return [r for r in w.decision.option(target).hard_limits]


def assert_describes(detail: str, p) -> None:
    if p.model.gpu is Gpu.required:
        assert "GPU" in detail and (p.model.accelerator or "GPU") in detail, detail
    else:
        assert "GPU" not in detail and "CPU" in detail, detail
    assert f"mode {p.sla.mode.value}" in detail, detail
    assert f"{p.utilization.avg_rps:g} rps" in detail, detail
    assert re.search(r"\ballows\b", detail), detail


@pytest.mark.parametrize("case", list(CASES))
def test_every_hybrid_and_managed_instances_limit_describes_the_workload(tmp_path, case):
    w = decide(load_profile(profile(tmp_path, case)))
    found = fired(w, Target.hybrid) + fired(w, Target.managed_instances)
    assert found, case  # each case rules out at least one of the two
    for r in found:
        assert_describes(r.detail, w.profile)


def test_each_case_fires_what_it_is_meant_to(tmp_path):
    expect = {
        "cpu-both": ({"limit.async_only"}, set()),
        "cpu-sync-url": ({"limit.async_only"}, {"limit.endpoint"}),
        "cpu-memory": ({"limit.async_only"}, {"limit.memory"}),
        "cpu-image": ({"limit.async_only"}, {"limit.image"}),
        "cpu-timeout": (set(), {"limit.timeout"}),
        "gpu-async": (set(), {"limit.gpu", "limit.weights"}),
        "vllm-sync": ({"limit.async_only", "limit.sqs_worker"}, {"limit.gpu", "limit.memory", "limit.image"}),
    }
    for case, (hybrid, lmi) in expect.items():
        w = decide(load_profile(profile(tmp_path, case)))
        assert {r.rule for r in fired(w, Target.hybrid)} == hybrid, case
        assert lmi <= {r.rule for r in fired(w, Target.managed_instances)}, case


def test_a_cpu_workload_refused_by_hybrid_is_called_what_it_is(tmp_path):
    path = profile(tmp_path, "cpu-both")
    path.write_text(path.read_text(encoding="utf-8").replace("\ntarget: auto\n", "\ntarget: hybrid\n"))
    with pytest.raises(DecisionError) as err:
        decide(load_profile(path))
    text = str(err.value)
    assert "GPU" not in text and "a CPU model" in text and "mode both" in text
    assert "hybrid allows sla.mode: async" in text and "Allowed: target:" in text
    r = switchyard("plan", str(path.parent), cwd=tmp_path)
    assert r.returncode != 0 and "GPU" not in r.stderr and "hybrid allows sla.mode: async" in r.stderr


def test_a_gpu_workload_refused_by_managed_instances_says_so_and_where_it_runs(tmp_path):
    path = profile(tmp_path, "gpu-sync")
    path.write_text(path.read_text(encoding="utf-8").replace("\ntarget: auto\n", "\ntarget: managed-instances\n"))
    with pytest.raises(DecisionError) as err:
        decide(load_profile(path))
    text = str(err.value)
    assert "a GPU model (L4:1)" in text and "mode sync" in text and "8 rps" in text
    assert "managed-instances allows gpu: none or optional" in text and "aws-cdk-lib 2.278" in text
