"""The user-facing snapshot flow: a team's own profiles, reviewed outputs, one update command.

Runs the CLI's `main` on a copy of the fixture profiles, the way a team's repository and its CI do
(in this process: tests/cli_helpers.py; the console script itself runs at the end of `make test`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli_helpers import switchyard
from tests.conftest import IN_PROCESS_CDK, copy_profiles

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), IN_PROCESS_CDK]


def snapshots(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "profiles" / "__snapshots__").iterdir())


def test_add_remove_switch_then_one_update_makes_the_check_pass(tmp_path):
    profiles = copy_profiles(tmp_path)
    r = switchyard("snapshot", "--update", "profiles", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert snapshots(tmp_path) == [
        "_cluster-addons.kubernetes.yaml",
        "_platform.cloudformation.json",
        "fraud-scoring.kubernetes.yaml",
        "fraud-scoring.plan.json",
        "llm-chat.kubernetes.yaml",
        "llm-chat.plan.json",
        "nightly-embeddings.cloudformation.json",
        "nightly-embeddings.plan.json",
        "sentiment-api.cloudformation.json",
        "sentiment-api.plan.json",
    ]
    assert switchyard("snapshot", "profiles", cwd=tmp_path).returncode == 0

    # A team adds a workload, deletes one and switches one to the other target.
    text = (profiles / "sentiment-api.yaml").read_text()
    (profiles / "review-api.yaml").write_text(text.replace("name: sentiment-api", "name: review-api"))
    (profiles / "llm-chat.yaml").unlink()
    path = profiles / "nightly-embeddings.yaml"
    path.write_text(path.read_text().replace("target: auto", "target: kubernetes"))

    r = switchyard("snapshot", "--check", "profiles", cwd=tmp_path)
    assert r.returncode == 6
    folder = Path("profiles") / "__snapshots__"
    assert f"new: {folder / 'review-api.cloudformation.json'} (no reviewed snapshot yet)" in r.stdout
    assert f"new: {folder / 'nightly-embeddings.kubernetes.yaml'}" in r.stdout
    assert f"stale: {folder / 'llm-chat.kubernetes.yaml'}" in r.stdout
    assert f"stale: {folder / 'nightly-embeddings.cloudformation.json'}" in r.stdout
    assert "run `switchyard snapshot --update profiles`" in r.stderr
    assert "Traceback" not in r.stderr

    # The one documented update command, then everything CI runs passes.
    assert switchyard("snapshot", "--update", "profiles", cwd=tmp_path).returncode == 0
    assert snapshots(tmp_path) == [
        "_cluster-addons.kubernetes.yaml",
        "_platform.cloudformation.json",
        "fraud-scoring.kubernetes.yaml",
        "fraud-scoring.plan.json",
        "nightly-embeddings.kubernetes.yaml",
        "nightly-embeddings.plan.json",
        "review-api.cloudformation.json",
        "review-api.plan.json",
        "sentiment-api.cloudformation.json",
        "sentiment-api.plan.json",
    ]
    assert switchyard("snapshot", "--check", "profiles", cwd=tmp_path).returncode == 0
    assert switchyard("plan", "--check", "profiles", cwd=tmp_path).returncode == 0  # the lock was updated too
    objects = list(yaml.safe_load_all((profiles / "__snapshots__" / "nightly-embeddings.kubernetes.yaml").read_text()))
    deployment = next(d for d in objects if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":CONTEXTHASH")
    template = json.loads((profiles / "__snapshots__" / "review-api.cloudformation.json").read_text())
    assert any(r["Type"] == "AWS::Lambda::Function" for r in template["Resources"].values())

    # An unreviewed change fails with a readable diff of what moved, and the command that accepts it.
    path = profiles / "sentiment-api.yaml"
    path.write_text(path.read_text().replace("  peak_rps: 40", "  peak_rps: 80"))
    r = switchyard("snapshot", "profiles", cwd=tmp_path)
    assert r.returncode == 6
    lines = r.stdout.splitlines()
    assert f"--- {folder / 'sentiment-api.plan.json'} (reviewed)" in lines
    assert f"+++ {folder / 'sentiment-api.plan.json'} (now)" in lines
    # (the plan's diff is cut at 80 lines per file; the options' bills come first: the doubled peak
    # shows as the replicas held for it)
    assert any(line.startswith("-") and "(5 replicas + 1 rollout surge)" in line for line in lines)
    assert any(line.startswith("+") and "(10 replicas + 1 rollout surge)" in line for line in lines)
    assert any(line.startswith("-") and '"MaxCapacity": 5' in line for line in lines)  # the template too
    assert f"{Path('profiles') / 'plan.lock.json'}: differs from the plan" in r.stdout


def test_snapshots_are_not_touched_while_a_profile_is_invalid(tmp_path):
    profiles = copy_profiles(tmp_path)
    assert switchyard("snapshot", "--update", "profiles", cwd=tmp_path).returncode == 0
    before = {p.name: p.read_bytes() for p in (profiles / "__snapshots__").iterdir()}
    (profiles / "broken.yaml").write_text("name: broken\n")
    r = switchyard("snapshot", "--update", "profiles", cwd=tmp_path)
    assert r.returncode == 2
    assert f"{Path('profiles') / 'broken.yaml'}:1: model: required key is missing" in r.stderr
    assert "error: snapshots not written: fix the profiles first" in r.stderr
    assert {p.name: p.read_bytes() for p in (profiles / "__snapshots__").iterdir()} == before


def test_snapshot_takes_a_whole_directory(tmp_path):
    copy_profiles(tmp_path)
    r = switchyard("snapshot", "profiles/sentiment-api.yaml", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("error: snapshot takes one profiles directory")
