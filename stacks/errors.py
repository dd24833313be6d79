"""The tool's own error types.

Everything a user can cause (a bad profile, a violated hard limit, a missing entrypoint)
raises a `SwitchyardError`; the CLI prints it without a traceback. Anything else is a bug
and is allowed to raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

MAX_SHOWN = 80  # characters of a user's value quoted in a message: one bad 10 MB string is one line
MAX_FIELD = 400  # a rendered message, allowed or hint never exceeds this
MAX_PROBLEMS = 50  # per file: past that, one line says how many more


def clip(text: str, limit: int = MAX_FIELD) -> str:
    """At most `limit` characters, with the number of characters left out."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def show(value: Any) -> str:
    """A user's value as a message quotes it: strings in quotes, collections by kind, all clipped."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    if isinstance(value, str):
        return repr(clip(value, MAX_SHOWN)) if _unprintable(value) else f"'{clip(value, MAX_SHOWN)}'"
    return clip(repr(value), MAX_SHOWN)


def _unprintable(text: str) -> bool:
    return any(not ch.isprintable() for ch in text[: MAX_SHOWN + 1])


Loc = tuple[str | int, ...]


class Hit(NamedTuple):
    """What a validation rule reports; the loader adds the file and the line of `loc`.

    A rule is a function of the validated profile (and the settings in force) that yields Hits:

        yield Hit(("model", "args", "max_model_len"), f"must be at least 1 (got {show(v)})",
                  allowed="an integer >= 1", hint=None)

    `loc` is the YAML path of the offending value (the deepest key you can name: its line is
    the one printed); `message` says what is wrong and quotes the bad value with `show()`;
    `allowed` says what would be accepted; `hint` is a likely fix. A plain 4-tuple in the same
    order works too.
    """

    loc: Loc
    message: str
    allowed: str | None = None
    hint: str | None = None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input file, located as precisely as the input allows."""

    file: str
    line: int | None
    path: str  # YAML path, e.g. "model.memory_gb"; "" for the document itself
    message: str  # what is wrong, including the bad value
    allowed: str | None = None  # what would be accepted
    hint: str | None = None  # a likely fix ("did you mean ...")

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        path, message = clip(self.path, MAX_SHOWN), clip(self.message)
        head = f"{where}: {path}: {message}" if self.path else f"{where}: {message}"
        lines = [head]
        if self.allowed:
            lines.append(f"    allowed: {clip(self.allowed)}")
        if self.hint:
            lines.append(f"    hint: {clip(self.hint)}")
        return "\n".join(lines)


class SwitchyardError(Exception):
    """An error the user can fix. `str()` is the full message shown to them."""

    exit_code = 1


class ProfileError(SwitchyardError):
    """A profile (or platform file) failed validation; carries every problem found."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = [p.render() for p in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"{problems[0].file}: ... and {len(problems) - MAX_PROBLEMS:,} more problems")
        super().__init__("\n".join(shown))


class DecisionError(SwitchyardError):
    """A profile is valid but its explicit target is impossible (a hard limit is violated)."""

    exit_code = 3

    def __init__(self, file: str | Path, message: str):
        self.file = str(file)
        super().__init__(f"{file}: {message}")


class RenderError(SwitchyardError):
    """Packaging could not be rendered (missing entrypoint, missing functions, ...)."""

    exit_code = 4
