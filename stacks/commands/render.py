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
        if chosen is Target.serverless and not w.decision.serverless_feasible and w.target is not Target.serverless:
            limits = [r.detail for r in w.decision.fired() if r.rule.startswith(("limit.", "sla."))]
            batch.failures.append(
                Failure(
                    w.file, SwitchyardError(f"{w.file}: cannot render {w.name} for serverless: " + "; ".join(limits))
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
