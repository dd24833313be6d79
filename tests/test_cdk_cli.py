"""The pinned CDK CLI synthesizes the app through the checkout's cdk.json.

Its run (tests.cdk_helpers.cdk_cli_synth: cdk.json's `app` in a fresh interpreter, on the fixture
profiles) is the cloud assembly every CDK template test reads (conftest's serverless_assembly).
No xdist group: the CLI is a process of its own, it needs no warm jsii in this worker, and it runs
beside the in-process CDK tests of the `cdk` group (which take the assembly last).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from stacks.aws.app import PLATFORM_STACK
from stacks.aws.workload import stack_name
from tests.conftest import ROOT

SERVERLESS = ["sentiment-api", "nightly-embeddings"]  # the fixture profiles' serverless workloads


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_real_cdk_cli_synthesizes_through_cdk_json(cdk_cli):
    assert cdk_cli.returncode == 0, cdk_cli.output[-3000:]
    assert "Successfully synthesized" in cdk_cli.output
    produced = sorted(p.name for p in cdk_cli.out.glob("*.template.json"))
    assert produced == sorted(f"{n}.template.json" for n in [PLATFORM_STACK, *(stack_name(x) for x in SERVERLESS)])
    npx = shutil.which("npx")
    cli_version = subprocess.run(
        [npx, "--no-install", "cdk", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert cli_version.stdout.startswith("2.1"), cli_version.stdout + cli_version.stderr
