"""Pulumi entry point (Pulumi.yaml `main: stacks/k8s/`).

The engine runs this file with stacks/k8s as the working directory and that directory on
sys.path: put the project root first so `stacks` is this checkout's package, whatever is
installed in the virtualenv.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent.parent)
if ROOT not in sys.path[:1]:
    sys.path.insert(0, ROOT)

from stacks.k8s.program import main  # noqa: E402

main()
