from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from stacks.aws.app import build_app
from stacks.k8s.naming import PLAN_LABEL
from stacks.workloads import load_all

ASSET_HASH = re.compile(r"[0-9a-f]{64}")
VERSION_ID = re.compile(r"(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}")


def synth(profiles: Path, build_root: Path, outdir: Path):
    """Build and synthesize the app for a profiles directory (cdk-nag on). Returns the assembly."""
    app = build_app(load_all([profiles]), profiles_dir=profiles, outdir=str(outdir), build_root=build_root)
    return app.synth()


def _lock_revision_out(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("Key") == PLAN_LABEL and "Value" in node:
            return {**node, "Value": "PLANREVISION"}
        return {k: ("PLANREVISION" if k == PLAN_LABEL else _lock_revision_out(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_lock_revision_out(v) for v in node]
    return node


def normalised(template: dict) -> dict:
    """Asset hashes, version-hash logical IDs and the plan-revision tag out, so a code edit or a
    changed plan does not churn snapshots."""
    text = json.dumps(_lock_revision_out(template), indent=1, sort_keys=True)
    text = VERSION_ID.sub(r"\1VERSIONHASH", text)
    return json.loads(ASSET_HASH.sub("ASSETHASH", text))


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
