from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stacks.aws.app import build_app
from stacks.commands.snapshot import normalised_template as normalised  # the user-facing snapshots' rules
from stacks.workloads import load_all

__all__ = ["cfn_lint", "exports", "imports", "normalised", "ssm_published", "ssm_reads", "synth"]

ROOT = Path(__file__).resolve().parent.parent


def synth(profiles: Path, build_root: Path, outdir: Path):
    """Build and synthesize the app for a profiles directory (cdk-nag on). Returns the assembly."""
    app = build_app(load_all([profiles]), profiles_dir=profiles, outdir=str(outdir), build_root=build_root)
    return app.synth()


def ssm_reads(template: dict) -> set[str]:
    """Names of the Switchyard SSM parameters a stack reads when it deploys (not CDK's bootstrap version)."""
    return {
        p["Default"]
        for p in template.get("Parameters", {}).values()
        if p.get("Type", "").startswith("AWS::SSM::Parameter::Value") and p["Default"].startswith("/switchyard/")
    }


def ssm_published(template: dict) -> set[str]:
    return {r["Properties"]["Name"] for r in template["Resources"].values() if r["Type"] == "AWS::SSM::Parameter"}


def imports(template: dict) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Fn::ImportValue" in node:
                found.add(json.dumps(node["Fn::ImportValue"], sort_keys=True))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(template)
    return found


def exports(template: dict) -> set[str]:
    return {
        json.dumps(o["Export"]["Name"], sort_keys=True) for o in template.get("Outputs", {}).values() if "Export" in o
    }


def cfn_lint(templates: list[str]) -> list[str]:
    """cfn-lint's findings on the template files, with the checkout's .cfnlintrc, as its CLI reports them.

    Run in this process: the `cfn-lint` command pays about a second of interpreter start and imports
    on every call, on top of the lint itself."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    config = ConfigMixIn(["--config-file", str(ROOT / ".cfnlintrc"), "--", *templates])
    return [str(match) for match in Runner(config).run()]
