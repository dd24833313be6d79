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

# The fixture set reserves 58: nightly-embeddings 40, sentiment-api 18, the simulated peak concurrency of
# its 40 rps burst (tests/test_rules_serverless.py, tests/test_simulate_decision.py).
PLAN_RESERVES = 58


def plan(tmp_path, platform: str):
    profiles = copy_profiles(tmp_path)
    (profiles / "platform.yaml").write_text(f"platform:\n{platform}", encoding="utf-8")
    return load_all([profiles])


def test_reservations_of_other_functions_leave_too_little_and_the_plan_says_where_the_figures_come_from(tmp_path):
    # 1,000 - 100 unreserved - 870 held by other functions = 30 < 58
    batch = plan(tmp_path, "  lambda_account_concurrency: 1000\n  lambda_reserved_by_others: 870\n")
    (failure,) = batch.failures
    text = str(failure.error)
    # sizing already caps each workload at what is left (30), the sum still passes it
    assert "sums to 48 (nightly-embeddings 30, sentiment-api 18)" in text
    assert "other functions already reserve 870, which leaves 30 to reserve" in text
    assert "aws lambda get-account-settings --region us-east-1" in text
    assert "UnreservedConcurrentExecutions" in text
    assert {w.name for w in batch.workloads} >= {"nightly-embeddings", "sentiment-api"}  # still planned


def test_the_same_plan_fits_when_others_leave_enough(tmp_path):
    batch = plan(tmp_path, "  lambda_reserved_by_others: 842\n")  # 1,000 - 100 - 842 = 58: exactly fits
    assert not batch.failures, [str(f.error) for f in batch.failures]


def test_one_workload_is_sized_within_what_others_leave(tmp_path):
    batch = plan(tmp_path, "  lambda_account_concurrency: 1000\n  lambda_reserved_by_others: 880\n")
    sizes = {w.name: serverless_sizing(w).reserved_concurrency for w in batch.by_target("serverless")}
    assert max(sizes.values()) <= 1000 - 100 - 880


def test_a_negative_figure_is_a_located_validation_error(tmp_path):
    batch = plan(tmp_path, "  lambda_reserved_by_others: -5\n")
    (failure,) = batch.failures
    assert "platform.yaml:2: platform.lambda_reserved_by_others" in str(failure.error)


@pytest.fixture(scope="module")
def fixture_workloads(tmp_path_factory):
    batch = load_all([copy_profiles(tmp_path_factory.mktemp("quota"))])
    assert not batch.failures
    return batch.workloads


def test_a_new_account_with_a_quota_of_10_cannot_host_the_plan(fixture_workloads):
    settings = {"AccountLimit": {"ConcurrentExecutions": 10, "UnreservedConcurrentExecutions": 10}}
    verdict = account_verdict(settings, fixture_workloads, region="us-east-1")
    assert not verdict.fits
    assert verdict.requested == PLAN_RESERVES and verdict.available == 10 - 100
    assert "Allowed: a sum <= 0" in verdict.message()
    assert platform_figures(verdict) == {"lambda_account_concurrency": 10, "lambda_reserved_by_others": 0}


def test_this_installations_own_reservations_are_not_counted_twice(fixture_workloads):
    # Deployed already: the account reports 58 of ours + 830 of others' reserved.
    settings = {"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 112}}
    assert not account_verdict(settings, fixture_workloads, region="us-east-1").fits  # read naively: 888 others
    verdict = account_verdict(settings, fixture_workloads, region="us-east-1", own_reserved=PLAN_RESERVES)
    assert verdict.reserved_by_others == 830 and verdict.available == 70 and verdict.fits
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
