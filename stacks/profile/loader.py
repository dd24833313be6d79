"""Reading profiles: bounded, safe YAML with line numbers, then schema, then rules.

Validation runs in stages and reports every problem of a stage at once:
  1. parse (safe_yaml.py): a regular UTF-8 file of bounded size, no control characters,
     YAML syntax, bounded nesting and alias expansion, duplicate keys, a mapping at the top;
  2. schema: the pydantic models (unknown keys, strict types, finite numbers in range, enums);
  3. rules (RULE_SETS): relations between fields and the names a workload may not take
     (checks.py, names.py), and the files a profile names and whether it fits the platform (files.py).
A later stage runs only when the earlier ones found nothing, because its messages would
otherwise describe a document the user is about to change anyway. Every problem carries the
file, the line and the YAML path; values quoted in messages are clipped (errors.show).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from stacks.errors import Hit, Loc, Problem, ProfileError, show
from stacks.pricebook import Settings
from stacks.profile.checks import cross_field_problems
from stacks.profile.files import file_problems
from stacks.profile.model import PLATFORM_WIDE, PlatformFile, Profile
from stacks.profile.safe_yaml import dotted as _dotted
from stacks.profile.safe_yaml import parse, read_text

PROFILE_SUFFIX = ".yaml"
PLATFORM_FILE = "platform.yaml"
PROFILE_DOCUMENT = "a profile mapping (name, model, sla, utilization)"
PLATFORM_DOCUMENT = "a mapping with prices: and/or platform:"

# Stage 3: each entry is a rule set, called with (profile, settings, profile_file) and yielding
# Hits (errors.Hit: loc, message, allowed, hint). The loader locates each one (file, line of
# loc, YAML path) and reports all of them at once. Add a rule set by appending it here.
RuleSet = Callable[[Profile, Settings, Path], Iterable[Hit | tuple]]
RULE_SETS: list[RuleSet] = [
    lambda p, settings, _file: cross_field_problems(p, settings),
    lambda p, settings, file: file_problems(p, settings, file),
]


@dataclass(frozen=True)
class LoadedProfile:
    """A validated profile, where it came from, and the settings in force for it."""

    profile: Profile
    file: Path
    settings: Settings
    lines: dict[Loc, int] = field(default_factory=dict, compare=False, repr=False)

    def line_of(self, *loc: str | int) -> int | None:
        return _line_for(self.lines, tuple(loc))


# --------------------------------------------------------------------------- schema


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _line_for(lines: dict[Loc, int], loc: Loc) -> int | None:
    while loc not in lines and loc:
        loc = loc[:-1]
    return lines.get(loc)


def _model_at(model: type[BaseModel], loc: Loc) -> tuple[type[BaseModel] | None, Any]:
    """The model class holding loc's last element, and that field's FieldInfo (or None)."""
    current: Any = model
    info = None
    for i, part in enumerate(loc):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None, None
        info = current.model_fields.get(part) if isinstance(part, str) else None
        if info is None:
            return (current if i == len(loc) - 1 else None), None
        if i == len(loc) - 1:
            return current, info
        current = _submodel(info.annotation)
    return None, info


def _submodel(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return annotation


def _schema_problems(err: ValidationError, model: type[BaseModel], file: str, lines: dict[Loc, int]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[Loc] = set()
    for e in err.errors(include_url=False):
        loc: Loc = tuple(e["loc"])
        if loc in seen:
            continue
        seen.add(loc)
        kind, value = e["type"], e.get("input")
        owner, info = _model_at(model, loc)
        allowed = info.description if info is not None else None
        hint = None
        if kind == "extra_forbidden" and loc[:2] == ("overrides", "platform") and loc[-1] in PLATFORM_WIDE:
            key = str(loc[-1])
            message = f"'{key}' cannot be overridden for one workload: {PLATFORM_WIDE[key]}"
            allowed = None
            hint = f"set platform.{key} in {PLATFORM_FILE} beside the profiles"
        elif kind == "extra_forbidden":
            key = str(loc[-1])
            keys = sorted(owner.model_fields) if owner else []
            message = f"unknown key {show(key)}"
            allowed = "keys: " + ", ".join(keys) if keys else None
            close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else None
        elif kind == "missing":
            message = "required key is missing"
        else:
            text = e["msg"]
            if kind == "string_pattern_mismatch":
                text = "is not in the allowed format"
            text = text.replace("Input should be", "must be").replace("String should", "must")
            text = text.replace("List should", "must").replace("Value error, ", "")
            if kind in {"float_type", "int_type"} and isinstance(value, bool):
                text += " (true/false is not a number)"
            elif kind in {"float_type", "int_type"} and isinstance(value, str) and _numeric(value):
                text += " (a quoted number is text: remove the quotes)"
            message = f"{text[0].lower()}{text[1:]} (got {show(value)})"
            if kind in {"bool_type", "bool_parsing"}:  # say it first: a setting's description can be long
                booleans = "true or false (YAML 1.2: yes, no, on, off, 1 and quoted text are not)"
                allowed = f"{booleans}: {allowed}" if allowed else booleans
            expected = (e.get("ctx") or {}).get("expected")
            if kind in {"enum", "literal_error"} and isinstance(value, str) and expected:
                options = [o.strip(" '") for o in expected.replace(" or ", ",").split(",")]
                close = difflib.get_close_matches(value.lower(), options, n=1, cutoff=0.5)
                hint = f"did you mean '{close[0]}'?" if close else None
        problems.append(Problem(file, _line_for(lines, loc), _dotted(loc), message, allowed, hint))
    return sorted(problems, key=lambda p: (p.line or 0, p.path))


# --------------------------------------------------------------------------- files


def _validate(path: Path, model: type[BaseModel], document: str) -> tuple[Any, dict[Loc, int]]:
    file = str(path)
    data, lines, problems = parse(read_text(path), file, empty_allowed=document)
    if problems:
        raise ProfileError(problems)
    try:
        return model.model_validate(data), lines
    except ValidationError as err:
        raise ProfileError(_schema_problems(err, model, file, lines)) from None


def load_settings(directory: Path) -> Settings:
    """Defaults, overridden by `platform.yaml` in the profiles' directory when there is one."""
    path = directory / PLATFORM_FILE
    if not (path.exists() or path.is_symlink()):
        return Settings()
    platform, _ = _validate(path, PlatformFile, PLATFORM_DOCUMENT)
    return Settings().merged(platform.prices, platform.platform)


def load_profile(path: Path, settings: Settings | None = None) -> LoadedProfile:
    """Validate one profile file. Raises ProfileError with every problem found."""
    path = Path(path)
    if path.suffix == ".yml":
        raise ProfileError(
            [
                Problem(
                    str(path),
                    None,
                    "",
                    "profile files end in .yaml",
                    hint=f"rename it: git mv {path} {path.with_suffix('.yaml')} "
                    "(the CDK app and the Pulumi program read *.yaml only)",
                )
            ]
        )
    if settings is None:
        settings = load_settings(path.parent)
    profile, lines = _validate(path, Profile, PROFILE_DOCUMENT)
    settings = settings.merged(profile.overrides.prices, profile.overrides.platform)
    problems = []
    for rules in RULE_SETS:
        for hit in rules(profile, settings, path):
            loc, message, allowed, hint = Hit(*hit)
            problems.append(
                Problem(str(path), _line_for(lines, tuple(loc)), _dotted(tuple(loc)), message, allowed, hint)
            )
    if problems:
        raise ProfileError(sorted(problems, key=lambda p: (p.line or 0, p.path)))
    return LoadedProfile(profile, path, settings, lines)


def discover(paths: list[Path]) -> list[Path]:
    """Profile files named by the user: files as given, directories scanned for *.yaml.

    A `.yml` file in a scanned directory is returned too, so that loading it reports the
    rename hint instead of the file being skipped without a word.
    """
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for child in sorted(p.iterdir()):
                # Anything named *.yaml is taken, not only regular files: loading a FIFO or a
                # dangling link reports it, where skipping it would hide a profile.
                if child.name == PLATFORM_FILE or child.is_dir():
                    continue
                if child.suffix in {".yaml", ".yml"}:
                    found.append(child)
        else:
            found.append(p)
    return found
