"""GPU Lambda Managed Instances (platform.lmi_gpu): planned beside the other targets with a GPU bill
only when the platform turns them on, capped at 48 GiB of GPU memory per environment, refused at
synth with aws-cdk-lib 2.278 named, nothing written.

Every profile is written here, in tmp_path. Bills are recomputed from the price book's inputs
(PriceBook(), Platform()), never pasted.
"""

from __future__ import annotations

import json
import math
from importlib.metadata import version
from pathlib import Path

import pytest

from stacks.decision.cost import DAYS_PER_MONTH
from stacks.ec2_types import gpu_instance_shape
from stacks.errors import ProfileError
from stacks.pricebook import HOURS_PER_MONTH, Platform, PriceBook
from stacks.profile import Target
from stacks.profile.loader import load_profile, load_settings
from stacks.targets import decide
from stacks.targets.managed_instances import managed_instances_sizing
from stacks.workloads import load_all
from tests.cli_helpers import switchyard
from tests.conftest import MODEL

pytestmark = pytest.mark.timeout(300)

NAME = "vision"
GPU_PROFILE = """\
name: vision
target: auto
model:
  preset: custom
  entrypoint: model.py
  weights: weights
  weights_gb: 4
  memory_gb: 6
  gpu: required
  accelerator: L4:1
sla:
  p99_latency_ms: 500
  cold_start_budget_ms: 60000
  mode: async
  timeout_s: 60
utilization:
  avg_rps: 8
  peak_rps: 14
  active_hours_per_day: 24
  inference_ms: 120
"""
PLATFORM = "platform:\n  alarms_without_subscribers: true\n"
GPU_ON = PLATFORM + "  lmi_gpu: true\n"
PRICES = PriceBook()
DEFAULTS = Platform()


def write(dest: Path, platform: str = GPU_ON, edits: dict[str, str] | None = None) -> Path:
    """A profiles directory holding the GPU profile (with `edits`), its model, weights and platform.yaml."""
    dest.mkdir(parents=True, exist_ok=True)
    text = GPU_PROFILE
    for old, new in (edits or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    (dest / f"{NAME}.yaml").write_text(text, encoding="utf-8")
    (dest / "model.py").write_text(MODEL, encoding="utf-8")
    (dest / "weights").mkdir(exist_ok=True)
    (dest / "weights" / "model.bin").write_bytes(b"\0" * 64)
    (dest / "platform.yaml").write_text(platform, encoding="utf-8")
    return dest


def workload(profiles: Path):
    batch = load_all([profiles])
    assert not batch.failures, [str(f.error) for f in batch.failures]
    (w,) = batch.workloads
    return w


def lines(option) -> dict:
    return {line.name: line for line in option.bill.lines}


def fired(option) -> dict[str, str]:
    return {r.rule: r.detail for r in option.blockers}


def test_the_setting_is_off_by_default_and_says_what_it_does():
    assert DEFAULTS.lmi_gpu is False
    description = Platform.model_fields["lmi_gpu"].description or ""
    assert "modelled for planning; synth needs aws-cdk-lib 2.278" in description
    assert DEFAULTS.lmi_accelerator_memory_gib == [3, 6, 12, 16, 24, 48]  # API_AcceleratorConfig's values
    for name in PRICES.ec2_gpu_instance_hour_usd:  # only the family AWS names for GPU LMI
        assert gpu_instance_shape(name).gpu_product == "L4" and name.startswith("g6.")


def test_off_limit_gpu_refuses_and_names_the_setting_that_would_model_it(tmp_path):
    w = workload(write(tmp_path / "off", platform=PLATFORM))
    o = w.decision.option(Target.managed_instances)
    assert not o.feasible and list(fired(o)) == ["limit.gpu"]
    assert "platform.lmi_gpu: true" in fired(o)["limit.gpu"] and "aws-cdk-lib 2.278" in fired(o)["limit.gpu"]
    # No GPU is billed: the indicative bill is of CPU instances, and the option has no GPU side.
    assert lines(o)["instances"].price == "ec2_instance_hour_usd"
    assert managed_instances_sizing(w).accelerator is None


def test_on_a_gpu_profile_plans_managed_instances_with_a_gpu_bill(tmp_path):
    w = workload(write(tmp_path / "on"))
    o = w.decision.option(Target.managed_instances)
    assert o.feasible, fired(o)
    s = managed_instances_sizing(w)
    a, e = s.accelerator, s.environment
    assert a is not None

    # The GPU memory the Kubernetes sizing gives a replica of this model, and the smallest size holding it.
    need = 4 * DEFAULTS.gpu_memory_per_weight_gb
    assert a.need_gb == pytest.approx(need)
    assert a.memory_gib == min(x for x in DEFAULTS.lmi_accelerator_memory_gib if x >= need)
    assert all(x < need for x in DEFAULTS.lmi_accelerator_memory_gib if x < a.memory_gib)

    # The instance carries the pinned L4 and holds the environments it is sized for.
    shape = gpu_instance_shape(e.instance_type)
    assert shape.gpu_product == a.gpu_product == "L4" and shape.gpu_memory_gb >= a.memory_gib
    assert a.environments_per_gpu == math.floor(shape.gpu_memory_gb / a.memory_gib)
    assert e.environments_per_instance <= shape.gpus * a.environments_per_gpu
    assert e.environments_per_instance * e.environment_memory_gb <= shape.memory_gib
    assert e.environment_memory_gb >= 6 and e.architecture == "x86_64" and e.max_concurrency == 1
    # Little's law at the target utilization, never below LMI's three, one per instance at least.
    u = DEFAULTS.lmi_target_utilization
    assert e.min_environments == max(
        DEFAULTS.lmi_min_execution_environments, math.ceil(8 * 0.12 / u), math.ceil(7 * 0.12 / u)
    )
    assert e.always_on_instances == max(
        DEFAULTS.lmi_min_execution_environments, math.ceil(e.min_environments / e.environments_per_instance)
    )

    # The bill: the always-on GPU floor, 15 % of its EC2 price, and the request charge.
    hourly = PRICES.ec2_gpu_instance_hour_usd[e.instance_type]
    bill = lines(o)
    hours = e.always_on_instances * HOURS_PER_MONTH
    assert bill["instances"].price == "ec2_gpu_instance_hour_usd"
    assert bill["instances"].quantity == hours and bill["instances"].unit_price_usd == hourly
    assert bill["instances"].usd == round(hours * hourly, 2)
    assert bill["management_fee"].usd == round(hours * hourly * PRICES.lmi_management_fee_share, 2)
    batch = managed_instances_sizing(w).messages_per_invocation
    invocations = 8 * 24 * 3600 * DAYS_PER_MONTH / batch
    assert bill["requests"].usd == round(invocations / 1e6 * PRICES.lmi_requests_per_million_usd, 2)
    assert f"{a.memory_gib} GiB of L4 GPU memory" in bill["instances"].basis
    assert o.bill.total == pytest.approx(sum(line.usd for line in o.bill.lines))

    # Compared beside the other targets, with its reasons.
    compare = next(r for r in w.decision.reasons if r.rule == "cost.compare")
    assert f"managed-instances ${o.bill.total:,.2f}/month ({e.instance_type})" in compare.detail
    rules = {r.rule: r for r in o.reasons}
    assert not rules["limit.gpu"].fired and "AcceleratorConfig" in rules["limit.gpu"].detail
    assert f"{a.memory_gib} GiB of GPU memory" in rules["lmi.environment"].detail
    assert "GPU utilization" in rules["lmi.environment"].detail


def test_the_cheapest_gpu_type_that_holds_the_environments_wins(tmp_path):
    default = managed_instances_sizing(workload(write(tmp_path / "default"))).environment
    assert default.instance_type == "g6.xlarge"  # the cheapest per instance, and it holds them
    # Re-priced in platform.yaml (maps merge key by key), a larger type becomes the cheaper floor.
    cheaper = GPU_ON + "prices:\n  ec2_gpu_instance_hour_usd:\n    g6.2xlarge: 0.5\n"
    w = workload(write(tmp_path / "repriced", platform=cheaper))
    e = managed_instances_sizing(w).environment
    assert e.instance_type == "g6.2xlarge"
    line = lines(w.decision.option(Target.managed_instances))["instances"]
    assert line.unit_price_usd == 0.5 and "set by your platform file" in line.source


def test_a_model_above_48_gib_per_environment_is_not_feasible(tmp_path):
    # 4 GB of weights with room for a long KV cache: 4 x 13 = 52 GB of GPU memory (the image stays small).
    headroom = GPU_ON + "  gpu_memory_per_weight_gb: 13\n"
    w = workload(write(tmp_path / "big", platform=headroom))
    o = w.decision.option(Target.managed_instances)
    need = 4 * 13
    assert not o.feasible and list(fired(o)) == ["limit.accelerator_memory"]
    detail = fired(o)["limit.accelerator_memory"]
    assert f"GPU memory {need:g} GB per environment" in detail and "48 GiB" in detail
    assert "AcceleratorMemorySize 3, 6, 12, 16, 24, 48 GiB" in detail
    assert w.target is not Target.managed_instances
    # Still billed (indicatively), so the plan shows what it would have cost.
    assert lines(o)["instances"].price == "ec2_gpu_instance_hour_usd"


def test_a_size_no_priced_gpu_holds_needs_a_type_added(tmp_path):
    # 4 GB x 7.5 = 30 GB needs the 48 GiB size: no L4 holds it, and only g6e (L40S) would.
    headroom = GPU_ON + "  gpu_memory_per_weight_gb: 7.5\n"
    w = workload(write(tmp_path / "l4", platform=headroom))
    o = w.decision.option(Target.managed_instances)
    assert list(fired(o)) == ["limit.gpu"]
    assert "an environment of 48 GiB needs a GPU of at least 48 GB" in fired(o)["limit.gpu"]
    assert "L4 (g6.xlarge" in fired(o)["limit.gpu"] and "g6e" in fired(o)["limit.gpu"]
    edits = {"accelerator: L4:1\n": "accelerator: L40S:1\n"}
    w = workload(write(tmp_path / "l40s", platform=headroom, edits=edits))
    o = w.decision.option(Target.managed_instances)
    assert "pins L40S" in fired(o)["limit.gpu"] and "L4 (g6.xlarge" in fired(o)["limit.gpu"]
    added = headroom + "prices:\n  ec2_gpu_instance_hour_usd:\n    g6e.xlarge: 1.861\n"
    w = workload(write(tmp_path / "g6e", platform=added, edits=edits))
    o = w.decision.option(Target.managed_instances)
    assert o.feasible, fired(o)
    s = managed_instances_sizing(w)
    assert (s.environment.instance_type, s.accelerator.memory_gib, s.accelerator.gpu_product) == (
        "g6e.xlarge",
        48,
        "L40S",
    )


@pytest.mark.parametrize(
    ("edits", "expect"),
    [
        ({"accelerator: L4:1\n": "accelerator: A100-80GB:1\n"}, "pins A100-80GB"),
        ({"accelerator: L4:1\n": "accelerator: L4:2\n"}, "asks for 2 GPUs per replica"),
    ],
)
def test_what_gpu_lmi_cannot_run_is_not_feasible(tmp_path, edits, expect):
    o = workload(write(tmp_path / "x", edits=edits)).decision.option(Target.managed_instances)
    assert not o.feasible and expect in fired(o)["limit.gpu"]


def test_plan_json_carries_the_option(tmp_path):
    on = switchyard("plan", "--json", str(write(tmp_path / "on")), cwd=tmp_path)
    assert on.returncode == 0, on.stderr
    (doc,) = json.loads(on.stdout)["workloads"]
    sizing = doc["sizing"]["managed-instances"]
    assert sizing["accelerator"]["memory_gib"] == 6 and sizing["accelerator"]["gpu_product"] == "L4"
    assert doc["options"]["managed-instances"] == {**doc["options"]["managed-instances"], "feasible": True}
    first = doc["cost_usd_month"]["managed-instances"]["lines"][0]
    assert first["price"] == "prices.ec2_gpu_instance_hour_usd" and "as of 2026-12-03" in first["source"]
    names = {a["name"] for a in doc["assumptions"]}
    assert {"managed_instances.environments_per_gpu", "managed_instances.gpu_fee"} <= names

    off = switchyard("plan", "--json", str(write(tmp_path / "off", platform=PLATFORM)), cwd=tmp_path)
    (doc,) = json.loads(off.stdout)["workloads"]
    assert "accelerator" not in doc["sizing"]["managed-instances"]
    assert doc["options"]["managed-instances"]["blockers"] == ["limit.gpu"]
    assert not any(a["name"].startswith("managed_instances.") for a in doc["assumptions"])


def _nothing_written(cwd: Path, marker: Path) -> None:
    assert not (cwd / "build").exists() and not (cwd / "k8s.out").exists()
    assert [p.name for p in (cwd / "cdk.out").iterdir()] == [marker.name]  # the previous output, untouched
    assert not [p for p in cwd.iterdir() if ".staging-" in p.name or ".old-" in p.name]


def test_synth_refuses_an_explicit_gpu_managed_instances_target_and_writes_nothing(tmp_path):
    profiles = write(tmp_path / "profiles", edits={"target: auto\n": "target: managed-instances\n"})
    plan = switchyard("plan", str(profiles), cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "modelled for planning only" in plan.stdout and "aws-cdk-lib 2.278" in plan.stdout

    marker = tmp_path / "cdk.out" / "previous.txt"
    marker.parent.mkdir()
    marker.write_text("the last good synth", encoding="utf-8")
    r = switchyard("synth", str(profiles), cwd=tmp_path)
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if "cannot be synthesized" in line]
    assert len(errors) == 1, r.stderr
    target_line = GPU_PROFILE.splitlines().index("target: auto") + 1
    assert f"{NAME}.yaml:{target_line}: target: managed-instances with a GPU" in errors[0]
    assert "aws-cdk-lib 2.278 adds" in errors[0] and f"aws-cdk-lib {version('aws-cdk-lib')}" in errors[0]
    assert "no unvalidated property override" in errors[0]
    assert "allowed: target: kubernetes" in r.stderr and "nothing written" in r.stderr
    _nothing_written(tmp_path, marker)
    assert marker.read_text(encoding="utf-8") == "the last good synth"


def test_synth_refuses_it_when_auto_chooses_it_too(tmp_path):
    # A platform without a cluster: the GPU option on managed instances is the only feasible one.
    platform = GPU_ON + "  targets: [serverless, managed-instances]\n"
    profiles = write(tmp_path / "profiles", platform=platform)
    assert workload(profiles).target is Target.managed_instances
    marker = tmp_path / "cdk.out" / "previous.txt"
    marker.parent.mkdir()
    marker.write_text("kept", encoding="utf-8")
    r = switchyard("synth", str(profiles), cwd=tmp_path)
    assert r.returncode != 0 and "target: auto chose managed-instances with a GPU" in r.stderr
    gpu_line = GPU_PROFILE.splitlines().index("  gpu: required") + 1
    assert f"{NAME}.yaml:{gpu_line}:" in r.stderr and "platform.lmi_gpu: false" in r.stderr
    _nothing_written(tmp_path, marker)


@pytest.mark.parametrize(
    ("setting", "path", "line", "expect"),
    [
        ("  lmi_gpu: 'yes'\n", "platform.lmi_gpu", 3, "must be a valid boolean (got 'yes')"),
        ("  lmi_accelerator_memory_gib: [5]\n", "platform.lmi_accelerator_memory_gib[0]", 3, "3, 6, 12, 16, 24 or 48"),
        (
            "prices:\n  ec2_gpu_instance_hour_usd:\n    p4d.24xlarge: 32.77\n",
            "prices.ec2_gpu_instance_hour_usd",
            4,
            "'p4d.24xlarge' is not a GPU instance type Switchyard can size: g5 (A10G), g6 (L4) or g6e (L40S)",
        ),
    ],
)
def test_a_bad_gpu_setting_is_a_located_error(tmp_path, setting, path, line, expect):
    (tmp_path / "platform.yaml").write_text(PLATFORM + setting, encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        load_settings(tmp_path)
    (problem,) = err.value.problems
    assert (problem.path, problem.line) == (path, line), str(err.value)
    assert str(err.value).startswith(f"{tmp_path / 'platform.yaml'}:{line}: {path}: ")
    assert expect in str(err.value)
    if path == "platform.lmi_gpu":  # what is allowed, first (the line is clipped), then the setting's description
        assert (problem.allowed or "").startswith(
            "true or false (YAML 1.2: yes, no, on, off, 1 and quoted text are not)"
        )
        assert "allowed: true or false" in str(err.value)
        assert "modelled for planning; synth needs aws-cdk-lib 2.278" in (problem.allowed or "")


def test_one_profile_cannot_turn_gpu_managed_instances_on(tmp_path):
    profiles = write(tmp_path, platform=PLATFORM)
    path = profiles / f"{NAME}.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "overrides:\n  platform:\n    lmi_gpu: true\n")
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    (problem,) = err.value.problems
    assert problem.path == "overrides.platform.lmi_gpu" and "cannot be overridden for one workload" in problem.message
    assert problem.hint == "set platform.lmi_gpu in platform.yaml beside the profiles"


def test_a_cpu_profile_is_planned_as_before_with_the_setting_on(tmp_path):
    cpu = {"  gpu: required\n  accelerator: L4:1\n": "  gpu: none\n", "weights_gb: 4\n": "weights_gb: 0.5\n"}
    off = decide(load_profile(write(tmp_path / "off", platform=PLATFORM, edits=cpu) / f"{NAME}.yaml"))
    on = decide(load_profile(write(tmp_path / "on", edits=cpu) / f"{NAME}.yaml"))
    assert on.decision.model_dump() == off.decision.model_dump()
