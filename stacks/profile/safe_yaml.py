"""Reading untrusted YAML: bounded in size, depth and expansion, with a line for every problem.

A profile is a small hand-written file, so anything far outside that shape is refused before it
can cost time or memory:
  - only regular files (a FIFO would block, /dev/zero would never end), at most MAX_BYTES;
  - UTF-8 text without control characters (each one reported with its line and column);
  - the YAML 1.2 core schema for plain scalars: `yes`, `on` and `no` stay strings, `1e5` is a
    number, `0777` is 777 and `1:20` is not 80 (PyYAML's YAML 1.1 rules would say otherwise);
  - nesting at most MAX_DEPTH deep, at most MAX_ALIASES aliases, at most MAX_NODES values after
    aliases are expanded ("billion laughs" stops at the budget), no alias that contains itself;
  - duplicate keys, non-string keys and foreign tags are problems, not silent choices.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from stacks.errors import Loc, Problem, ProfileError, show

MAX_BYTES = 256 * 1024  # the example profiles are under 1 KB
MAX_DEPTH = 32
MAX_ALIASES = 64
MAX_NODES = 20_000
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null")}
# What PyYAML's reader refuses, plus the characters it would treat as line breaks that editors
# do not show as such (NEL, LINE/PARAGRAPH SEPARATOR): line numbers would no longer match.
_CONTROL = re.compile("[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# In a value, even tab and newline: no profile field is free text, and a newline in a
# requirement or an argument would become a second line of a generated file.
_CONTROL_IN_VALUE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


# --------------------------------------------------------------------------- files


def read_text(path: Path, *, limit: int = MAX_BYTES, what: str = "file") -> str:
    """A regular file's UTF-8 text, refusing anything else with a one-line reason."""
    file = str(path)

    def fail(message: str, hint: str | None = None, line: int | None = None) -> ProfileError:
        return ProfileError([Problem(file, line, "", message, hint=hint)])

    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        hint = None
        for sibling in (path.with_suffix(".yml"), path.with_suffix(".yaml")):
            if sibling != path and sibling.is_file():
                hint = f"did you mean {sibling}?"
        raise fail("no such file", hint) from None
    except IsADirectoryError:
        raise fail(f"is a directory, not a {what}") from None
    except OSError as exc:
        raise fail(f"cannot open the file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or special file"
            raise fail(f"is {kind}, not a regular file", "profiles and platform files are plain files")
        if info.st_size > limit:
            raise fail(f"is {info.st_size:,} bytes; a {what} may be at most {limit:,} bytes")
        data = b""
        while len(data) <= limit:  # st_size can lie (procfs); read at most one byte past the limit
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise fail(f"is larger than {limit:,} bytes, the most a {what} may be")
    except OSError as exc:
        raise fail(f"cannot read the file: {exc.strerror}") from None
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise fail(f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", line=line) from None


def control_characters(text: str, file: str) -> list[Problem]:
    """One problem per line holding a character YAML refuses or editors hide (first 10 lines)."""
    problems: list[Problem] = []
    for match in _CONTROL.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if problems and problems[-1].line == line:
            continue
        column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        problems.append(
            Problem(
                file,
                line,
                "",
                f"control character U+{ord(match.group()):04X} at column {column}",
                allowed="printable UTF-8 text",
                hint="remove it; write a special character in a double-quoted string only where a field allows it",
            )
        )
        if len(problems) == 10:
            break
    return problems


# --------------------------------------------------------------------------- YAML 1.2 core scalars


# The pure-Python parser, not libyaml's (yaml.CSafeLoader, ~10x faster on a profile, tried): the two
# disagree on what is valid (libyaml takes a tab after "key:" or before a comment, refuses %YAML 1.3
# and unknown directives), word errors with less detail (a tab is "found character that cannot start
# any token", not "found character '\t'") and place an error at end of file a line past it. A profile
# must be valid or not, with the same message, whichever PyYAML build the user has.
class _Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema's plain-scalar rules (see the module docstring)."""

    yaml_implicit_resolvers: dict = {}


for _first, _resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items():
    _Loader.yaml_implicit_resolvers[_first] = [
        (tag, regexp) for tag, regexp in _resolvers if tag.rsplit(":", 1)[-1] in {"null", "str"}
    ]
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF")
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        if text.startswith("0x"):
            return int(text[2:], 16)
        if text.startswith("0o"):
            return int(text[2:], 8)
        return int(text, 10)  # "0777" is 777 in YAML 1.2, not octal
    except ValueError:  # also Python's limit on the digits of an int
        raise yaml.constructor.ConstructorError(
            None, None, f"not an integer, or too long: {show(text)}", node.start_mark
        ) from None


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).replace("_", "")
    special = text.lower().lstrip("+")
    if special in {".inf", "-.inf", ".nan"}:
        return float(special.replace(".", ""))
    return float(text)  # 1e999 becomes inf: the schema refuses non-finite numbers with the field's name


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


# --------------------------------------------------------------------------- parse


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _limits(text: str, file: str) -> list[Problem]:
    """Depth and alias counts from the event stream, which PyYAML produces without recursion."""
    depth = aliases = 0
    loader = _Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return [
                        Problem(
                            file,
                            event.start_mark.line + 1,
                            "",
                            f"nesting is deeper than {MAX_DEPTH} levels",
                            allowed="a profile is a few levels deep (model.args.KEY)",
                        )
                    ]
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    return [
                        Problem(
                            file,
                            event.start_mark.line + 1,
                            "",
                            f"more than {MAX_ALIASES} YAML aliases",
                            hint="write the values out; aliases are for the odd repeated block",
                        )
                    ]
    except yaml.MarkedYAMLError as exc:
        return [_syntax(exc, file)]
    except yaml.YAMLError as exc:
        return [Problem(file, None, "", f"YAML error: {show(str(exc))}")]
    finally:
        loader.dispose()
    return []


def _syntax(exc: yaml.MarkedYAMLError, file: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    return Problem(file, mark.line + 1 if mark else None, "", f"YAML syntax error: {exc.problem or 'invalid YAML'}")


class _TooBig(Exception):
    def __init__(self, node: yaml.Node, message: str):
        self.node, self.message = node, message


def parse(text: str, file: str, *, empty_allowed: str) -> tuple[Any, dict[Loc, int], list[Problem]]:
    """YAML text -> plain data, a map from YAML path to line, and every problem found.

    `empty_allowed` describes the document expected, for the messages about an empty or
    non-mapping document.
    """
    problems = control_characters(text, file) or _limits(text, file)
    lines: dict[Loc, int] = {}
    if problems:
        return None, lines, problems
    loader = _Loader(text)
    budget = [MAX_NODES]
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            return None, lines, [_syntax(exc, file)]
        if node is None:
            return None, lines, [Problem(file, 1, "", "the file is empty", allowed=empty_allowed)]

        def build(n: yaml.Node, loc: Loc, depth: int) -> Any:
            budget[0] -= 1
            if budget[0] < 0:
                raise _TooBig(n, f"more than {MAX_NODES:,} values once aliases are expanded")
            if depth > MAX_DEPTH:  # only an alias inside its own anchor gets here: the events were checked
                raise _TooBig(n, "an alias refers to a block that contains it")
            # The document's own line is 1, where a missing top-level key belongs.
            lines.setdefault(loc, n.start_mark.line + 1 if loc else 1)
            if isinstance(n, yaml.MappingNode | yaml.SequenceNode) and n.tag not in _PLAIN_TAGS:
                # Collections are built by hand below, which would drop a tag: refuse it instead.
                raise yaml.constructor.ConstructorError(None, None, f"unsupported YAML tag {n.tag}", n.start_mark)
            if isinstance(n, yaml.MappingNode):
                out: dict[str, Any] = {}
                first_line: dict[str, int] = {}
                for key_node, value_node in n.value:
                    key_line = key_node.start_mark.line + 1
                    key = loader.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                    if not isinstance(key, str) or key_node.tag != "tag:yaml.org,2002:str":
                        what = show(key) if isinstance(key_node, yaml.ScalarNode) else "a collection"
                        problems.append(Problem(file, key_line, dotted(loc), f"key {what} is not a string"))
                        continue
                    if _CONTROL_IN_VALUE.search(key):
                        problems.append(
                            Problem(file, key_line, dotted(loc), f"key {show(key)} contains a control character")
                        )
                        continue
                    if key in out:
                        problems.append(
                            Problem(
                                file,
                                key_line,
                                dotted((*loc, key)),
                                f"duplicate key '{key}' (first set on line {first_line[key]})",
                                hint="keep one of the two: YAML would silently use the last",
                            )
                        )
                        continue
                    first_line[key] = key_line
                    lines[(*loc, key)] = key_line
                    out[key] = build(value_node, (*loc, key), depth + 1)
                return out
            if isinstance(n, yaml.SequenceNode):
                return [build(item, (*loc, i), depth + 1) for i, item in enumerate(n.value)]
            if n.tag not in _SCALAR_TAGS:
                raise yaml.constructor.ConstructorError(None, None, f"unsupported YAML tag {n.tag}", n.start_mark)
            value = loader.construct_object(n)
            if isinstance(value, str) and _CONTROL_IN_VALUE.search(value):
                char = _CONTROL_IN_VALUE.search(value).group()  # type: ignore[union-attr]
                problems.append(
                    Problem(
                        file,
                        n.start_mark.line + 1,
                        dotted(loc),
                        f"control character U+{ord(char):04X} in {show(value)}",
                        allowed="one line of printable text",
                    )
                )
            return value

        try:
            data = build(node, (), 0)
        except _TooBig as exc:
            return None, lines, [Problem(file, exc.node.start_mark.line + 1, "", exc.message)]
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark
            return None, lines, [Problem(file, mark.line + 1 if mark else None, "", f"YAML error: {exc.problem}")]
    finally:
        loader.dispose()
    if not problems and not isinstance(data, dict):
        problems.append(Problem(file, 1, "", f"the document is {show(data)}, not a mapping", allowed=empty_allowed))
    return data, lines, problems
