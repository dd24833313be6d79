"""The Lambda quota check fed with the account's real figures (`aws lambda get-account-settings`).

A plan that fits AWS's default 1,000 can still fail at create time in an account whose quota is
lower or whose other functions already reserve part of it; the plan refuses it instead, and
`account_verdict` gives `switchyard doctor` the same verdict straight from the command's JSON.
"""

from __future__ import annotations

import pytest

from stacks.targets.serverless import serverless_sizing
from stacks.targets.serverless.lambda_quota import account_verdict, platform_figures
from stacks.workloads import load_all
from tests.conftest import copy_profiles


def plan(tmp_path, platform: str):
    profiles = copy_profiles(tmp_path)
    (profiles / "platform.yaml").write_text(f"platform:\n{platform}", encoding="utf-8")
    return load_all([profiles])


@pytest.fixture(scope="module")
def fixture_workloads(tmp_path_factory):
    batch = load_all([copy_profiles(tmp_path_factory.mktemp("quota"))])
    assert not batch.failures
    return batch.workloads


@pytest.fixture(scope="module")
def reserves(fixture_workloads) -> dict[str, int]:
    """What each serverless workload of the fixture set reserves under the default quota (nightly-embeddings
    40: twice its peak; sentiment-api its simulated burst's peak, tests/test_simulate_decision.py)."""
    return {
        w.name: serverless_sizing(w).reserved_concurrency for w in fixture_workloads if w.target.value == "serverless"
    }


def test_reservations_of_other_functions_leave_too_little_and_the_plan_says_where_the_figures_come_from(
    tmp_path, reserves
):
    # 1,000 - 100 unreserved - 870 held by other functions = 30, less than the set reserves
    assert sum(reserves.values()) > 30
    batch = plan(tmp_path, "  lambda_account_concurrency: 1000\n  lambda_reserved_by_others: 870\n")
    (failure,) = batch.failures
    text = str(failure.error)
    # sizing already caps each workload at what is left (30), the sum still passes it
    capped = {name: min(30, n) for name, n in reserves.items()}
    assert capped["nightly-embeddings"] == 30
    parts = ", ".join(f"{name} {n}" for name, n in sorted(capped.items()))
    assert f"sums to {sum(capped.values())} ({parts})" in text
    assert "other functions already reserve 870, which leaves 30 to reserve" in text
    assert "aws lambda get-account-settings --region us-east-1" in text
    assert "UnreservedConcurrentExecutions" in text
    assert {w.name for w in batch.workloads} >= {"nightly-embeddings", "sentiment-api"}  # still planned


def test_the_same_plan_fits_when_others_leave_enough(tmp_path, reserves):
    others = 1000 - 100 - sum(reserves.values())  # leaves exactly what the set reserves
    batch = plan(tmp_path, f"  lambda_reserved_by_others: {others}\n")
    assert not batch.failures, [str(f.error) for f in batch.failures]


def test_one_workload_is_sized_within_what_others_leave(tmp_path):
    batch = plan(tmp_path, "  lambda_account_concurrency: 1000\n  lambda_reserved_by_others: 880\n")
    sizes = {w.name: serverless_sizing(w).reserved_concurrency for w in batch.by_target("serverless")}
    assert max(sizes.values()) <= 1000 - 100 - 880


def test_a_negative_figure_is_a_located_validation_error(tmp_path):
    batch = plan(tmp_path, "  lambda_reserved_by_others: -5\n")
    (failure,) = batch.failures
    assert "platform.yaml:2: platform.lambda_reserved_by_others" in str(failure.error)


def test_a_new_account_with_a_quota_of_10_cannot_host_the_plan(fixture_workloads, reserves):
    settings = {"AccountLimit": {"ConcurrentExecutions": 10, "UnreservedConcurrentExecutions": 10}}
    verdict = account_verdict(settings, fixture_workloads, region="us-east-1")
    assert not verdict.fits
    assert verdict.requested == sum(reserves.values()) and verdict.available == 10 - 100
    assert "Allowed: a sum <= 0" in verdict.message()
    assert platform_figures(verdict) == {"lambda_account_concurrency": 10, "lambda_reserved_by_others": 0}


def test_this_installations_own_reservations_are_not_counted_twice(fixture_workloads, reserves):
    # Deployed already: the account reports ours + others' reserved, leaving 10 more than ours to reserve.
    ours = sum(reserves.values())
    others = 1000 - 100 - ours - 10
    settings = {"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000 - ours - others}}
    assert not account_verdict(settings, fixture_workloads, region="us-east-1").fits  # read naively: all others'
    verdict = account_verdict(settings, fixture_workloads, region="us-east-1", own_reserved=ours)
    assert verdict.reserved_by_others == others and verdict.available == ours + 10 and verdict.fits
    assert verdict.message().endswith(": fits")


def test_only_the_region_asked_about_counts(fixture_workloads):
    settings = {"AccountLimit": {"ConcurrentExecutions": 10, "UnreservedConcurrentExecutions": 10}}
    verdict = account_verdict(settings, fixture_workloads, region="eu-west-1")
    assert verdict.requested == 0 and verdict.reservations == ()


@pytest.mark.parametrize(
    "settings", [{}, {"AccountLimit": {"ConcurrentExecutions": "1000"}}, {"AccountUsage": {"FunctionCount": 3}}]
)
def test_json_that_is_not_get_account_settings_is_refused(fixture_workloads, settings):
    with pytest.raises(ValueError, match="get-account-settings"):
        account_verdict(settings, fixture_workloads, region="us-east-1")
