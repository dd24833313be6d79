"""The account's Lambda concurrency against what a plan reserves: one verdict, two callers.

Reserved concurrency comes out of the account's regional quota, and Lambda refuses a reservation
that would leave less than its unreserved minimum (100) for every other function. Other functions
of the account may already reserve part of the quota, and new accounts start with a quota far
below AWS's default of 1,000, so the check needs the account's own figures:

    aws lambda get-account-settings --region <region>
      AccountLimit.ConcurrentExecutions            -> platform.lambda_account_concurrency
      ConcurrentExecutions - UnreservedConcurrentExecutions, less what this installation's own
      functions reserve today                      -> platform.lambda_reserved_by_others

`check_reserved_total` (run by every plan) reads them from the platform settings;
`account_verdict` (for `switchyard doctor`) reads them from that command's JSON directly.
Pure functions: no AWS calls here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stacks.decision.workload import Workload
from stacks.profile import Target
from stacks.targets.serverless.sizing import serverless_sizing

LAMBDA_UNRESERVED_MINIMUM = 100  # AWS: what Lambda keeps unreserved in every account and region
FIGURES_COMMAND = "aws lambda get-account-settings --region {region}"


@dataclass(frozen=True)
class QuotaVerdict:
    """Whether this plan's reservations fit what the account leaves in one region."""

    region: str
    quota: int  # AccountLimit.ConcurrentExecutions
    unreserved_minimum: int  # Lambda keeps this much unreserved
    reserved_by_others: int  # held by functions outside this plan
    reservations: tuple[tuple[str, int], ...]  # (workload, reserved concurrency) of this plan

    @property
    def requested(self) -> int:
        return sum(r for _, r in self.reservations)

    @property
    def available(self) -> int:
        return self.quota - self.unreserved_minimum - self.reserved_by_others

    @property
    def fits(self) -> bool:
        return self.requested <= self.available

    def message(self) -> str:
        parts = ", ".join(f"{name} {reserved:,}" for name, reserved in self.reservations)
        others = f" and other functions already reserve {self.reserved_by_others:,}" if self.reserved_by_others else ""
        head = (
            f"reserved concurrency of the serverless workloads in {self.region} sums to {self.requested:,} ({parts}); "
            f"of the account quota {self.quota:,}, Lambda keeps {self.unreserved_minimum:,} unreserved{others}, "
            f"which leaves {max(0, self.available):,} to reserve"
        )
        if self.fits:
            return f"{head}: fits"
        return (
            f"{head}. Allowed: a sum <= {max(0, self.available):,}. The figures come from "
            f"`{FIGURES_COMMAND.format(region=self.region)}` (or `switchyard doctor`): platform.lambda_account_concurrency "
            "= AccountLimit.ConcurrentExecutions, platform.lambda_reserved_by_others = ConcurrentExecutions - "
            "UnreservedConcurrentExecutions less this installation's own reservations. Request a quota increase "
            "(Service Quotas, L-B99A9384), lower peak_rps, or move a workload to target: kubernetes."
        )


def _serverless_by_region(workloads: Iterable[Workload]) -> dict[str, list[Workload]]:
    by_region: dict[str, list[Workload]] = defaultdict(list)
    for w in workloads:
        if w.target is Target.serverless:
            by_region[w.settings.platform.region].append(w)
    return dict(sorted(by_region.items()))


def _reservations(group: list[Workload]) -> tuple[tuple[str, int], ...]:
    return tuple((w.name, serverless_sizing(w).reserved_concurrency) for w in group)


def settings_verdicts(workloads: Iterable[Workload]) -> list[QuotaVerdict]:
    """One verdict per region, from the figures the platform settings give (the strictest of them)."""
    return [
        QuotaVerdict(
            region=region,
            quota=min(w.settings.platform.lambda_account_concurrency for w in group),
            unreserved_minimum=max(w.settings.platform.lambda_unreserved_concurrency for w in group),
            reserved_by_others=max(w.settings.platform.lambda_reserved_by_others for w in group),
            reservations=_reservations(group),
        )
        for region, group in _serverless_by_region(workloads).items()
    ]


def account_verdict(
    account_settings: Mapping[str, Any],
    workloads: Iterable[Workload],
    *,
    region: str,
    own_reserved: int = 0,
) -> QuotaVerdict:
    """The verdict for `region` from `aws lambda get-account-settings --region <region>` output (parsed JSON).

    `own_reserved` is what this installation's deployed functions reserve today (their reservations
    are inside the account's figures and are replaced, not added to, by this plan's); 0 before
    the first deploy. Raises ValueError when the JSON lacks the AccountLimit figures.
    """
    limit = account_settings.get("AccountLimit")
    if not isinstance(limit, Mapping) or not all(
        isinstance(limit.get(k), int) for k in ("ConcurrentExecutions", "UnreservedConcurrentExecutions")
    ):
        raise ValueError(
            "not the output of `aws lambda get-account-settings`: AccountLimit.ConcurrentExecutions and "
            "AccountLimit.UnreservedConcurrentExecutions (integers) are required"
        )
    quota, unreserved = limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]
    group = _serverless_by_region(workloads).get(region, [])
    return QuotaVerdict(
        region=region,
        quota=quota,
        unreserved_minimum=LAMBDA_UNRESERVED_MINIMUM,
        reserved_by_others=max(0, quota - unreserved - own_reserved),
        reservations=_reservations(group),
    )


def platform_figures(verdict: QuotaVerdict) -> dict[str, int]:
    """What to write under platform: in platform.yaml so that every plan checks the account's figures."""
    return {"lambda_account_concurrency": verdict.quota, "lambda_reserved_by_others": verdict.reserved_by_others}
