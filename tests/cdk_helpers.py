from __future__ import annotations

import json
import re
from pathlib import Path

from stacks.aws.app import build_app
from stacks.workloads import load_all

ASSET_HASH = re.compile(r"[0-9a-f]{64}")
VERSION_ID = re.compile(r"(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}")


def synth(profiles: Path, build_root: Path, outdir: Path):
    """Build and synthesize the app for a profiles directory (cdk-nag on). Returns the assembly."""
    app = build_app(load_all([profiles]), profiles_dir=profiles, outdir=str(outdir), build_root=build_root)
    return app.synth()


def normalised(template: dict) -> dict:
    """Asset hashes and version-hash logical IDs out, so a code edit does not churn snapshots."""
    text = json.dumps(template, indent=1, sort_keys=True)
    text = VERSION_ID.sub(r"\1VERSIONHASH", text)
    return json.loads(ASSET_HASH.sub("ASSETHASH", text))
