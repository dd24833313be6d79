"""The profile layer: one workload's YAML profile, read, validated and nothing more.

    model.py      pydantic models (the profile format, its JSON Schema); re-exported here
    safe_yaml.py  bounded, safe YAML with line numbers (the only YAML parser of profiles)
    loader.py     parse -> schema -> rules, every problem of a stage at once, with file and line
    checks.py     cross-field rules; files.py: the files a profile names, and whether it fits
    names.py      names a workload may not take (stacks, add-on files, reserved namespaces)
    vllm_args.py  the pinned vLLM flag list the args are checked against

It imports only the price book, the limit book and errors: loading or validating a profile never
imports the decision, a target or a builder (tests/test_layering.py holds it to that).
"""

from stacks.profile.model import (
    PLATFORM_WIDE,
    S3_URI,
    SCHEMA_FILE,
    ArgValue,
    Batching,
    Endpoint,
    Gpu,
    Mode,
    ModelSpec,
    Overrides,
    PlatformFile,
    PlatformOverride,
    Preset,
    PriceBookOverride,
    Profile,
    Sla,
    Target,
    Utilization,
    json_schema,
)

__all__ = [
    "PLATFORM_WIDE",
    "S3_URI",
    "SCHEMA_FILE",
    "ArgValue",
    "Batching",
    "Endpoint",
    "Gpu",
    "Mode",
    "ModelSpec",
    "Overrides",
    "PlatformFile",
    "PlatformOverride",
    "Preset",
    "PriceBookOverride",
    "Profile",
    "Sla",
    "Target",
    "Utilization",
    "json_schema",
]
