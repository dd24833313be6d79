"""A limit of the fleet, not of one profile: reserved concurrency summed over the serverless
workloads of one plan must leave what the account leaves: Lambda's unreserved minimum of the quota,
beside what other functions already reserve (lambda_quota.py, fed with `aws lambda
get-account-settings`)."""

from __future__ import annotations

from collections.abc import Iterable

from stacks.decision.workload import Workload
from stacks.errors import DecisionError, SwitchyardError
from stacks.profile import Target
from stacks.targets.serverless.lambda_quota import settings_verdicts


def check_reserved_total(workloads: Iterable[Workload]) -> list[tuple[str, SwitchyardError]]:
    """(directory, error) per region whose serverless reservations exceed what the account leaves
    (lambda_quota.py: the quota, Lambda's unreserved minimum, other functions' reservations)."""
    workloads = list(workloads)
    by_region: dict[str, Workload] = {}
    for w in workloads:
        if w.target is Target.serverless:
            by_region.setdefault(w.settings.platform.region, w)
    problems: list[tuple[str, SwitchyardError]] = []
    for verdict in settings_verdicts(workloads):
        if verdict.fits:
            continue
        where = str(by_region[verdict.region].file.parent)
        problems.append((where, DecisionError(where, verdict.message())))
    return problems
