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

import pulumi  # noqa: E402

from stacks.errors import SwitchyardError  # noqa: E402
from stacks.k8s.program import main  # noqa: E402

try:
    main()
except SwitchyardError as exc:
    # RunError: the engine prints the message alone, no Python traceback (a user error, not a bug)
    raise pulumi.RunError(str(exc)) from None
