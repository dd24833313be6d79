"""What `simulate` says about targets it has no model for, and options the plan rules out.

The simulator models Lambda (serverless) and the Kubernetes cluster. A workload decided onto Lambda
Managed Instances or the hybrid front used to be replayed against the Kubernetes model and billed
with the Kubernetes option's lines, under the decided target's name: numbers for a platform that
would not run it. An option the plan rules out (fraud-scoring's 24 GB on Lambda) was simulated with
no word that it cannot be deployed.
"""

from __future__ import annotations

import json

from stacks.cli import main
from tests.conftest import FIXTURES, PROFILES

FRAUD = PROFILES / "fraud-scoring.yaml"
SENTIMENT = PROFILES / "sentiment-api.yaml"
MANAGED = FIXTURES / "steady_cpu" / "steady-scoring.yaml"
HYBRID = FIXTURES / "hybrid" / "image-tagging.yaml"


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["simulate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_workload_decided_onto_an_unmodelled_target_is_an_error_not_kubernetes_numbers(capsys):
    code, out, err = run(capsys, str(MANAGED), str(SENTIMENT), "--hours", "1")
    assert code == 1 and "Traceback" not in err
    assert f"{MANAGED}: steady-scoring -> managed-instances (decided) is not simulated" in err
    assert "--target serverless, kubernetes or all" in err
    # the other workload is still simulated; nothing is printed under the unmodelled target's name
    assert "sentiment-api -> serverless (decided)" in out
    assert "steady-scoring" not in out and "managed-instances:" not in out


def test_json_carries_the_refusal_in_errors(capsys):
    code, out, _ = run(capsys, str(HYBRID), "--hours", "1", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["workloads"] == []
    (error,) = doc["errors"]
    assert error["file"] == str(HYBRID) and "hybrid (decided) is not simulated" in error["message"]


def test_target_all_simulates_the_modelled_options_and_names_the_others(capsys):
    code, out, _ = run(capsys, str(HYBRID), "--hours", "1", "--target", "all", "--json")
    assert code == 0
    (w,) = json.loads(out)["workloads"]
    assert [t["target"] for t in w["targets"]] == ["serverless", "kubernetes"]
    assert {n["target"] for n in w["not_simulated"]} == {"managed-instances", "hybrid"}
    hybrid = next(n for n in w["not_simulated"] if n["target"] == "hybrid")
    assert hybrid["decided"] is True and "no model" in hybrid["why"]
    code, out, _ = run(capsys, str(HYBRID), "--hours", "1", "--target", "all")
    assert code == 0
    assert "not simulated: managed-instances, hybrid (decided)" in out


def test_an_option_the_plan_rules_out_says_so_beside_its_numbers(capsys):
    code, out, _ = run(capsys, str(FRAUD), "--hours", "1", "--target", "serverless", "--json")
    assert code == 0
    (t,) = json.loads(out)["workloads"][0]["targets"]
    assert t["feasible"] is False and "limit.memory" in t["blockers"]
    code, out, _ = run(capsys, str(FRAUD), "--hours", "1", "--target", "all")
    assert code == 0
    assert "note: the plan rules this option out (limit.memory)" in out
    kubernetes = out.split("  kubernetes:")[1]
    assert "rules this option out" not in kubernetes
