from __future__ import annotations

from pathlib import Path

from stacks.aws.app import build_app
from stacks.commands.snapshot import normalised_template as normalised  # the user-facing snapshots' rules
from stacks.workloads import load_all

__all__ = ["normalised", "synth"]


def synth(profiles: Path, build_root: Path, outdir: Path):
    """Build and synthesize the app for a profiles directory (cdk-nag on). Returns the assembly."""
    app = build_app(load_all([profiles]), profiles_dir=profiles, outdir=str(outdir), build_root=build_root)
    return app.synth()
