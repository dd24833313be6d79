"""Cross-field rules: relations between profile fields that no single field can check."""

from __future__ import annotations

from collections.abc import Iterator

from stacks.limits import HTTP_API_MAX_TIMEOUT_S
from stacks.pricebook import Settings
from stacks.profile import vllm_args
from stacks.profile.model import S3_URI, Endpoint, Gpu, Mode, Preset, Profile, Target
from stacks.profile.names import name_problems

RuleHit = tuple[tuple[str | int, ...], str, str | None, str | None]  # loc, message, allowed, hint


def cross_field_problems(p: Profile, settings: Settings) -> list[RuleHit]:
    return list(_rules(p, settings))


def _rules(p: Profile, settings: Settings) -> Iterator[RuleHit]:
    m, sla, u = p.model, p.sla, p.utilization
    yield from name_problems(p, settings)

    offered = settings.platform.targets
    if p.target is not Target.auto and p.target.value not in offered:
        yield (
            ("target",),
            f"target '{p.target.value}' is not offered by this platform (platform.targets)",
            "target: auto or one of " + ", ".join(offered),
            f"choose one of those, or add {p.target.value} to platform.targets in platform.yaml",
        )

    if m.gpu is Gpu.required and not m.accelerator:
        yield (
            ("model", "gpu"),
            "gpu is 'required' but model.accelerator is not set",
            "set model.accelerator as TYPE:COUNT, e.g. A100-80GB:1",
            None,
        )
    if m.gpu is Gpu.none and m.accelerator:
        yield (
            ("model", "accelerator"),
            f"accelerator '{m.accelerator}' is set but model.gpu is 'none'",
            None,
            "set gpu: optional or gpu: required, or remove accelerator",
        )
    prices = settings.prices.gpu_node_hour_usd
    if m.accelerator and m.accelerator_type not in prices:
        yield (
            ("model", "accelerator"),
            f"no price for GPU product '{m.accelerator_type}'",
            "GPU products in the price book: " + ", ".join(sorted(prices)),
            "add it under prices.gpu_node_hour_usd in platform.yaml or overrides",
        )
    if m.accelerator and m.accelerator_count > settings.platform.gpus_per_node:
        yield (
            ("model", "accelerator"),
            f"{m.accelerator_count} GPUs per replica, but a node has {settings.platform.gpus_per_node}",
            f"a count from 1 to {settings.platform.gpus_per_node} (platform gpus_per_node)",
            None,
        )

    if m.preset is Preset.custom:
        if not m.entrypoint:
            yield (
                ("model", "entrypoint"),
                "required key is missing for preset 'custom'",
                "a Python file defining load(weights_dir) and predict(model, inputs)",
                None,
            )
        elif not m.entrypoint.endswith(".py"):
            yield (
                ("model", "entrypoint"),
                f"must be a Python file (got '{m.entrypoint}')",
                "a path ending in .py, relative to the profile",
                None,
            )
    else:  # vllm
        if m.entrypoint:
            yield (
                ("model", "entrypoint"),
                "preset 'vllm' runs no user code, but entrypoint is set",
                None,
                "remove entrypoint, or use preset: custom",
            )
        if m.gpu is not Gpu.required:
            yield (("model", "gpu"), f"preset 'vllm' needs a GPU (got '{m.gpu.value}')", "required", None)
        if "model" not in m.args:
            yield (
                ("model", "args"),
                "preset 'vllm' needs args.model",
                "the served model's name, e.g. model: meta-llama/Llama-3.1-8B-Instruct",
                None,
            )
        for key, message, allowed, hint in vllm_args.problems(m.args):
            yield (("model", "args", key), message, allowed, hint)

    if m.weights_in_s3 and not S3_URI.match(m.weights):
        yield (
            ("model", "weights"),
            f"not a valid S3 URI (got '{m.weights}')",
            "s3://bucket/prefix/ with a lowercase bucket name of 3-63 characters",
            None,
        )

    if sla.endpoint is Endpoint.http_api:
        if sla.mode is Mode.async_:
            yield (
                ("sla", "endpoint"),
                "an async workload has no HTTP endpoint, but endpoint is 'http_api'",
                None,
                "remove endpoint, or use mode: sync or both",
            )
        elif sla.timeout_s > HTTP_API_MAX_TIMEOUT_S:
            yield (
                ("sla", "endpoint"),
                f"API Gateway HTTP APIs end a request after {HTTP_API_MAX_TIMEOUT_S} s, but sla.timeout_s is {sla.timeout_s}",
                f"timeout_s <= {HTTP_API_MAX_TIMEOUT_S} with http_api",
                "use endpoint: function_url (no 29 s cap)",
            )
    if u.peak_rps < u.avg_rps:
        yield (
            ("utilization", "peak_rps"),
            f"peak_rps {u.peak_rps:g} is below avg_rps {u.avg_rps:g}",
            "peak_rps >= avg_rps",
            None,
        )
    window = u.window_length_hours()
    if window is not None and abs(window - u.active_hours_per_day) > 0.5:
        yield (
            ("utilization", "active_window"),
            f"'{u.active_window}' is {window:g} h long but active_hours_per_day is {u.active_hours_per_day:g}",
            "a window within 0.5 h of active_hours_per_day",
            None,
        )
    if u.inference_ms > sla.timeout_s * 1000:
        yield (
            ("utilization", "inference_ms"),
            f"one prediction ({u.inference_ms:g} ms) takes longer than sla.timeout_s ({sla.timeout_s} s)",
            "inference_ms <= timeout_s x 1000",
            None,
        )
    if sla.p99_latency_ms < u.inference_ms:
        yield (
            ("sla", "p99_latency_ms"),
            f"p99 target {sla.p99_latency_ms:g} ms is below the average inference time {u.inference_ms:g} ms: no target can meet it",
            "p99_latency_ms >= utilization.inference_ms",
            None,
        )
