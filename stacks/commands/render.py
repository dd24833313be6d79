from __future__ import annotations

from pathlib import Path

from stacks.commands.report import exit_code, print_failures, print_no_profiles
from stacks.errors import SwitchyardError
from stacks.packaging import render
from stacks.profile import Target
from stacks.workloads import Failure, load_all


def run(paths: list[Path], *, target: str | None, out: Path) -> int:
    batch = load_all(paths)
    for w in batch.workloads:
        chosen = Target(target) if target else w.target
        option = w.decision.option(chosen)
        if not option.feasible and w.target is not chosen:
            limits = [r.detail for r in option.blockers]
            batch.failures.append(
                Failure(
                    w.file,
                    SwitchyardError(f"{w.file}: cannot render {w.name} for {chosen.value}: " + "; ".join(limits)),
                )
            )
            continue
        try:
            path = render(w, out, chosen)
        except SwitchyardError as exc:
            batch.failures.append(Failure(w.file, exc))
            continue
        print(f"{w.name}: {chosen.value} build context in {path}")
    print_failures(batch.failures)
    print_no_profiles(batch, paths)
    return exit_code(batch)
