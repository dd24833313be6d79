"""A limit of the fleet, not of one profile: reserved concurrency summed over the serverless
workloads of one plan must leave Lambda's unreserved minimum of the account quota."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from stacks.decision.workload import Workload
from stacks.errors import DecisionError, SwitchyardError
from stacks.profile import Target
from stacks.targets.serverless.sizing import serverless_sizing


def check_reserved_total(workloads: Iterable[Workload]) -> list[tuple[str, SwitchyardError]]:
    """(directory, error) per region whose serverless reservations exceed quota - unreserved."""
    by_region: dict[str, list[Workload]] = defaultdict(list)
    for w in workloads:
        if w.target is Target.serverless:
            by_region[w.settings.platform.region].append(w)
    problems: list[tuple[str, SwitchyardError]] = []
    for region, group in sorted(by_region.items()):
        quota = min(w.settings.platform.lambda_account_concurrency for w in group)
        unreserved = max(w.settings.platform.lambda_unreserved_concurrency for w in group)
        total = sum(serverless_sizing(w).reserved_concurrency for w in group)
        if total <= quota - unreserved:
            continue
        parts = ", ".join(f"{w.name} {serverless_sizing(w).reserved_concurrency:,}" for w in group)
        where = str(group[0].file.parent)
        problems.append(
            (
                where,
                DecisionError(
                    where,
                    f"reserved concurrency of the serverless workloads in {region} sums to {total:,} ({parts}), "
                    f"but the account quota {quota:,} leaves {quota - unreserved:,} to reserve (Lambda keeps "
                    f"{unreserved:,} unreserved). Allowed: a sum <= {quota - unreserved:,}; raise "
                    "platform.lambda_account_concurrency after a quota increase, lower peak_rps, or move a "
                    "workload to target: kubernetes.",
                ),
            )
        )
    return problems
