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
        "sudo apt-get update -qq && sudo apt-get install -y -qq redis-server",
        "make install",
        ".venv/bin/switchyard validate profiles",
        ".venv/bin/switchyard plan --check profiles",
        ".venv/bin/switchyard snapshot --check profiles",
        "make synth",
        "make test",
    ]
    # the same services as .ci/run
    assert "apt-get install -y -qq redis-server" in (ROOT / ".ci" / "run").read_text()
    parser = build_parser()
    for run in runs:
        if run.startswith(".venv/bin/switchyard "):
            parser.parse_args(run.split()[1:])  # exits 64 on an unknown command or flag
    makefile = (ROOT / "Makefile").read_text()
    for target in ("install", "synth", "test", "snapshot"):
        assert f"\n{target}:" in makefile
    assert "\tswitchyard snapshot --check profiles\n" in makefile  # `make test` checks the user's profiles
    assert "\tswitchyard snapshot --update profiles\n" in makefile  # `make snapshot`: the one update command
