from __future__ import annotations

import importlib
import importlib.util
import sys
from contextlib import contextmanager
from pathlib import Path

from stacks.decision.workload import Workload
from stacks.profile.loader import load_profile
from stacks.targets import decide
from tests.conftest import PROFILES, ROOT

SLOW_PROFILE = ROOT / "tests" / "fixtures" / "slow_model" / "profile.yaml"
SENTIMENT_WEIGHTS = PROFILES / "models" / "sentiment" / "weights"


def workload(path: Path) -> Workload:
    return decide(load_profile(path))


@contextmanager
def imported_app(app_dir: Path, module: str):
    """Import a rendered module from its app/ directory, as the container would, then forget it."""
    names = ("serving_core", "handler", "server", "user_model")
    saved = {n: sys.modules.pop(n) for n in list(sys.modules) if n.split(".")[0] in names}
    sys.path.insert(0, str(app_dir))
    try:
        yield importlib.import_module(module)
    finally:
        sys.path.remove(str(app_dir))
        for n in [n for n in sys.modules if n.split(".")[0] in names]:
            del sys.modules[n]
        sys.modules.update(saved)


def model_module(path: Path):
    """Import a user model file under a unique name, bypassing sys.modules caching."""
    spec = importlib.util.spec_from_file_location(f"_direct_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
