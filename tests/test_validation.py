"""Every validation rule, with the exact message a user sees (golden messages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.errors import ProfileError
from stacks.profile.loader import load_profile
from tests.conftest import VALID


def errors_of(path: Path) -> str:
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    return str(info.value).replace(str(path), "P")


def test_valid_profile_loads(write_profile):
    loaded = load_profile(write_profile(VALID))
    assert loaded.profile.name == "demo-api"
    assert loaded.profile.model.memory_gb == 2
    assert loaded.line_of("utilization", "inference_ms") == 20


GOLDEN = {
    "unknown key with a suggestion": (
        ("  memory_gb: 2\n", "  memroy_gb: 2\n"),
        "P:4: model.memory_gb: required key is missing\n"
        "    allowed: RAM per replica in GB, 0.125-2048 (and at most a node's memory)\n"
        "P:9: model.memroy_gb: unknown key 'memroy_gb'\n"
        "    allowed: keys: accelerator, args, batching, entrypoint, gpu, image_gb, memory_gb, preset, requirements, weights, weights_gb\n"
        "    hint: did you mean 'memory_gb'?",
    ),
    "bad enum with a suggestion": (
        ("target: auto", "target: serverles"),
        "P:3: target: must be 'auto', 'serverless', 'kubernetes', 'managed-instances' or 'hybrid' (got 'serverles')\n"
        "    allowed: auto | serverless | kubernetes | managed-instances | hybrid\n"
        "    hint: did you mean 'serverless'?",
    ),
    "number out of range": (
        ("  weights_gb: 0.5", "  weights_gb: -1"),
        "P:8: model.weights_gb: must be greater than or equal to 0.001 (got -1)\n"
        "    allowed: size of the weights in GB, 0.001-2048",
    ),
    "not a number": (
        ("  avg_rps: 2", "  avg_rps: lots"),
        "P:17: utilization.avg_rps: must be a valid number (got 'lots')\n"
        "    allowed: average requests per second over the active hours, 0-1,000,000",
    ),
    "name not a DNS label": (
        ("name: demo-api", "name: Demo_API"),
        "P:2: name: is not in the allowed format (got 'Demo_API')\n"
        "    allowed: lowercase letters, digits and '-', starting with a letter, at most 40 characters "
        "(a DNS-1123 label with room for suffixes)",
    ),
    "hours out of range": (
        ("  active_hours_per_day: 10", "  active_hours_per_day: 30"),
        "P:19: utilization.active_hours_per_day: must be less than or equal to 24 (got 30)\n"
        "    allowed: hours per day with traffic, 0.01-24",
    ),
    "duplicate key": (
        ("  mode: sync\n", "  mode: sync\n  mode: async\n"),
        "P:15: sla.mode: duplicate key 'mode' (first set on line 14)\n"
        "    hint: keep one of the two: YAML would silently use the last",
    ),
    "missing section": (
        ("sla:\n  p99_latency_ms: 300\n  cold_start_budget_ms: 10000\n  mode: sync\n  timeout_s: 30\n", ""),
        "P:1: sla: required key is missing",
    ),
    "gpu required needs an accelerator": (
        ("  gpu: none", "  gpu: required"),
        "P:10: model.gpu: gpu is 'required' but model.accelerator is not set\n"
        "    allowed: set model.accelerator as TYPE:COUNT, e.g. A100-80GB:1",
    ),
    "accelerator without gpu": (
        ("  gpu: none", "  gpu: none\n  accelerator: L4:1"),
        "P:11: model.accelerator: accelerator 'L4:1' is set but model.gpu is 'none'\n"
        "    hint: set gpu: optional or gpu: required, or remove accelerator",
    ),
    "accelerator format": (
        ("  gpu: none", "  gpu: required\n  accelerator: A100"),
        "P:11: model.accelerator: is not in the allowed format (got 'A100')\n"
        "    allowed: GPU product and count as TYPE:COUNT, e.g. A100-80GB:1; required when gpu is required",
    ),
    "accelerator without a price": (
        ("  gpu: none", "  gpu: required\n  accelerator: B200:1"),
        "P:11: model.accelerator: no price for GPU product 'B200'\n"
        "    allowed: GPU products in the price book: A100-80GB, H100-80GB, L4, L40S, T4\n"
        "    hint: add it under prices.gpu_node_hour_usd in platform.yaml or overrides",
    ),
    "more GPUs than a node has": (
        ("  gpu: none", "  gpu: required\n  accelerator: L4:9"),
        "P:11: model.accelerator: 9 GPUs per replica, but a node has 8\n"
        "    allowed: a count from 1 to 8 (platform gpus_per_node)",
    ),
    "peak below average": (
        ("  peak_rps: 20", "  peak_rps: 1"),
        "P:18: utilization.peak_rps: peak_rps 1 is below avg_rps 2\n    allowed: peak_rps >= avg_rps",
    ),
    "window disagrees with hours": (
        ("  active_hours_per_day: 10", '  active_hours_per_day: 10\n  active_window: "08:00-20:00 UTC"'),
        "P:20: utilization.active_window: '08:00-20:00 UTC' is 12 h long but active_hours_per_day is 10\n"
        "    allowed: a window within 0.5 h of active_hours_per_day",
    ),
    "window format": (
        ("  active_hours_per_day: 10", '  active_hours_per_day: 10\n  active_window: "8-18"'),
        "P:20: utilization.active_window: is not in the allowed format (got '8-18')\n"
        '    allowed: daily window with traffic as "HH:MM-HH:MM ZONE", ZONE UTC or an IANA time zone, '
        'e.g. "08:00-18:00 UTC" or "08:00-18:00 Europe/Berlin"',
    ),
    "prediction longer than the timeout": (
        ("  inference_ms: 80", "  inference_ms: 31000"),
        "P:12: sla.p99_latency_ms: p99 target 300 ms is below the average inference time 31000 ms: no target can meet it\n"
        "    allowed: p99_latency_ms >= utilization.inference_ms\n"
        "P:20: utilization.inference_ms: one prediction (31000 ms) takes longer than sla.timeout_s (30 s)\n"
        "    allowed: inference_ms <= timeout_s x 1000",
    ),
    "custom needs an entrypoint": (
        ("  entrypoint: model.py\n", ""),
        "P:4: model.entrypoint: required key is missing for preset 'custom'\n"
        "    allowed: a Python file defining load(weights_dir) and predict(model, inputs)",
    ),
    "entrypoint must be Python": (
        ("  entrypoint: model.py", "  entrypoint: model.sh"),
        "P:6: model.entrypoint: must be a Python file (got 'model.sh')\n    allowed: a path ending in .py, relative to the profile",
    ),
    "entrypoint must be importable": (
        ("  entrypoint: model.py", "  entrypoint: model.v2.py"),
        "P:6: model.entrypoint: 'model.v2.py': 'model.v2' is not an importable Python module name\n"
        "    allowed: a file name matching [A-Za-z_][A-Za-z0-9_]*.py that is not a Python keyword (e.g. model_v2.py)",
    ),
    "entrypoint may not be a keyword": (
        ("  entrypoint: model.py", "  entrypoint: models/class.py"),
        "P:6: model.entrypoint: 'models/class.py': 'class' is not an importable Python module name\n"
        "    allowed: a file name matching [A-Za-z_][A-Za-z0-9_]*.py that is not a Python keyword (e.g. model_v2.py)",
    ),
    "vllm runs no user code and needs a GPU and a model": (
        ("  preset: custom", "  preset: vllm"),
        "P:4: model.args: preset 'vllm' needs args.model\n"
        "    allowed: the served model's name, e.g. model: meta-llama/Llama-3.1-8B-Instruct\n"
        "P:6: model.entrypoint: preset 'vllm' runs no user code, but entrypoint is set\n"
        "    hint: remove entrypoint, or use preset: custom\n"
        "P:10: model.gpu: preset 'vllm' needs a GPU (got 'none')\n"
        "    allowed: required",
    ),
    "bad S3 URI": (
        ("s3://acme-models/demo/v1/", "s3://Acme_Models/demo/"),
        "P:7: model.weights: not a valid S3 URI (got 's3://Acme_Models/demo/')\n"
        "    allowed: s3://bucket/prefix/ with a lowercase bucket name of 3-63 characters",
    ),
    "http_api cannot hold a request past 29 s": (
        ("  timeout_s: 30", "  timeout_s: 30\n  endpoint: http_api"),
        "P:16: sla.endpoint: API Gateway HTTP APIs end a request after 29 s, but sla.timeout_s is 30\n"
        "    allowed: timeout_s <= 29 with http_api\n"
        "    hint: use endpoint: function_url (no 29 s cap)",
    ),
    "http_api on an async workload": (
        ("  mode: sync", "  mode: async\n  endpoint: http_api"),
        "P:15: sla.endpoint: an async workload has no HTTP endpoint, but endpoint is 'http_api'\n"
        "    hint: remove endpoint, or use mode: sync or both",
    ),
    "unknown override key": (
        ("  inference_ms: 80\n", "  inference_ms: 80\noverrides:\n  prices:\n    lambda_gb_s_usd: 1\n"),
        "P:23: overrides.prices.lambda_gb_s_usd: unknown key 'lambda_gb_s_usd'\n"
        "    allowed: keys: as_of, cloudwatch_alarm_month_usd, cloudwatch_logs_ingest_gb_usd, cloudwatch_metric_month_usd, "
        "cpu_node_hour_usd, ec2_gpu_instance_hour_usd, ec2_instance_hour_usd, ecr_storage_gb_month_usd, "
        "efs_elastic_read_gb_usd, efs_storage_gb_month_usd, gpu_node_hour_usd, http_api_requests_per_million_usd, "
        "lambda_arm_gb_s_tiers_usd, lambda_arm_gb_s_usd, lambda_arm_tier_limits_gb_s, lambda_pc_arm_gb_s_usd... "
        "(452 more characters)\n"
        "    hint: did you mean 'lambda_x86_gb_s_usd'?",
    ),
    "override out of range keeps its line": (
        ("  inference_ms: 80\n", "  inference_ms: 80\noverrides:\n  platform:\n    lambda_architecture: sparc\n"),
        "P:23: overrides.platform.lambda_architecture: must be 'x86_64' or 'arm64' (got 'sparc')\n"
        "    allowed: Lambda architecture: x86_64 | arm64. x86_64 by default because images are usually built on x86 CI runners.",
    ),
}


@pytest.mark.parametrize("case", list(GOLDEN), ids=list(GOLDEN))
def test_golden_message(case, write_profile):
    (old, new), expected = GOLDEN[case]
    assert old in VALID, f"test setup: {old!r} not in the base profile"
    text = VALID.replace(old, new)
    assert errors_of(write_profile(text)) == expected


def test_all_problems_of_a_stage_are_reported_at_once(write_profile):
    text = (
        VALID.replace("target: auto", "target: cloud")
        .replace("  weights_gb: 0.5", "  weights_gb: 0")
        .replace("  mode: sync", "  mode: sometimes")
    )
    message = errors_of(write_profile(text))
    assert [line.split(":")[2].strip() for line in message.splitlines() if line.startswith("P:")] == [
        "target",
        "model.weights_gb",
        "sla.mode",
    ]


def test_yaml_syntax_error_names_the_line(write_profile):
    text = VALID.replace("  mode: sync", "  mode: [sync")
    assert errors_of(write_profile(text)).startswith("P:15: YAML syntax error:")


def test_empty_file(write_profile):
    assert errors_of(write_profile("")) == (
        "P:1: the file is empty\n    allowed: a profile mapping (name, model, sla, utilization)"
    )


def test_document_must_be_a_mapping(write_profile):
    assert errors_of(write_profile("- a\n- b\n")) == (
        "P:1: the document is a list, not a mapping\n    allowed: a profile mapping (name, model, sla, utilization)"
    )


def test_unsafe_yaml_tags_are_refused(write_profile):
    text = VALID.replace("name: demo-api", "name: !!python/object/apply:os.system ['true']")
    assert (
        errors_of(write_profile(text))
        == "P:2: YAML error: unsupported YAML tag tag:yaml.org,2002:python/object/apply:os.system"
    )
    scalar = VALID.replace("name: demo-api", "name: !!python/name:os.system ''")
    assert errors_of(write_profile(scalar)).startswith("P:2: YAML error: unsupported YAML tag")


def test_yml_suffix_gets_a_rename_hint(write_profile):
    path = write_profile(VALID, name="demo.yml")
    assert errors_of(path) == (
        "P: profile files end in .yaml\n"
        "    hint: rename it: git mv P "
        f"{path.with_suffix('.yaml')} (the CDK app and the Pulumi program read *.yaml only)"
    )


def test_missing_yaml_points_at_the_yml_sibling(write_profile):
    path = write_profile(VALID, name="demo.yml")
    wanted = path.with_suffix(".yaml")
    with pytest.raises(ProfileError) as info:
        load_profile(wanted)
    assert str(info.value) == f"{wanted}: no such file\n    hint: did you mean {path}?"


def test_platform_file_overrides_every_profile_beside_it(write_profile):
    path = write_profile(VALID.replace("  gpu: none", "  gpu: required\n  accelerator: B200:1"))
    (path.parent / "platform.yaml").write_text(
        "prices:\n  gpu_node_hour_usd:\n    B200: 40\nplatform:\n  gpus_per_node: 4\n", encoding="utf-8"
    )
    loaded = load_profile(path)
    assert loaded.settings.prices.gpu_node_hour_usd["B200"] == 40
    assert loaded.settings.prices.gpu_node_hour_usd["A100-80GB"] == 14.40  # merged, not replaced
    assert loaded.settings.platform.gpus_per_node == 4


def test_profile_overrides_win_over_the_platform_file(write_profile):
    path = write_profile(VALID + "overrides:\n  platform:\n    lambda_architecture: arm64\n")
    (path.parent / "platform.yaml").write_text("platform:\n  lambda_architecture: x86_64\n", encoding="utf-8")
    assert load_profile(path).settings.platform.lambda_architecture == "arm64"


def test_bad_platform_file_is_located(write_profile):
    path = write_profile(VALID)
    (path.parent / "platform.yaml").write_text("platform:\n  gpus_per_nod: 4\n", encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(info.value).startswith(f"{path.parent / 'platform.yaml'}:2: platform.gpus_per_nod: unknown key")
    assert "did you mean 'gpus_per_node'?" in str(info.value)
