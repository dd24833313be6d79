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
