"""The profile format: pydantic models for one workload's YAML profile.

Field names are the product's interface (see README "Profile reference"). Units live in the
names. Each field's description says what is allowed: the loader quotes it in error messages,
and the generated JSON Schema (profiles/schema.json) shows it in editors.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, field_validator

from stacks.pricebook import Platform, PriceBook

SCHEMA_FILE = "schema.json"
DNS_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
ACCELERATOR = r"^[A-Za-z0-9][A-Za-z0-9-]*:[1-9][0-9]*$"
ACTIVE_WINDOW = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9] (UTC|[A-Za-z]+(/[A-Za-z0-9_+-]+)+)$"
S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?$")

_STRICT = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

# Numbers are strict: a boolean, or a string such as "2", is not a number here (YAML 1.1 reads
# `yes` as true, which would otherwise become 1), and infinities and NaN are refused where they
# are written instead of failing deep inside the sizing arithmetic.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Integer = Annotated[int, Field(strict=True)]
NUMBER_CEILING = 1e9  # for overrides without a bound of their own: keeps every product finite
NUMBER_FLOOR = 1e-9  # for overrides that must be > 0 (divisors): keeps every quotient finite
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_TEMPLATE_SYNTAX = ("{{", "}}", "{%", "%}", "{#", "#}")


def _relative_path(value: str) -> str:
    """A path inside the profile's directory: relative, no `..`, no URL scheme."""
    if _SCHEME.match(value) and not value.startswith("s3://"):
        raise ValueError("a URL other than s3:// is not supported")
    if value.startswith("s3://"):
        return value
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", value):
        raise ValueError("must be a path relative to the profile, not an absolute path")
    if ".." in parts:
        raise ValueError("must stay inside the profile's directory ('..' is not allowed)")
    return value


def _local_path(value: str) -> str:
    if value.startswith("s3://"):
        raise ValueError("must be a local file, relative to the profile")
    return _relative_path(value)


def _requirement(value: str) -> str:
    """One PEP 508 requirement, as pip reads it from one line of requirements.txt."""
    if any(token in value for token in _TEMPLATE_SYNTAX):
        raise ValueError("template syntax ({{ }}, {% %}, {# #}) is not allowed in a requirement")
    if value.lstrip().startswith("-"):
        raise ValueError("pip options are not requirements")
    try:
        Requirement(value)
    except InvalidRequirement as exc:
        raise ValueError(f"not a PEP 508 requirement ({str(exc).splitlines()[0]})") from None
    return value


Requirement508 = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_requirement)]


class Target(StrEnum):
    auto = "auto"
    serverless = "serverless"
    kubernetes = "kubernetes"
    managed_instances = "managed-instances"
    hybrid = "hybrid"  # the AWS front (SQS, DLQ, results bucket) with GPU workers on the cluster


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


ArgValue = Annotated[str, Field(max_length=1000)] | Integer | Number | bool


class Batching(BaseModel):
    model_config = _STRICT

    max_size: int = Field(..., ge=2, le=64, description="most inputs merged into one predict() call, 2-64")
    max_wait_ms: float = Field(
        5, ge=0, le=1000, description="longest a request waits for its batch to fill, in ms, 0-1000"
    )


class ModelSpec(BaseModel):
    model_config = _STRICT

    preset: Preset = Field(Preset.custom, description="custom (your code) | vllm (LLM server, no code)")
    entrypoint: Annotated[str, AfterValidator(_local_path)] | None = Field(
        None,
        max_length=255,
        description="custom: path, relative to the profile, of a Python file defining load(weights_dir) and predict(model, inputs)",
    )
    weights: Annotated[str, AfterValidator(_relative_path)] = Field(
        ...,
        min_length=1,
        max_length=1024,
        description="s3://bucket/prefix/ or a local directory relative to the profile (inside its directory)",
    )
    weights_gb: Number = Field(..., ge=0.001, le=2048, description="size of the weights in GB, 0.001-2048")
    memory_gb: Number = Field(
        ..., ge=0.125, le=2048, description="RAM per replica in GB, 0.125-2048 (and at most a node's memory)"
    )
    image_gb: Number | None = Field(
        None, ge=0.01, le=100, description="container image size in GB, 0.01-100; estimated when absent"
    )
    gpu: Gpu = Field(Gpu.none, description="none | optional | required")
    accelerator: str | None = Field(
        None,
        max_length=64,
        pattern=ACCELERATOR,
        description="GPU product and count as TYPE:COUNT, e.g. A100-80GB:1; required when gpu is required",
    )
    requirements: list[Requirement508] = Field(
        default_factory=list,
        max_length=200,
        description="pip requirement specifiers (PEP 508) for your code, e.g. numpy>=2",
    )
    args: dict[Annotated[str, Field(max_length=64)], ArgValue] = Field(
        default_factory=dict, max_length=64, description="preset arguments, e.g. vllm: model, max_model_len"
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

    @property
    def uses_gpu(self) -> bool:
        """A GPU is wanted and a product named: Kubernetes gives the replicas GPUs (Lambda has none)."""
        return self.gpu is not Gpu.none and self.accelerator is not None


class Sla(BaseModel):
    model_config = _STRICT

    p99_latency_ms: Number = Field(
        ..., ge=1, le=3_600_000, description="99th percentile latency target in ms, 1-3,600,000"
    )
    cold_start_budget_ms: Number = Field(
        ..., ge=0, le=3_600_000, description="extra latency in ms a request may pay on a cold start, 0-3,600,000"
    )
    availability: Number = Field(99.9, ge=90, lt=100, description="availability target in percent, 90 <= x < 100")
    mode: Mode = Field(Mode.sync, description="sync | async | both")
    timeout_s: Integer = Field(..., gt=0, le=86400, description="longest single request or batch in seconds, 1-86400")
    endpoint: Endpoint = Field(
        Endpoint.function_url,
        description="serverless sync endpoint: function_url (IAM auth, up to the function timeout) | http_api (API Gateway HTTP API, IAM auth, 29 s cap)",
    )


class Utilization(BaseModel):
    model_config = _STRICT

    avg_rps: Number = Field(
        ..., ge=0, le=1_000_000, description="average requests per second over the active hours, 0-1,000,000"
    )
    peak_rps: Number = Field(
        ...,
        gt=0,
        le=1_000_000,
        description="requests per second in the busiest sustained minute, > 0 and >= avg_rps",
    )
    active_hours_per_day: Number = Field(..., ge=0.01, le=24, description="hours per day with traffic, 0.01-24")
    active_window: str | None = Field(
        None,
        pattern=ACTIVE_WINDOW,
        description='daily window with traffic as "HH:MM-HH:MM ZONE", ZONE UTC or an IANA time zone, e.g. "08:00-18:00 UTC" or "08:00-18:00 Europe/Berlin"',
    )
    inference_ms: Number = Field(
        ..., ge=0.01, le=86_400_000, description="average time of one prediction in ms, 0.01-86,400,000"
    )

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


def _strict(annotation: Any) -> Any:
    """The same type with strict, finite numbers, down through lists and maps."""
    if annotation is float:
        return Number
    if annotation is int:
        return Integer
    origin = get_origin(annotation)
    if origin is list:
        return list[_strict_item(get_args(annotation)[0])]  # type: ignore[misc]
    if origin is dict:
        key, value = get_args(annotation)
        return dict[key, _strict_item(value)]  # type: ignore[valid-type]
    return annotation


def _strict_item(annotation: Any) -> Any:
    """Numbers inside a list or map (GPU prices by product): strict, and bounded like the rest."""
    base = _strict(annotation)
    if base is Number:
        return Annotated[Number, Field(ge=0, le=NUMBER_CEILING)]
    if base is Integer:
        return Annotated[Integer, Field(ge=0, le=int(NUMBER_CEILING))]
    return base


def _has_upper_bound(metadata: list[Any]) -> bool:
    return any(hasattr(m, "le") or hasattr(m, "lt") for m in metadata)


def override_model(model: type[BaseModel], name: str, *, refused: dict[str, str] | None = None) -> type[BaseModel]:
    """What an override may set: the model's fields, all optional, strict and finite, and bounded.

    Each field keeps its own constraints (gt, pattern, ...) so a bad value is reported where it
    is written, with its line. Keys in `refused` are left out (the loader explains why).
    """
    fields: dict[str, Any] = {}
    for fname, f in model.model_fields.items():
        if fname in (refused or {}):
            continue
        base = _strict(f.annotation)
        metadata = list(f.metadata)
        if base in (Number, Integer) and not _has_upper_bound(metadata):
            # ahead of any validator function: a bound after one is neither in the schema nor checked first
            metadata.insert(0, Field(le=NUMBER_CEILING))
        if base is Number and any(getattr(m, "gt", None) == 0 for m in metadata):
            metadata.append(Field(ge=NUMBER_FLOOR))
        annotated = Annotated[(base, *metadata)] if metadata else base
        fields[fname] = (annotated | None, Field(None, description=f.description))
    return create_model(name, __config__=ConfigDict(extra="forbid", frozen=True), **fields)


# Platform facts that one profile cannot change: the platform stack (VPC, endpoints, region) is
# shared by every serverless workload of a directory and built from platform.yaml alone. An
# override of one of these would validate and then be silently ignored; it is refused instead.
# Every other platform key is read from the workload's own merged settings, so it is honoured.
PLATFORM_WIDE: dict[str, str] = {
    "region": "every serverless stack deploys to the platform stack's region",
    "availability_zones": "the VPC is shared by every serverless workload",
    "availability_zone_ids": "the VPC is shared by every serverless workload",
    "installation": "every stack of one app belongs to one installation",
    "targets": "the targets a platform offers are the platform's (name one for this workload with target:)",
    "lmi_gpu": "whether GPU Lambda Managed Instances are modelled is the platform's, like the targets it offers",
    "alarms_without_subscribers": "the alarm topic is the platform stack's",
    "model_bucket_noncurrent_days": "the model bucket is the platform stack's",
    "interface_endpoints": "the VPC endpoints are shared by every serverless workload",
    "alarm_topic_arn": "every serverless alarm notifies the platform stack's topic",
    "alarm_emails": "they subscribe to the platform stack's alarm topic",
    "weights_kms_key_arn": "the one weights sync function of the platform stack decrypts every workload's weights",
}

PriceBookOverride = override_model(PriceBook, "PriceBookOverride")
PlatformOverride = override_model(Platform, "PlatformOverride")
ProfilePlatformOverride = override_model(Platform, "ProfilePlatformOverride", refused=PLATFORM_WIDE)


class Overrides(BaseModel):
    model_config = _STRICT

    prices: PriceBookOverride | None = Field(None, description="price book entries to override")  # type: ignore[valid-type]
    platform: ProfilePlatformOverride | None = Field(  # type: ignore[valid-type]
        None,
        description="platform defaults to override for this workload (platform-wide facts such as region: platform.yaml)",
    )


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
    target: Target = Field(Target.auto, description=" | ".join(t.value for t in Target))
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
