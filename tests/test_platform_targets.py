"""platform.targets: the targets a platform offers. `auto` chooses among them only, the plan still
bills the others (marked not offered), and a profile naming another target is refused where it says so.

The done-when of issue 19 for a platform without a cluster: the steady CPU fixture (tests/fixtures/
steady_cpu, which under the default platform goes to a Kubernetes CPU share) chooses
managed-instances and synthesizes an AWS::Lambda::CapacityProvider.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stacks.decision.decide import decide as decide_over
from stacks.errors import DecisionError, ProfileError
from stacks.pricebook import TARGET_NAMES, Platform, Settings
from stacks.profile import Target
from stacks.profile.loader import LoadedProfile, load_profile, load_settings
from stacks.targets import TARGETS
from stacks.targets.managed_instances import managed_instances_sizing
from stacks.targets.serverless.installation import instances_stack
from stacks.workloads import load_all
from tests.cli_helpers import switchyard
from tests.conftest import FIXTURES, IN_PROCESS_CDK, VALID

pytestmark = pytest.mark.timeout(300)
NAME = "steady-scoring"
NO_CLUSTER = "  targets: [serverless, managed-instances]\n"


def steady(dest: Path, platform_extra: str = NO_CLUSTER, target: str = "auto") -> Path:
    profiles = dest / "profiles"
    shutil.copytree(FIXTURES / "steady_cpu", profiles)
    profile = profiles / f"{NAME}.yaml"
    text = profile.read_text(encoding="utf-8")
    assert "\ntarget: managed-instances\n" in text
    profile.write_text(text.replace("\ntarget: managed-instances\n", f"\ntarget: {target}\n"), encoding="utf-8")
    platform = profiles / "platform.yaml"
    platform.write_text(platform.read_text(encoding="utf-8") + platform_extra, encoding="utf-8")
    return profiles


def only(profiles: Path):
    batch = load_all([profiles])
    assert not batch.failures, [str(f.error) for f in batch.failures]
    (w,) = batch.workloads
    return w


def test_the_setting_names_exactly_the_registered_targets():
    assert set(TARGET_NAMES) == {t.value for t in Target if t is not Target.auto}
    assert Platform().targets == [t.target.value for t in TARGETS]  # default: every target offered


def test_without_a_cluster_auto_chooses_the_cheapest_offered_target(tmp_path):
    everything = only(steady(tmp_path / "all", platform_extra=""))
    w = only(steady(tmp_path / "no-cluster"))
    bills = {t: o.bill.total for t, o in w.decision.options.items()}
    # The same bills as on a platform offering everything: leaving a target out changes no price.
    assert bills == {t: o.bill.total for t, o in everything.decision.options.items()}
    cheapest_overall = min(bills, key=bills.get)
    assert everything.target is cheapest_overall and cheapest_overall.value not in NO_CLUSTER
    offered = [Target.serverless, Target.managed_instances]
    assert w.target is min(offered, key=bills.get) is Target.managed_instances
    assert bills[Target.managed_instances] < bills[Target.serverless]
    for t, o in w.decision.options.items():
        assert o.feasible is (t in offered)
        assert [r.rule for r in o.not_offered] == ([] if t in offered else ["platform.not_offered"])
    compare = next(r for r in w.decision.reasons if r.rule == "cost.compare")
    assert f"kubernetes ${bills[Target.kubernetes]:,.2f}/month (not offered by the platform)" in compare.detail
    sentence = w.decision.reasons[-1].detail
    assert sentence.startswith("managed-instances: cheapest option") and "kubernetes not offered" in sentence


def test_a_spiky_profile_gets_managed_instances_only_on_a_floor_that_holds_its_peak(tmp_path):
    """Peak 8x the average, around the clock. LMI scales asynchronously and throttles traffic that more
    than doubles within 5 minutes, and the busiest minute arrives faster than that: only environments
    already running serve the burst. Sized on half the peak, the floor served 288 of the 400 rps and
    billed $1,600.16 against serverless's $1,611.07, so auto chose managed-instances on a floor that
    could not serve the burst. Billed on a floor that holds the peak, it is compared fairly: auto takes
    it only when that is still the cheapest feasible option (serverless's provisioned floor is itself
    sized from the simulated burst)."""
    profiles = steady(tmp_path)
    path = profiles / f"{NAME}.yaml"
    text = path.read_text(encoding="utf-8")
    for old, new in (
        ("avg_rps: 150", "avg_rps: 50"),
        ("peak_rps: 200", "peak_rps: 400"),
        ("memory_gb: 2\n", "memory_gb: 8\n"),
    ):
        assert old in text
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    w = only(profiles)
    lmi = managed_instances_sizing(w)
    e, inference_s = lmi.environment, w.profile.utilization.inference_ms / 1000
    # the floor alone serves the peak at the target utilization: 400 rps x 0.08 s / 0.7 = 45.7 -> 46
    assert e.min_environments == e.max_environments == 46
    assert e.min_environments * e.max_concurrency / inference_s * e.target_utilization >= 400
    burst = next(r for r in w.decision.option(Target.managed_instances).reasons if r.rule == "lmi.burst")
    assert burst.fired and "8.0x the average" in burst.detail and "holds the peak" in burst.detail
    # The floor's always-on bill is what the option costs: 46 environments on the chosen type.
    instances = next(li for li in w.decision.option(Target.managed_instances).bill.lines if li.name == "instances")
    assert "(46 environment(s)" in instances.basis
    feasible = {t: o.bill.total for t, o in w.decision.options.items() if o.feasible}
    assert Target.managed_instances in feasible
    assert w.target is min(feasible, key=feasible.get)


def test_managed_instances_beyond_the_apis_scale_is_not_planned(tmp_path):
    """20,000 rps of 1 s predictions on one-vCPU environments: 28,572 at the peak, where a function scales
    to 15,000 and a capacity provider to 15,000 vCPUs. Plan chose managed-instances and synth refused it."""
    profiles = steady(tmp_path, platform_extra="")  # every target offered
    path = profiles / f"{NAME}.yaml"
    text = path.read_text(encoding="utf-8")
    for old, new in (
        ("avg_rps: 150", "avg_rps: 15000"),
        ("peak_rps: 200", "peak_rps: 20000"),
        ("inference_ms: 80", "inference_ms: 1000"),
        ("p99_latency_ms: 300", "p99_latency_ms: 3000"),
    ):
        assert old in text
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    w = only(profiles)
    lmi = w.decision.option(Target.managed_instances)
    scale = next(r for r in lmi.reasons if r.rule == "limit.scale")
    assert scale.fired and "28,572 execution environments" in scale.detail and "15,000" in scale.detail
    assert not lmi.feasible and w.target is Target.kubernetes
    # Without a cluster no target can host it: plan says so (and why not managed-instances), not synth.
    (profiles / "platform.yaml").write_text((profiles / "platform.yaml").read_text() + NO_CLUSTER)
    (failure,) = load_all([profiles]).failures
    assert "no target can host" in str(failure.error) and "28,572 execution environments" in str(failure.error)


def test_plan_shows_every_bill_and_marks_the_ones_not_offered(tmp_path):
    profiles = steady(tmp_path)
    r = switchyard("plan", str(profiles), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    cost = next(line for line in r.stdout.splitlines() if line.strip().startswith("cost:"))
    assert cost.count("(not offered by platform.targets)") == 2
    assert "hybrid $" in cost and "kubernetes $" in cost
    j = switchyard("plan", "--json", str(profiles), cwd=tmp_path)
    (doc,) = json.loads(j.stdout)["workloads"]
    assert doc["target"] == "managed-instances" and set(doc["cost_usd_month"]) >= set(TARGET_NAMES)
    assert {r["detail"].split()[0] for r in doc["reasons"] if r["rule"] == "platform.not_offered"} == {
        "kubernetes",
        "hybrid",
    }


@IN_PROCESS_CDK
def test_synth_on_a_platform_without_a_cluster_builds_a_capacity_provider(tmp_path):
    r = switchyard("synth", str(steady(tmp_path)), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    template = json.loads((tmp_path / "cdk.out" / f"{instances_stack(NAME)}.template.json").read_text(encoding="utf-8"))
    types = [res["Type"] for res in template["Resources"].values()]
    assert types.count("AWS::Lambda::CapacityProvider") == 1
    assert not (tmp_path / "k8s.out").exists() or not any((tmp_path / "k8s.out").rglob(f"*{NAME}*"))


def test_an_explicit_target_the_platform_does_not_offer_is_refused_at_its_line(tmp_path):
    profiles = steady(tmp_path, target="kubernetes")
    with pytest.raises(ProfileError) as err:
        load_profile(profiles / f"{NAME}.yaml")
    (problem,) = err.value.problems
    lines = (profiles / f"{NAME}.yaml").read_text(encoding="utf-8").splitlines()
    assert lines[problem.line - 1] == "target: kubernetes"
    assert problem.path == "target" and "not offered by this platform" in problem.message
    assert problem.allowed == "target: auto or one of serverless, managed-instances"
    r = switchyard("validate", str(profiles), cwd=tmp_path)
    assert r.returncode != 0 and f"{NAME}.yaml:{problem.line}" in r.stdout + r.stderr


def test_the_decision_refuses_it_too_when_handed_such_settings(write_profile):
    # A caller that builds its own LoadedProfile (no validation) still gets the located refusal.
    loaded = load_profile(write_profile(VALID.replace("target: auto", "target: serverless")))
    settings = Settings(platform=Platform(targets=["kubernetes"]))
    other = LoadedProfile(loaded.profile, loaded.file, settings, loaded.lines)
    with pytest.raises(
        DecisionError, match=r"target: serverless is not offered .* Allowed: target: kubernetes or auto"
    ):
        decide_over(other, TARGETS)


@pytest.mark.parametrize(
    ("value", "expect"),
    [
        ("[serverless, managed-instance]", "did you mean 'managed-instances'?"),
        ("[auto]", "or 'hybrid' (got 'auto')"),
        ("[serverless, serverless]", "'serverless' more than once"),
        ("[]", "at least 1"),
    ],
)
def test_a_bad_targets_setting_is_a_located_error(tmp_path, value, expect):
    (tmp_path / "platform.yaml").write_text(f"platform:\n  region: us-east-1\n  targets: {value}\n", encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        load_settings(tmp_path)
    (problem,) = err.value.problems
    text = str(err.value)
    assert problem.line == 3 and problem.path.startswith("platform.targets"), text
    assert expect in text
    if "got" in expect or "did you mean" in expect:
        assert "'serverless', 'kubernetes', 'managed-instances' or 'hybrid'" in text  # the allowed values


def test_one_profile_cannot_override_what_the_platform_offers(tmp_path):
    profiles = steady(tmp_path, platform_extra="")
    path = profiles / f"{NAME}.yaml"
    path.write_text(
        path.read_text(encoding="utf-8") + "overrides:\n  platform:\n    targets: [kubernetes]\n", encoding="utf-8"
    )
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert "'targets' cannot be overridden for one workload" in str(err.value)
