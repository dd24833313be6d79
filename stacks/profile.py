"""The profile format: pydantic models for one workload's YAML profile.

Field names are the product's interface (see README "Profile reference"). Units live in the
names. Each field's description says what is allowed: the loader quotes it in error messages,
and the generated JSON Schema (profiles/schema.json) shows it in editors.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stacks.pricebook import PlatformOverride, PriceBookOverride

SCHEMA_FILE = "schema.json"
DNS_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
ACCELERATOR = r"^[A-Za-z0-9][A-Za-z0-9-]*:[1-9][0-9]*$"
ACTIVE_WINDOW = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9] (UTC|[A-Za-z]+(/[A-Za-z0-9_+-]+)+)$"
S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?$")

_STRICT = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Target(StrEnum):
    auto = "auto"
    serverless = "serverless"
    kubernetes = "kubernetes"


class Preset(StrEnum):
    custom = "custom"
    vllm = "vllm"


class Gpu(StrEnum):
    none = "none"
    optional = "optional"
    required = "required"


class Mode(StrEnum):
    sync = "sync"
    async_ = "async"
    both = "both"


class Endpoint(StrEnum):
    function_url = "function_url"
    http_api = "http_api"


ArgValue = str | int | float | bool


class Batching(BaseModel):
    model_config = _STRICT

    max_size: int = Field(..., ge=2, le=64, description="most inputs merged into one predict() call, 2-64")
    max_wait_ms: float = Field(
        5, ge=0, le=1000, description="longest a request waits for its batch to fill, in ms, 0-1000"
    )


class ModelSpec(BaseModel):
    model_config = _STRICT

    preset: Preset = Field(Preset.custom, description="custom (your code) | vllm (LLM server, no code)")
    entrypoint: str | None = Field(
        None,
        description="custom: path, relative to the profile, of a Python file defining load(weights_dir) and predict(model, inputs)",
    )
    weights: str = Field(..., min_length=1, description="s3://bucket/prefix/ or a local path relative to the profile")
    weights_gb: float = Field(..., gt=0, le=2048, description="size of the weights in GB, > 0")
    memory_gb: float = Field(..., gt=0, le=2048, description="RAM per replica in GB, > 0")
    image_gb: float | None = Field(
        None, gt=0, le=100, description="container image size in GB, > 0; estimated when absent"
    )
    gpu: Gpu = Field(Gpu.none, description="none | optional | required")
    accelerator: str | None = Field(
        None,
        pattern=ACCELERATOR,
        description="GPU product and count as TYPE:COUNT, e.g. A100-80GB:1; required when gpu is required",
    )
    requirements: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="pip requirement specifiers for your code, e.g. numpy>=2"
    )
    args: dict[str, ArgValue] = Field(
        default_factory=dict, description="preset arguments, e.g. vllm: model, max_model_len"
    )
    batching: Batching | None = Field(
        None,
        description="Kubernetes server: merge concurrent requests into one predict() call (for models that gain from batches)",
    )

    @property
    def accelerator_type(self) -> str | None:
        return self.accelerator.split(":")[0] if self.accelerator else None

    @property
    def accelerator_count(self) -> int:
        return int(self.accelerator.split(":")[1]) if self.accelerator else 0

    @property
    def weights_in_s3(self) -> bool:
        return self.weights.startswith("s3://")


class Sla(BaseModel):
    model_config = _STRICT

    p99_latency_ms: float = Field(..., gt=0, description="99th percentile latency target in ms, > 0")
    cold_start_budget_ms: float = Field(
        ..., ge=0, description="extra latency in ms a request may pay on a cold start, >= 0"
    )
    availability: float = Field(99.9, ge=90, lt=100, description="availability target in percent, 90 <= x < 100")
    mode: Mode = Field(Mode.sync, description="sync | async | both")
    timeout_s: int = Field(..., gt=0, le=86400, description="longest single request or batch in seconds, 1-86400")
    endpoint: Endpoint = Field(
        Endpoint.function_url,
        description="serverless sync endpoint: function_url (IAM auth, up to the function timeout) | http_api (API Gateway HTTP API, IAM auth, 29 s cap)",
    )


class Utilization(BaseModel):
    model_config = _STRICT

    avg_rps: float = Field(..., ge=0, description="average requests per second over the active hours, >= 0")
    peak_rps: float = Field(..., ge=0, description="requests per second in the busiest sustained minute, >= avg_rps")
    active_hours_per_day: float = Field(..., gt=0, le=24, description="hours per day with traffic, 0 < x <= 24")
    active_window: str | None = Field(
        None,
        pattern=ACTIVE_WINDOW,
        description='daily window with traffic as "HH:MM-HH:MM ZONE", ZONE UTC or an IANA time zone, e.g. "08:00-18:00 UTC" or "08:00-18:00 Europe/Berlin"',
    )
    inference_ms: float = Field(..., gt=0, description="average time of one prediction in ms, > 0")

    @field_validator("active_window")
    @classmethod
    def _known_time_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone = value.split(" ", 1)[1]
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone '{zone}': use UTC or an IANA name such as Europe/Berlin") from None
        return value

    def window_minutes(self) -> tuple[int, int] | None:
        """(start, end) as minutes after 00:00 in window_timezone(); end may be <= start across midnight."""
        if not self.active_window:
            return None
        start, end = self.active_window.split(" ", 1)[0].split("-")
        return int(start[:2]) * 60 + int(start[3:]), int(end[:2]) * 60 + int(end[3:])

    def window_timezone(self) -> str:
        """The window's time zone: "UTC" or an IANA name (schedules are set in it, DST included)."""
        return self.active_window.split(" ", 1)[1] if self.active_window else "UTC"

    def window_length_hours(self) -> float | None:
        window = self.window_minutes()
        if window is None:
            return None
        start, end = window
        return ((end - start) % (24 * 60) or 24 * 60) / 60


class Overrides(BaseModel):
    model_config = _STRICT

    prices: PriceBookOverride | None = Field(None, description="price book entries to override")  # type: ignore[valid-type]
    platform: PlatformOverride | None = Field(None, description="platform defaults to override")  # type: ignore[valid-type]


class Profile(BaseModel):
    """One inference workload."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Switchyard profile",
        json_schema_extra={"$id": "https://switchyard.dev/schema/profile.json"},
    )

    name: str = Field(
        ...,
        max_length=40,
        pattern=DNS_LABEL,
        description="lowercase letters, digits and '-', starting with a letter, at most 40 characters (a DNS-1123 label with room for suffixes)",
    )
    target: Target = Field(Target.auto, description="auto | serverless | kubernetes")
    model: ModelSpec
    sla: Sla
    utilization: Utilization
    overrides: Overrides = Field(
        default_factory=Overrides, description="price book / platform overrides for this workload"
    )


class PlatformFile(BaseModel):
    """platform.yaml beside the profiles: overrides for every profile in that directory."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Switchyard platform file")

    prices: PriceBookOverride | None = None  # type: ignore[valid-type]
    platform: PlatformOverride | None = None  # type: ignore[valid-type]


def json_schema() -> dict[str, Any]:
    return Profile.model_json_schema()
