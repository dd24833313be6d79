"""The user's journey: `switchyard synth` as the main job, and target switches made visible."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from stacks.commands import lock
from stacks.workloads import load_all
from tests.cdk_helpers import synth
from tests.cli_helpers import switchyard
from tests.conftest import IN_PROCESS_CDK, copy_profiles
from tests.k8s_helpers import manifests

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), IN_PROCESS_CDK]


@pytest.fixture
def project(tmp_path):
    """A user's checkout: the example profiles (and their model) in a fresh directory."""
    copy_profiles(tmp_path)
    return tmp_path


def test_synth_builds_both_targets_in_one_process_and_summarises(project):
    r = switchyard("synth", "profiles", cwd=project)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [line.split("]")[0] + "]" for line in r.stderr.splitlines() if line.startswith("[")] == [
        "[1/4]",
        "[2/4]",
        "[3/4]",
        "[4/4]",
    ]
    summary = {line.split()[0]: line.split()[1:3] for line in r.stdout.splitlines()[1:5]}
    assert summary == {
        "fraud-scoring": ["kubernetes", "$585.98"],
        "llm-chat": ["kubernetes", "$2,631.97"],
        "nightly-embeddings": ["serverless", "$195.20"],
        "sentiment-api": ["serverless", "$21.43"],
    }
    for stack in ("Switchyard-Platform", "Switchyard-sentiment-api", "Switchyard-nightly-embeddings"):
        assert (project / "cdk.out" / f"{stack}.template.json").exists()
    for name in ("fraud-scoring", "llm-chat", "cluster-addons"):
        docs = list(yaml.safe_load_all((project / "k8s.out" / f"{name}.yaml").read_text()))
        assert docs
    for name in ("sentiment-api", "nightly-embeddings", "fraud-scoring", "llm-chat"):
        assert (project / "build" / name / "Dockerfile").exists()


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_one_bad_profile_is_reported_with_the_others_and_nothing_is_written(project):
    assert switchyard("synth", "profiles", cwd=project).returncode == 0
    before = {d: _tree(project / d) for d in ("cdk.out", "k8s.out", "build")}
    (project / "profiles" / "broken.yaml").write_text("name: broken\nmodel: {}\n")
    path = project / "profiles" / "llm-chat.yaml"
    path.write_text(path.read_text().replace("peak_rps: 12", "peak_rps: 48"))
    r = switchyard("synth", "profiles", cwd=project)
    assert r.returncode == 2
    rows = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines()[1:] if line.strip()}
    assert rows["broken"] == "FAILED" and rows["sentiment-api"] == "serverless"
    assert f"{Path('profiles') / 'broken.yaml'}:1: sla: required key is missing" in r.stderr
    assert "error: nothing written: cdk.out/, k8s.out/ and build/ are unchanged" in r.stderr
    assert "Traceback" not in r.stderr
    # outputs never mix old and new: the llm-chat edit is not half-applied, nothing was pruned
    assert {d: _tree(project / d) for d in ("cdk.out", "k8s.out", "build")} == before
    assert not [p.name for p in project.iterdir() if p.name.startswith(".")]


def test_outputs_follow_removed_and_moved_workloads(project):
    assert switchyard("synth", "profiles", cwd=project).returncode == 0
    (project / "profiles" / "llm-chat.yaml").unlink()
    path = project / "profiles" / "sentiment-api.yaml"
    path.write_text(path.read_text().replace("target: auto", "target: kubernetes"))
    r = switchyard("synth", "profiles", cwd=project)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (project / "k8s.out").iterdir()) == [
        "cluster-addons.yaml",
        "fraud-scoring.yaml",
        "sentiment-api.yaml",
    ]
    templates = sorted(p.name for p in (project / "cdk.out").glob("*.template.json"))
    assert templates == ["Switchyard-Platform.template.json", "Switchyard-nightly-embeddings.template.json"]
    manifest = json.loads((project / "cdk.out" / "manifest.json").read_text())
    assert "Switchyard-sentiment-api" not in manifest["artifacts"]  # `cdk deploy` cannot pick up a stale stack
    assert sorted(p.name for p in (project / "build").iterdir()) == [
        "fraud-scoring",
        "nightly-embeddings",
        "sentiment-api",
    ]
    assert "FROM python:" in (project / "build" / "sentiment-api" / "Dockerfile").read_text()  # the kubernetes image
    assert not [p.name for p in project.iterdir() if p.name.startswith(".")]  # no staging debris

    # one file at a time keeps the other workloads' outputs
    path.write_text(path.read_text().replace("target: kubernetes", "target: auto"))
    assert switchyard("synth", "profiles/sentiment-api.yaml", cwd=project).returncode == 0
    assert sorted(p.name for p in (project / "k8s.out").iterdir()) == ["cluster-addons.yaml", "fraud-scoring.yaml"]
    assert (project / "build" / "fraud-scoring" / "Dockerfile").exists()


def test_a_target_switch_shows_in_the_plan_and_moves_between_programs(project):
    profiles = project / "profiles"
    assert switchyard("plan", "--write-lock", "profiles", cwd=project).returncode == 0
    assert switchyard("plan", "--check", "profiles", cwd=project).returncode == 0

    path = profiles / "sentiment-api.yaml"
    path.write_text(path.read_text().replace("target: auto", "target: kubernetes"))
    r = switchyard("plan", "--json", "profiles", cwd=project)
    changes = json.loads(r.stdout)["changes"]
    assert [(c["name"], c["kind"], c["detail"]) for c in changes] == [
        # the move's cost: the reviewed serverless cost against the kubernetes cost now
        ("sentiment-api", "target", "target serverless -> kubernetes ($21.43 -> $116.91/month, +$95.48)")
    ]
    steps = changes[0]["runbook"]
    assert steps[0].startswith("1. deploy the new target's cluster part: pulumi up")
    assert "kubectl -n ml-sentiment-api rollout status deployment/sentiment-api" in steps[1]
    removal = next(s for s in steps if "remove the old target" in s)
    assert "aws cloudformation delete-stack --stack-name Switchyard-sentiment-api" in removal
    assert steps.index(removal) > 2 and steps[-1].endswith("switchyard smoke sentiment-api")
    assert switchyard("plan", "--check", "profiles", cwd=project).returncode == 5

    # ...and each target's program gained or lost the workload.
    stacks = {s.stack_name for s in synth(profiles, project / "b1", project / "o1").stacks}
    assert "Switchyard-sentiment-api" not in stacks
    assert "sentiment-api" in manifests(profiles, project / "b2")

    # the way back prints the reverse runbook
    assert switchyard("plan", "--write-lock", "profiles", cwd=project).returncode == 0
    path.write_text(path.read_text().replace("target: kubernetes", "target: auto"))
    text = switchyard("plan", "profiles", cwd=project).stdout
    assert "Runbook: move sentiment-api from kubernetes to serverless" in text
    assert "1. deploy the new target's AWS part: npx cdk deploy Switchyard-Platform Switchyard-sentiment-api" in text
    assert re.search(r"\n  \d+\. remove the old target's cluster part: pulumi up", text)
    moved = text.split("Runbook: move sentiment-api")[1]
    assert "move producers" not in moved and "dead letters:" not in moved  # mode sync: no message to move


def test_sizing_and_cost_changes_are_listed(project):
    locked = json.loads(lock.render(load_all([project / "profiles"]).workloads))["workloads"]
    path = project / "profiles" / "sentiment-api.yaml"
    path.write_text(
        path.read_text().replace("  avg_rps: 2", "  avg_rps: 4").replace("  peak_rps: 40", "  peak_rps: 80")
    )
    changes = lock.diff(locked, load_all([project / "profiles"]).workloads)
    assert [c.detail for c in changes] == [
        "serverless sizing: reserved_concurrency 7 -> 13, provisioned_max 5 -> 10",
        # twice the requests: duration on the provisioned $3.41 -> $6.81, requests $0.44 -> $0.88,
        # X-Ray (1 + 5 % of 3)/s $5.75 -> $6.30, logs $0.61 -> $1.22 (the image, 3 versions, unchanged)
        "serverless cost $21.43 -> $26.43/month",
    ]


def test_a_corrupt_lock_is_a_clear_error(project):
    (project / "profiles" / "plan.lock.json").write_text("{")
    r = switchyard("plan", "profiles", cwd=project)
    assert r.returncode == 1
    assert "plan.lock.json: not valid JSON" in r.stderr and "Traceback" not in r.stderr


def test_removals_are_reported_only_when_a_whole_directory_is_planned(project):
    assert switchyard("plan", "--write-lock", "profiles", cwd=project).returncode == 0
    (project / "profiles" / "llm-chat.yaml").unlink()
    whole = json.loads(switchyard("plan", "--json", "profiles", cwd=project).stdout)["changes"]
    assert [(c["name"], c["kind"], c["detail"]) for c in whole] == [
        ("llm-chat", "removed", "no longer planned (was kubernetes)")
    ]
    one = json.loads(switchyard("plan", "--json", "profiles/sentiment-api.yaml", cwd=project).stdout)["changes"]
    assert one == []
