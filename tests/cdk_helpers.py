from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.commands.snapshot import normalised_template as normalised  # the user-facing snapshots' rules
from stacks.workloads import load_all

__all__ = [
    "CliSynth",
    "cdk_cli_synth",
    "cfn_lint",
    "exports",
    "imports",
    "normalised",
    "ssm_published",
    "ssm_reads",
    "synth",
]

ROOT = Path(__file__).resolve().parent.parent


def synth(profiles: Path, build_root: Path, outdir: Path):
    """Build and synthesize the app for a profiles directory (cdk-nag on). Returns the assembly."""
    from stacks.aws.app import build_app  # aws-cdk-lib: only the `cdk` group's worker loads it (conftest)

    app = build_app(load_all([profiles]), profiles_dir=profiles, outdir=str(outdir), build_root=build_root)
    return app.synth()


@dataclass
class CliSynth:
    returncode: int
    output: str  # stdout and stderr
    out: Path  # the cloud assembly


# The CLI's own additions (aws:cdk:path and asset metadata, the CDKMetadata resource) are off, so
# the assembly is byte for byte the app's in-process synth: tests that inspect templates see what
# build_app makes, and that is the same whether the CLI or a test ran it.
CLI_METADATA_OFF = ("--no-path-metadata", "--no-asset-metadata", "--no-version-reporting")


def cdk_cli_synth(profiles: Path, directory: Path) -> CliSynth:
    """`cdk synth` by the pinned CDK CLI through the checkout's cdk.json (its `app` command in a fresh
    interpreter), on `profiles`, into directory/out. As `cdk synth` does, the app renders the build
    contexts into the checkout's build/ (serverless workloads only, each in its own folder)."""
    npx = shutil.which("npx")
    assert npx, "npx not on PATH: run through `make test`"
    out = directory / "out"
    fixtures = ["--context", f"switchyard:profiles={profiles}"]  # never cdk.json's profiles/ (the user's)
    r = subprocess.run(
        [npx, "--no-install", "cdk", "synth", "--quiet", *CLI_METADATA_OFF, "--output", str(out), *fixtures],
        cwd=ROOT,
        # CDK's built-in template validation on, as a user's `cdk synth` has it (conftest turns it
        # off for the suite's in-process synths).
        env={**{k: v for k, v in os.environ.items() if k != "CDK_VALIDATION"}, "CDK_DISABLE_VERSION_CHECK": "1"},
        capture_output=True,
        text=True,
        timeout=280,
    )
    return CliSynth(r.returncode, r.stdout + r.stderr, out)


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


# sha256 of a template's bytes -> linted clean in this process. Apps built for different tests often
# hold the same stack (the platform's, most of all); identical bytes lint the same.
_LINTED_CLEAN: set[str] = set()


@functools.cache
def _cfn_lint_rules():
    """cfn-lint's rules for the checkout's .cfnlintrc, loaded once per process: a Runner loads them
    again each time (~0.5 s of CPU)."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(["--config-file", str(ROOT / ".cfnlintrc")])).rules


def cfn_lint(templates: list[str]) -> list[str]:
    """cfn-lint's findings on the template files, with the checkout's .cfnlintrc, as its CLI reports them.

    Run in this process: the `cfn-lint` command pays about a second of interpreter start and imports
    on every call, on top of the lint itself (~0.5 s per template). A template byte-identical to one
    this process already linted clean is not linted again."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner.template.runner import run_template_by_file_paths

    digests = {path: hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in templates}
    todo = [path for path in templates if digests[path] not in _LINTED_CLEAN]
    if not todo:
        return []
    config = ConfigMixIn(["--config-file", str(ROOT / ".cfnlintrc"), "--", *todo])
    findings = [str(match) for match in run_template_by_file_paths(config, _cfn_lint_rules())]
    if not findings:
        _LINTED_CLEAN.update(digests[path] for path in todo)
    return findings
