"""One GPU sharing mode per cluster: plan (not only synth) refuses a profile whose override disagrees
with platform.yaml, and names that profile, whichever file comes first."""

from __future__ import annotations

import contextlib
import io

from stacks import cli
from tests.conftest import copy_profiles

OVERRIDE = ("target: auto\n", "target: auto\noverrides:\n  platform:\n    gpu_sharing: mig\n")


def _plan(profiles) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["plan", str(profiles)])
    return code, err.getvalue()


def test_plan_refuses_a_profile_that_overrides_the_clusters_gpu_sharing(tmp_path):
    profiles = copy_profiles(tmp_path, edit={"llm-chat": OVERRIDE})
    (profiles / "platform.yaml").write_text("platform:\n  gpu_sharing: time-slicing\n", encoding="utf-8")
    # a second GPU workload, alphabetically after the one with the override, that follows platform.yaml
    text = (profiles / "llm-chat.yaml").read_text(encoding="utf-8").replace(OVERRIDE[1], OVERRIDE[0])
    (profiles / "llm-zz.yaml").write_text(text.replace("name: llm-chat", "name: llm-zz"), encoding="utf-8")

    code, err = _plan(profiles)

    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {profiles / 'llm-chat.yaml'}: overrides.platform: gpu_sharing=mig, "
        "time_slicing_replicas=4, mig_strategy=single disagrees with the cluster's "
        "gpu_sharing=time-slicing, time_slicing_replicas=4, mig_strategy=single"
    ], err


def test_an_override_that_agrees_with_platform_yaml_plans(tmp_path):
    profiles = copy_profiles(tmp_path, edit={"llm-chat": OVERRIDE})
    (profiles / "platform.yaml").write_text("platform:\n  gpu_sharing: mig\n", encoding="utf-8")
    code, err = _plan(profiles)
    assert code == 0, err


TIME_SLICING = "platform:\n  gpu_sharing: time-slicing\n  time_slicing_replicas: 4\n"


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(("error:", "    allowed:"))]


def test_a_multi_gpu_model_under_time_slicing_is_refused_at_plan_time_not_left_pending(tmp_path):
    """The operator time-slices every node (GFD: <product>-SHARED): a 2-GPU pod would never schedule."""
    profiles = copy_profiles(tmp_path, edit={"llm-chat": ("A100-80GB:1", "A100-80GB:2")})
    (profiles / "platform.yaml").write_text(TIME_SLICING, encoding="utf-8")
    code, err = _plan(profiles)
    assert code != 0 and "Traceback" not in err, err
    line = next(n for n, t in enumerate((profiles / "llm-chat.yaml").read_text().splitlines(), 1) if "accelerator" in t)
    first, allowed = _errors(err)[:2]
    assert first.startswith(
        f"error: {profiles / 'llm-chat.yaml'}:{line}: model.accelerator: llm-chat needs 2 x A100-80GB"
    )
    assert "time-slicing" in first and "never schedules" in first
    assert "mig" in allowed and "none" in allowed


def test_a_time_sliced_share_smaller_than_the_model_is_an_error_not_a_warning(tmp_path):
    # 18 GB of weights x 1.2 = 21.6 GB; a quarter of an 80 GB A100 is 20 GB
    profiles = copy_profiles(tmp_path, edit={"llm-chat": ("weights_gb: 16", "weights_gb: 18")})
    (profiles / "platform.yaml").write_text(TIME_SLICING, encoding="utf-8")
    code, err = _plan(profiles)
    assert code != 0, err
    first = _errors(err)[0]
    assert "model.weights_gb: time-slicing shares one A100-80GB (80 GB) between 4 replicas, 20 GB each" in first
    assert "needs ~21.6 GB" in first


def test_vllm_gets_the_memory_the_plan_counted_within_its_time_sliced_share(tmp_path):
    """16 GB of weights need 19.2 GB; 90 % of a 20 GB share (0.225 of the GPU) would give vLLM 18 GB."""
    from stacks.packaging import spec_for
    from stacks.profile import Target
    from stacks.workloads import load_all

    profiles = copy_profiles(tmp_path)
    (profiles / "platform.yaml").write_text(TIME_SLICING, encoding="utf-8")
    w = next(w for w in load_all([profiles]).workloads if w.name == "llm-chat")
    argv = spec_for(w, Target.kubernetes).vllm_argv
    fraction = float(argv[argv.index("--gpu-memory-utilization") + 1])
    assert 80 * fraction >= 16 * 1.2  # what the plan compares with the share
    assert fraction <= 0.25  # never more than the share: the other three replicas need theirs
