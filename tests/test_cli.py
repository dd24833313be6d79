"""The CLI: tables, JSON, exit codes, and no traceback on bad input.

The console entry point runs in a subprocess for the JSON plan and a usage error (a real process's
pipe and exit status); the other cases run `main` in this process (tests.cli_helpers), which
skips a fresh interpreter's imports per case and raises, failing the test, where a subprocess
would print a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.targets import TARGETS
from tests.cli_helpers import Result
from tests.cli_helpers import switchyard as run_cli
from tests.conftest import MODEL, PROFILES, ROOT, VALID


@pytest.fixture(autouse=True)
def _model(tmp_path):
    """VALID's entrypoint, beside the profiles each test writes into tmp_path."""
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")


def real_switchyard(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stacks.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def switchyard(*args: str, cwd: Path = ROOT) -> Result:
    return run_cli(*args, cwd=cwd)


def test_plan_table_on_the_examples():
    r = switchyard("plan", str(PROFILES))
    assert r.returncode == 0, r.stderr
    header, *lines = r.stdout.split("\n\n")[0].splitlines()
    bills = [f"{t.target.value.upper()}/MO" for t in TARGETS]  # one column per registered target
    assert header.split() == ["WORKLOAD", "TARGET", *bills]
    # per workload: its bills, the marks under them (chosen, not feasible, not offered), why
    rows = [line for line in lines if not line.startswith(" ")]
    targets = {row.split()[0]: row.split()[1] for row in rows}
    assert sum(line.startswith("  why: ") for line in lines) == len(rows)
    assert targets == {
        "fraud-scoring": "kubernetes",
        "llm-chat": "kubernetes",
        "nightly-embeddings": "serverless",
        "sentiment-api": "serverless",
    }
    assert "* limit.memory             memory 24,576 MB > Lambda's 10,240 MB" in r.stdout


@pytest.mark.slow  # a subprocess
def test_plan_json_is_complete_and_consistent():
    r = real_switchyard("plan", "--json", str(PROFILES))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["errors"] == []
    by_name = {w["name"]: w for w in doc["workloads"]}
    llm = by_name["llm-chat"]
    assert llm["target"] == "kubernetes"
    assert {x["rule"] for x in llm["reasons"] if x["fired"]} >= {"limit.gpu", "limit.memory"}
    for w in doc["workloads"]:
        cost = w["cost_usd_month"]["serverless"]
        assert cost["total"] == pytest.approx(sum(cost["items"].values()), abs=0.05)
    assert by_name["sentiment-api"]["sizing"]["serverless"]["provisioned"] is True
    # Each option says whether it can run the workload and what rules it out, with its own reasons.
    options = llm["options"]
    assert set(options) == {t.target.value for t in TARGETS}
    assert options["kubernetes"]["feasible"] and options["kubernetes"]["blockers"] == []
    assert not options["serverless"]["feasible"]
    assert {"limit.gpu", "limit.memory"} <= set(options["serverless"]["blockers"])
    assert all(o["offered"] for o in options.values())  # the example platform offers every target
    gpu = [r for r in options["serverless"]["reasons"] if r["rule"] == "limit.gpu"]
    assert gpu and gpu[0]["fired"]


def test_one_bad_profile_does_not_hide_the_others(tmp_path):
    (tmp_path / "good.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(VALID.replace("name: demo-api", "name: other\nfoo: 1"), encoding="utf-8")
    r = switchyard("plan", str(tmp_path))
    assert r.returncode == 2
    assert "demo-api" in r.stdout
    assert f"{tmp_path / 'bad.yaml'}:3: foo: unknown key 'foo'" in r.stderr
    assert "Traceback" not in r.stderr


def test_impossible_explicit_target_exits_3(tmp_path):
    (tmp_path / "p.yaml").write_text(
        VALID.replace("target: auto", "target: serverless").replace("  memory_gb: 2", "  memory_gb: 16"),
        encoding="utf-8",
    )
    r = switchyard("plan", str(tmp_path / "p.yaml"))
    assert r.returncode == 3
    assert r.stderr.startswith(f"error: {tmp_path / 'p.yaml'}:3: target: serverless is impossible: memory 16,384 MB")
    assert "Traceback" not in r.stderr


def test_duplicate_names_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(VALID, encoding="utf-8")
    r = switchyard("plan", "--json", str(tmp_path))
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert [w["name"] for w in doc["workloads"]] == ["demo-api"]
    assert "b.yaml:2: name: 'demo-api' is already used by" in doc["errors"][0]["message"]


def test_missing_file_and_empty_directory(tmp_path):
    r = switchyard("plan", str(tmp_path / "nope.yaml"))
    assert (r.returncode, r.stderr.strip()) == (2, f"error: {tmp_path / 'nope.yaml'}: no such file")
    r = switchyard("plan", str(tmp_path))
    assert r.returncode == 1
    assert r.stderr.strip() == f"error: no profiles (*.yaml) found in {tmp_path}"


@pytest.mark.slow  # a subprocess
def test_usage_error_exits_64():
    r = real_switchyard("plan", "--frobnicate")
    assert r.returncode == 64
    assert "unrecognized arguments: --frobnicate" in r.stderr


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`switchyard plan | head -3`: head closes the pipe before plan has written its report."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "stacks.cli", "plan", str(PROFILES)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # before the interpreter has even started: every write meets a closed pipe
    stderr = proc.stderr.read()
    proc.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert proc.returncode == 141


def test_validate_lists_each_file(tmp_path):
    (tmp_path / "good.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "bad.yml").write_text(VALID, encoding="utf-8")
    r = switchyard("validate", str(tmp_path))
    assert r.returncode == 2
    assert r.stdout.strip() == f"ok    {tmp_path / 'good.yaml'}"
    assert "profile files end in .yaml" in r.stderr
    assert r.stderr.strip().endswith("1 valid, 1 invalid")
