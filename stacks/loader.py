"""Reading profiles: safe YAML with line numbers, then schema, then cross-field rules.

Validation runs in stages and reports every problem of a stage at once:
  1. parse: YAML syntax, duplicate keys, a mapping at the top;
  2. schema: the pydantic models (unknown keys, types, ranges, enums);
  3. rules: relations between fields (gpu required needs an accelerator, peak >= average, ...).
A later stage runs only when the earlier ones found nothing, because its messages would
otherwise describe a document the user is about to change anyway.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from stacks.errors import Problem, ProfileError
from stacks.pricebook import Settings
from stacks.profile import PlatformFile, Profile
from stacks.rules import cross_field_problems

PROFILE_SUFFIX = ".yaml"
PLATFORM_FILE = "platform.yaml"
Loc = tuple[str | int, ...]
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


@dataclass(frozen=True)
class LoadedProfile:
    """A validated profile, where it came from, and the settings in force for it."""

    profile: Profile
    file: Path
    settings: Settings
    lines: dict[Loc, int] = field(default_factory=dict, compare=False, repr=False)

    def line_of(self, *loc: str | int) -> int | None:
        return _line_for(self.lines, tuple(loc))


# --------------------------------------------------------------------------- parse


def _parse(text: str, file: str) -> tuple[Any, dict[Loc, int], list[Problem]]:
    """YAML text -> plain data, a map from YAML path to line, and parse problems."""
    loader = yaml.SafeLoader(text)
    problems: list[Problem] = []
    lines: dict[Loc, int] = {}
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            what = exc.problem or "invalid YAML"
            return None, lines, [Problem(file, line, "", f"YAML syntax error: {what}")]
        if node is None:
            return (
                None,
                lines,
                [
                    Problem(
                        file, 1, "", "the file is empty", allowed="a profile mapping (name, model, sla, utilization)"
                    )
                ],
            )

        def build(n: yaml.Node, loc: Loc) -> Any:
            if loc:  # the document itself has no useful line: a missing top-level key names none
                lines.setdefault(loc, n.start_mark.line + 1)
            if isinstance(n, yaml.MappingNode | yaml.SequenceNode) and n.tag not in _PLAIN_TAGS:
                # Scalars with foreign tags fail in the safe constructor; collections would be
                # built by hand below and the tag dropped, so refuse them here.
                raise yaml.constructor.ConstructorError(None, None, f"unsupported YAML tag {n.tag}", n.start_mark)
            if isinstance(n, yaml.MappingNode):
                out: dict[Any, Any] = {}
                first_line: dict[Any, int] = {}
                for key_node, value_node in n.value:
                    key = loader.construct_object(key_node, deep=True)
                    key_line = key_node.start_mark.line + 1
                    if not isinstance(key, str):
                        problems.append(Problem(file, key_line, _dotted(loc), f"key {key!r} is not a string"))
                        continue
                    if key in out:
                        problems.append(
                            Problem(
                                file,
                                key_line,
                                _dotted((*loc, key)),
                                f"duplicate key '{key}' (first set on line {first_line[key]})",
                                hint="keep one of the two: YAML would silently use the last",
                            )
                        )
                        continue
                    first_line[key] = key_line
                    lines[(*loc, key)] = key_line
                    out[key] = build(value_node, (*loc, key))
                return out
            if isinstance(n, yaml.SequenceNode):
                return [build(item, (*loc, i)) for i, item in enumerate(n.value)]
            return loader.construct_object(n, deep=True)

        try:
            data = build(node, ())
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark
            return None, lines, [Problem(file, mark.line + 1 if mark else None, "", f"YAML error: {exc.problem}")]
    finally:
        loader.dispose()
    if not problems and not isinstance(data, dict):
        problems.append(
            Problem(
                file,
                1,
                "",
                f"the document is {_kind(data)}, not a mapping",
                allowed="a profile mapping (name, model, sla, utilization)",
            )
        )
    return data, lines, problems


# --------------------------------------------------------------------------- schema


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    return f"{value!r}"


def _show(value: Any) -> str:
    if isinstance(value, dict | list) or value is None:
        return _kind(value)
    if isinstance(value, str):
        return f"'{value}'"
    return repr(value)


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
        if kind == "extra_forbidden":
            key = str(loc[-1])
            keys = sorted(owner.model_fields) if owner else []
            message = f"unknown key '{key}'"
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
            message = f"{text[0].lower()}{text[1:]} (got {_show(value)})"
            expected = (e.get("ctx") or {}).get("expected")
            if kind in {"enum", "literal_error"} and isinstance(value, str) and expected:
                options = [o.strip(" '") for o in expected.replace(" or ", ",").split(",")]
                close = difflib.get_close_matches(value.lower(), options, n=1, cutoff=0.5)
                hint = f"did you mean '{close[0]}'?" if close else None
        problems.append(Problem(file, _line_for(lines, loc), _dotted(loc), message, allowed, hint))
    return sorted(problems, key=lambda p: (p.line or 0, p.path))


# --------------------------------------------------------------------------- files


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = None
        for sibling in (path.with_suffix(".yml"), path.with_suffix(".yaml")):
            if sibling != path and sibling.exists():
                hint = f"did you mean {sibling}?"
        raise ProfileError([Problem(str(path), None, "", "no such file", hint=hint)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError([Problem(str(path), None, "", f"cannot read the file: {exc}")]) from None


def _validate(path: Path, model: type[BaseModel]) -> tuple[Any, dict[Loc, int]]:
    file = str(path)
    data, lines, problems = _parse(_read(path), file)
    if problems:
        raise ProfileError(problems)
    try:
        return model.model_validate(data), lines
    except ValidationError as err:
        raise ProfileError(_schema_problems(err, model, file, lines)) from None


def load_settings(directory: Path) -> Settings:
    """Defaults, overridden by `platform.yaml` in the profiles' directory when there is one."""
    path = directory / PLATFORM_FILE
    if not path.exists():
        return Settings()
    platform, _ = _validate(path, PlatformFile)
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
    profile, lines = _validate(path, Profile)
    settings = settings.merged(profile.overrides.prices, profile.overrides.platform)
    problems = [
        Problem(str(path), _line_for(lines, loc), _dotted(loc), message, allowed, hint)
        for loc, message, allowed, hint in cross_field_problems(profile, settings)
    ]
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
                if child.name == PLATFORM_FILE or not child.is_file():
                    continue
                if child.suffix in {".yaml", ".yml"}:
                    found.append(child)
        else:
            found.append(p)
    return found
