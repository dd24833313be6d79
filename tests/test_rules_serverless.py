"""Serverless rules at plan time: quotas, the init limit, weights region, weights in the image, mode both."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from stacks.errors import DecisionError, ProfileError
from stacks.profile import Target
from stacks.profile.loader import load_profile
from stacks.targets import decide
from stacks.targets.serverless import serverless_sizing
from stacks.workloads import load_all
from tests.cli_helpers import Result
from tests.cli_helpers import switchyard as run_cli
from tests.conftest import ROOT, VALID, copy_profiles


def switchyard(*args: str) -> Result:
    return run_cli(*args, cwd=ROOT)


def profile(tmp_path: Path, text: str, platform: str | None = None, name: str = "demo.yaml") -> Path:
    (tmp_path / "model.py").write_text(
        "def load(weights_dir):\n    return 1\n\ndef predict(model, inputs):\n    return inputs\n"
    )
    if platform is not None:
        (tmp_path / "platform.yaml").write_text(platform)
    path = tmp_path / name
    path.write_text(text)
    return path


def reason(w, rule: str):
    return next(r for r in w.decision.reasons if r.rule == rule)


# ------------------------------------------------------------------ account concurrency


def test_plan_rejects_an_over_quota_set_with_the_numbers(tmp_path):
    profiles = copy_profiles(tmp_path)
    (profiles / "platform.yaml").write_text("platform:\n  lambda_account_concurrency: 140\n")
    r = switchyard("plan", str(profiles))
    assert r.returncode == 3, r.stdout + r.stderr
    # nightly-embeddings reserves 40 (twice its peak), sentiment-api its simulated burst's peak (each within
    # the 40 left): more than 140 - 100 together
    batch = load_all([profiles])
    sentiment = next(serverless_sizing(w).reserved_concurrency for w in batch.workloads if w.name == "sentiment-api")
    assert 0 < sentiment <= 40
    assert f"reserved concurrency of the serverless workloads in us-east-1 sums to {40 + sentiment}" in r.stderr
    assert f"(nightly-embeddings 40, sentiment-api {sentiment})" in r.stderr
    assert "of the account quota 140, Lambda keeps 100 unreserved, which leaves 40 to reserve" in r.stderr
    assert "aws lambda get-account-settings --region us-east-1" in r.stderr  # where the real figures come from
    assert "Traceback" not in r.stderr
    assert "nightly-embeddings -> serverless" in r.stdout  # the plan is still shown


def test_the_same_set_fits_under_the_default_quota(tmp_path):
    r = switchyard("plan", str(copy_profiles(tmp_path)))
    assert r.returncode == 0, r.stderr


def test_one_workload_never_reserves_the_unreserved_pool(tmp_path):
    text = VALID.replace("peak_rps: 20", "peak_rps: 10000").replace("avg_rps: 2", "avg_rps: 100")
    w = decide(load_profile(profile(tmp_path, text)))
    assert w.decision.option(Target.serverless).sizing.reserved_concurrency == 1000 - 100


def test_a_provisioned_ceiling_past_what_the_quota_lets_it_reserve_is_not_serverless(tmp_path):
    """20,000 rps of a cold-start-sensitive model: provisioned concurrency would scale to thousands while
    the reservation stops at the 900 the default quota leaves, and Lambda refuses provisioned
    concurrency above a function's reservation: the plan must not pick a serverless it cannot deploy."""
    text = (
        VALID.replace("peak_rps: 20", "peak_rps: 20000")
        .replace("avg_rps: 2", "avg_rps: 2000")
        .replace("cold_start_budget_ms: 10000", "cold_start_budget_ms: 500")
    )
    w = decide(load_profile(profile(tmp_path, text)))
    s = w.decision.option(Target.serverless).sizing
    assert s.provisioned and s.reserved_concurrency == 1000 - 100 < s.pc_max
    fired = reason(w, "limit.provisioned_reserved")
    assert fired.fired and f"provisioned concurrency up to {s.pc_max:,} > the reserved concurrency 900" in fired.detail
    assert not w.decision.option(Target.serverless).feasible and w.target is not Target.serverless
    # Within the quota the same rule is checked and holds.
    small = decide(
        load_profile(
            profile(tmp_path, VALID.replace("cold_start_budget_ms: 10000", "cold_start_budget_ms: 500"), name="s.yaml")
        )
    )
    held = reason(small, "limit.provisioned_reserved")
    assert small.decision.option(Target.serverless).sizing.provisioned and not held.fired


# ------------------------------------------------------------------ the init limit


def test_plan_flags_an_on_demand_cold_start_over_10_seconds(tmp_path):
    # 2 GB from EFS at 200 MB/s is 10 s, plus 250 ms runtime init, 100 ms image, 500 ms imports and
    # 2 s to deserialize at 1,000 MB/s; a 60 s budget needs no provisioning
    text = VALID.replace("weights_gb: 0.5", "weights_gb: 2").replace(
        "cold_start_budget_ms: 10000", "cold_start_budget_ms: 60000"
    )
    path = profile(tmp_path, text.replace("target: auto", "target: serverless"))
    r = switchyard("plan", str(path))
    assert r.returncode == 0, r.stderr
    line = next(li for li in r.stdout.splitlines() if "coldstart.init_limit" in li)
    assert line.strip().startswith("*")
    assert "on-demand cold start ~12,850 ms > Lambda's 10,000 ms init limit" in line
    assert "warning: on-demand cold start ~12,850 ms" in r.stdout


def test_init_limit_does_not_fire_when_provisioned_or_fast(tmp_path):
    fast = decide(load_profile(profile(tmp_path, VALID)))
    assert not reason(fast, "coldstart.init_limit").fired
    slow = VALID.replace("weights_gb: 0.5", "weights_gb: 2").replace(
        "cold_start_budget_ms: 10000", "cold_start_budget_ms: 500"
    )
    provisioned = decide(load_profile(profile(tmp_path, slow, name="p.yaml")))
    assert provisioned.decision.option(Target.serverless).sizing.provisioned
    assert not reason(provisioned, "coldstart.init_limit").fired


def test_init_limit_fires_outside_a_scheduled_window(tmp_path):
    """Provisioned concurrency scheduled to the active window covers the cold start only inside it:
    a request (or queued message) outside the window starts on demand, and Lambda cuts an init
    over 10 s there just the same."""
    slow = (
        VALID.replace("weights_gb: 0.5", "weights_gb: 2")
        .replace("cold_start_budget_ms: 10000", "cold_start_budget_ms: 500")
        .replace("active_hours_per_day: 10", 'active_hours_per_day: 10\n  active_window: "22:00-08:00 Europe/Berlin"')
        .replace("target: auto", "target: serverless")
    )
    w = decide(load_profile(profile(tmp_path, slow)))
    assert w.decision.option(Target.serverless).sizing.pc_scheduled
    r = reason(w, "coldstart.init_limit")
    assert r.fired
    assert "outside 22:00-08:00 Europe/Berlin" in r.detail
    assert "on-demand cold start ~12,850 ms > Lambda's 10,000 ms init limit" in r.detail
    assert any("init limit" in warning for warning in w.decision.warnings)


# ------------------------------------------------------------------ weights region and key


def test_weights_in_another_region_rule_serverless_out(tmp_path):
    w = decide(load_profile(profile(tmp_path, VALID, "platform:\n  weights_bucket_region: eu-west-1\n")))
    r = reason(w, "limit.weights_region")
    assert r.fired and "eu-west-1 != platform region us-east-1" in r.detail
    assert w.target is Target.kubernetes and not w.decision.option(Target.serverless).feasible


def test_explicit_serverless_with_weights_in_another_region_is_an_error(tmp_path):
    text = VALID.replace("target: auto", "target: serverless")
    with pytest.raises(DecisionError, match="weights bucket in eu-west-1 != platform region us-east-1"):
        decide(load_profile(profile(tmp_path, text, "platform:\n  weights_bucket_region: eu-west-1\n")))


def test_bad_kms_key_setting_is_a_validation_error(tmp_path):
    with pytest.raises(ProfileError, match="weights_kms_key_arn"):
        load_profile(profile(tmp_path, VALID, "platform:\n  weights_kms_key_arn: alias/mine\n"))


@pytest.mark.parametrize(
    ("platform", "line", "message"),
    [
        # CDK made one endpoint of [sqs, sqs] while the bill charged two
        ("  interface_endpoints: [sqs, logs, sqs]\n", "2: platform.interface_endpoints:", "lists 'sqs' more than once"),
        (
            "  interface_endpoints:\n    - sqs\n    - SQS\n",
            "4: platform.interface_endpoints[1]:",
            "AWS service short name",
        ),
        (
            "  interface_endpoints: [com.amazonaws.us-east-1.sqs]\n",
            "2: platform.interface_endpoints[0]:",
            "AWS service short name",
        ),
        # CloudWatch alarms notify a topic of their own region only; the deploy failed
        (
            "  region: eu-west-1\n  alarm_topic_arn: arn:aws:sns:us-east-1:123456789012:alarms\n",
            "3: platform.alarm_topic_arn:",
            "is in region us-east-1, but the platform deploys to eu-west-1",
        ),
        # the default region, us-east-1, when platform.yaml sets none
        (
            "  weights_kms_key_arn: arn:aws:kms:eu-west-1:123456789012:key/1234abcd\n",
            "2: platform.weights_kms_key_arn:",
            "is in region eu-west-1, but the platform deploys to us-east-1",
        ),
    ],
)
def test_platform_settings_the_stack_could_not_honour_are_refused_where_written(tmp_path, platform, line, message):
    path = profile(tmp_path, VALID, "platform:\n" + platform)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    text = str(err.value)
    assert f"{tmp_path / 'platform.yaml'}:{line}" in text and message in text, text


def test_platform_arns_in_the_platform_region_are_accepted(tmp_path):
    platform = (
        "platform:\n  region: eu-west-1\n  interface_endpoints: [sqs, ecr.api]\n"
        "  alarm_topic_arn: arn:aws:sns:eu-west-1:123456789012:alarms\n"
        "  weights_kms_key_arn: arn:aws:kms:eu-west-1:123456789012:key/1234abcd\n"
    )
    settings = load_profile(profile(tmp_path, VALID, platform)).settings.platform
    assert settings.alarm_topic_arn.startswith("arn:aws:sns:eu-west-1:")


def test_a_profile_cannot_point_its_alarms_elsewhere(tmp_path):
    """The platform stack alone creates or names the alarm topic: a profile's own was silently ignored."""
    text = VALID + "overrides:\n  platform:\n    alarm_topic_arn: arn:aws:sns:us-east-1:123456789012:mine\n"
    with pytest.raises(ProfileError, match="'alarm_topic_arn' cannot be overridden for one workload"):
        load_profile(profile(tmp_path, text))


@pytest.mark.parametrize("mode", ["async", "both"])
def test_a_queue_the_account_quota_cannot_reserve_for_is_a_plan_time_error(tmp_path, mode):
    """101 - 100 unreserved leaves 1 to reserve, but an SQS event source starts at least 2 consumers:
    sizing reserved 1 and set the queue to 2, a stack that throttles its own consumers."""
    text = VALID.replace("target: auto", "target: serverless").replace("mode: sync", f"mode: {mode}")
    path = profile(tmp_path, text, "platform:\n  lambda_account_concurrency: 101\n")
    with pytest.raises(DecisionError, match=r"reserved concurrency 1 < \d+ \(the SQS event source's minimum of 2"):
        decide(load_profile(path))
    # auto: serverless is ruled out by it, and says why
    w = decide(load_profile(profile(tmp_path, text.replace("target: serverless", "target: auto"))))
    assert w.target is Target.kubernetes and reason(w, "limit.reserved_concurrency").fired
    # a sync workload fits in the one reservable execution
    w = decide(load_profile(profile(tmp_path, VALID.replace("target: auto", "target: serverless"))))
    assert w.decision.option(Target.serverless).sizing.reserved_concurrency == 1


# ------------------------------------------------------------------ weights in the image


def test_small_local_weights_go_into_the_image_with_the_reason(tmp_path):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.bin").write_bytes(b"\0")  # validation: local weights hold files
    text = VALID.replace("weights: s3://acme-models/demo/v1/", "weights: weights/").replace(
        "weights_gb: 0.5", "weights_gb: 0.4"
    )
    w = decide(load_profile(profile(tmp_path, text)))
    s = w.decision.option(Target.serverless).sizing
    assert s.weights_in_image
    # read with the image at 300 MB/s, not from EFS at 200 MB/s (2,000 ms)
    assert s.cold_start.weights_ms == pytest.approx(400 / 300 * 1000)
    r = reason(w, "coldstart.weights_in_image")
    assert r.fired and "~1,333 ms instead of ~2,000 ms from EFS" in r.detail and "$0.08/month less" in r.detail


def test_large_or_s3_weights_stay_on_efs(tmp_path):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.bin").write_bytes(b"\0")  # validation: local weights hold files
    text = VALID.replace("weights: s3://acme-models/demo/v1/", "weights: weights/").replace(
        "weights_gb: 0.5", "weights_gb: 1.5"
    )
    big = decide(load_profile(profile(tmp_path, text)))
    assert not big.decision.option(Target.serverless).sizing.weights_in_image
    assert not reason(big, "coldstart.weights_in_image").fired
    s3 = decide(load_profile(profile(tmp_path, VALID, name="s3.yaml")))
    assert not s3.decision.option(Target.serverless).sizing.weights_in_image


# ------------------------------------------------------------------ mode both


def test_mode_both_leaves_the_sync_peak_its_share_of_the_reservation(tmp_path):
    text = VALID.replace("mode: sync", "mode: both")
    w = decide(load_profile(profile(tmp_path, text)))
    s = w.decision.option(Target.serverless).sizing
    sync_peak = math.ceil(s.peak_concurrency)
    assert s.queue_max_concurrency <= s.reserved_concurrency - sync_peak
    assert s.queue_max_concurrency >= 2


# ------------------------------------------------------------------ time zones


def test_active_window_accepts_an_iana_time_zone(tmp_path):
    text = VALID.replace("  inference_ms: 80", '  active_window: "08:00-18:00 Europe/Berlin"\n  inference_ms: 80')
    u = load_profile(profile(tmp_path, text)).profile.utilization
    assert u.window_minutes() == (480, 1080) and u.window_timezone() == "Europe/Berlin"


def test_an_unknown_time_zone_is_a_clear_validation_error(tmp_path):
    text = VALID.replace("  inference_ms: 80", '  active_window: "08:00-18:00 Mars/Olympus"\n  inference_ms: 80')
    with pytest.raises(ProfileError, match="unknown time zone 'Mars/Olympus'"):
        load_profile(profile(tmp_path, text))


def test_a_workload_cannot_take_the_platform_stack_name(tmp_path):
    with pytest.raises(ProfileError, match="collides with the shared platform stack Switchyard-Platform"):
        load_profile(profile(tmp_path, VALID.replace("name: demo-api", "name: platform")))


def test_weights_stay_on_efs_when_the_image_would_store_them_dearer(tmp_path):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.bin").write_bytes(b"\0")  # validation: local weights hold files
    text = VALID.replace("weights: s3://acme-models/demo/v1/", "weights: weights/").replace(
        "weights_gb: 0.5", "weights_gb: 0.4"
    )
    w = decide(load_profile(profile(tmp_path, text, "prices:\n  ecr_storage_gb_month_usd: 0.50\n")))
    assert not w.decision.option(Target.serverless).sizing.weights_in_image
    r = reason(w, "coldstart.weights_in_image")
    assert not r.fired and "kept on EFS (no gain)" in r.detail
