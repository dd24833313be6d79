"""The pinned CDK CLI synthesizes the app through the checkout's cdk.json.

Its run (tests.cdk_helpers.cdk_cli_synth: cdk.json's `app` in a fresh interpreter, on the fixture
profiles) is the cloud assembly every CDK template test reads (conftest's serverless_assembly).
No xdist group: the CLI is a process of its own, it needs no warm jsii in this worker, and it runs
beside the in-process CDK tests of the `cdk` group (which take the assembly last).
"""

from __future__ import annotations

import json

import pytest

from stacks.profile.names import PLATFORM_STACK
from stacks.targets.serverless.installation import workload_stack
from tests.conftest import ROOT

SERVERLESS = ["sentiment-api", "nightly-embeddings"]  # the fixture profiles' serverless workloads


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_real_cdk_cli_synthesizes_through_cdk_json(cdk_cli):
    assert cdk_cli.returncode == 0, cdk_cli.output[-3000:]
    assert "Successfully synthesized" in cdk_cli.output
    # CDK's built-in CloudFormation validation ran (on, as for a user) and found nothing: its findings
    # are warnings ("... (CloudFormation Validate)") a user would see on every synth.
    assert "Template validation found issues" not in cdk_cli.output, cdk_cli.output[-3000:]
    report = json.loads((cdk_cli.out / "validation-report.json").read_text())  # warnings are findings too
    found = [
        v for r in report["pluginReports"] if r["pluginName"] == "CloudFormation Validate" for v in r["violations"]
    ]
    assert found == [], found
    produced = sorted(p.name for p in cdk_cli.out.glob("*.template.json"))
    assert produced == sorted(f"{n}.template.json" for n in [PLATFORM_STACK, *(workload_stack(x) for x in SERVERLESS)])
    # The CLI that ran is the pinned 2.1xxx one (npm's `latest` is an unrelated 3.0.0): `npx --no-install
    # cdk` runs node_modules/.bin/cdk, <package>/bin/cdk, and `cdk --version` prints its package.json's.
    package = (ROOT / "node_modules" / ".bin" / "cdk").resolve().parent.parent
    manifest = json.loads((package / "package.json").read_text())
    assert manifest["name"] == "aws-cdk" and manifest["version"].startswith("2.1"), manifest["version"]
