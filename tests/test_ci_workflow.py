"""The CI workflow shipped for users runs commands that exist, in the order the README gives."""

from __future__ import annotations

import yaml

from stacks.cli import build_parser
from tests.conftest import ROOT


def test_workflow_runs_real_commands_on_pull_requests():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "switchyard.yml").read_text())
    assert "pull_request" in wf[True]  # YAML 1.1 reads the key `on` as True
    runs = [s["run"] for s in wf["jobs"]["plan-and-test"]["steps"] if "run" in s]
    assert runs == [
        "sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends redis-server prometheus",
        "make install",
        ".venv/bin/switchyard validate profiles",
        ".venv/bin/switchyard plan --check profiles",
        ".venv/bin/switchyard snapshot --check profiles",
        "make synth",
        "make test",
    ]
    # the same Debian services as .ci/run, so no test skips in the user's CI either
    ci_run = (ROOT / ".ci" / "run").read_text()
    for service in ("redis-server", "prometheus"):
        assert f'missing="$missing {service}"' in ci_run
        assert service in runs[0].split()
    parser = build_parser()
    for run in runs:
        if run.startswith(".venv/bin/switchyard "):
            parser.parse_args(run.split()[1:])  # exits 64 on an unknown command or flag
    makefile = (ROOT / "Makefile").read_text()
    for target in ("install", "synth", "test", "snapshot"):
        assert f"\n{target}:" in makefile
    test_recipe = makefile.split("\ntest: install", 1)[1].split("\n\n", 1)[0]
    assert "switchyard snapshot --check profiles" in test_recipe  # `make test` checks the user's profiles
    assert "\tswitchyard snapshot --update profiles\n" in makefile  # `make snapshot`: the one update command
