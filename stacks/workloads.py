"""Load and decide every profile under some paths; one bad profile never hides the others."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stacks.decide import Workload, decide
from stacks.errors import SwitchyardError
from stacks.loader import discover, load_profile, load_settings
from stacks.rules_serverless import check_reserved_total

DEFAULT_PROFILES = Path("profiles")


@dataclass(frozen=True)
class Failure:
    file: Path
    error: SwitchyardError


@dataclass(frozen=True)
class Batch:
    workloads: list[Workload]
    failures: list[Failure]

    def by_target(self, target: str) -> list[Workload]:
        return [w for w in self.workloads if w.target.value == target]


def load_all(paths: list[Path] | None = None) -> Batch:
    paths = [Path(p) for p in (paths or [DEFAULT_PROFILES])]
    workloads: list[Workload] = []
    failures: list[Failure] = []
    settings_by_dir: dict[Path, object] = {}
    names: dict[str, Path] = {}
    for file in discover(paths):
        try:
            directory = file.parent
            if directory not in settings_by_dir:
                settings_by_dir[directory] = load_settings(directory)
            workload = decide(load_profile(file, settings_by_dir[directory]))  # type: ignore[arg-type]
        except SwitchyardError as exc:
            failures.append(Failure(file, exc))
            continue
        if workload.name in names:
            failures.append(
                Failure(
                    file,
                    SwitchyardError(
                        f"{file}: name '{workload.name}' is already used by {names[workload.name]}; "
                        "names become stack and namespace names and must be unique"
                    ),
                )
            )
            continue
        names[workload.name] = file
        workloads.append(workload)
    # A limit of the set, not of one profile: reported once, the workloads still listed.
    failures += [Failure(Path(where), error) for where, error in check_reserved_total(workloads)]
    return Batch(workloads, failures)
