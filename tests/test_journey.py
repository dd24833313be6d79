"""The user's journey: `switchyard synth` as the main job, and target switches made visible."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from stacks.commands import lock
from stacks.profile import Target
from stacks.targets.serverless import serverless_sizing
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
    # each workload's target and its bill as `switchyard plan` states them (tests/test_cost.py checks the
    # bills line by line; the serverless ones include what their simulated bursts sized)
    planned = {w.name: [w.target.value, f"${_bill(w):,.2f}"] for w in load_all([project / "profiles"]).workloads}
    assert summary == planned
    assert {name: target for name, (target, _) in summary.items()} == {
        "fraud-scoring": "kubernetes",
        "llm-chat": "kubernetes",
        "nightly-embeddings": "serverless",
        "sentiment-api": "serverless",
    }
    assert summary["fraud-scoring"][1] == "$585.98" and summary["llm-chat"][1] == "$2,631.97"
    for stack in ("Switchyard-Platform", "Switchyard-sentiment-api", "Switchyard-nightly-embeddings"):
        assert (project / "cdk.out" / f"{stack}.template.json").exists()
    for name in ("fraud-scoring", "llm-chat", "cluster-addons"):
        docs = list(yaml.safe_load_all((project / "k8s.out" / f"{name}.yaml").read_text()))
        assert docs
    for name in ("sentiment-api", "nightly-embeddings", "fraud-scoring", "llm-chat"):
        assert (project / "build" / name / "Dockerfile").exists()


def _bill(w, target: str | None = None) -> float:
    return w.decision.option(Target(target) if target else w.target).bill.total


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
    reviewed = next(w for w in load_all([profiles]).workloads if w.name == "sentiment-api")
    was = round(_bill(reviewed), 2)
    path.write_text(path.read_text().replace("target: auto", "target: kubernetes"))
    r = switchyard("plan", "--json", "profiles", cwd=project)
    changes = json.loads(r.stdout)["changes"]
    assert [(c["name"], c["kind"], c["detail"]) for c in changes] == [
        # the move's cost: the reviewed serverless cost against the kubernetes cost now
        (
            "sentiment-api",
            "target",
            f"target serverless -> kubernetes (${was:,.2f} -> $116.91/month, +${116.91 - was:,.2f})",
        )
    ]
    steps = changes[0]["runbook"]
    assert steps[0].startswith("1. deploy the new target's cluster part: pulumi up")
    assert "kubectl -n ml-sentiment-api rollout status deployment/sentiment-api" in steps[1]
    removal = next(s for s in steps if "remove the old target" in s)
    assert "aws cloudformation delete-stack --stack-name Switchyard-sentiment-api" in removal
    # run from the checkout: the default profiles/ needs no folder; a custom model needs an input
    smoke = "switchyard smoke sentiment-api --input '<one input your model accepts, as JSON>'"
    assert steps.index(removal) > 2 and steps[-1].endswith(smoke)
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
    before = load_all([project / "profiles"]).workloads
    locked = json.loads(lock.render(before))["workloads"]
    path = project / "profiles" / "sentiment-api.yaml"
    path.write_text(
        path.read_text().replace("  avg_rps: 2", "  avg_rps: 4").replace("  peak_rps: 40", "  peak_rps: 80")
    )
    after = load_all([project / "profiles"]).workloads
    changes = lock.diff(locked, after)
    old, new = (next(serverless_sizing(w) for w in ws if w.name == "sentiment-api") for ws in (before, after))
    cost = [round(_bill(next(w for w in ws if w.name == "sentiment-api")), 2) for ws in (before, after)]
    sizing, billed = (c.detail for c in changes)
    # the averages' ceiling follows the peak, 5 -> 10 (6.4 / 0.7); the doubled burst reaches more
    # environments (the reservation covers them) and may need a higher floor: each moved figure is listed
    assert sizing.startswith("serverless sizing: ") and "provisioned_max 5 -> 10" in sizing
    assert new.reserved_concurrency > old.reserved_concurrency
    assert f"reserved_concurrency {old.reserved_concurrency} -> {new.reserved_concurrency}" in sizing
    assert (f"provisioned_min {old.pc_min} -> {new.pc_min}" in sizing) == (new.pc_min != old.pc_min)
    # twice the requests (duration, requests, X-Ray, logs) and what the sizing holds: the bill rises
    assert cost[1] > cost[0] and billed == f"serverless cost ${cost[0]:,.2f} -> ${cost[1]:,.2f}/month"
    assert len(changes) == 2


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
