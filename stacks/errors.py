"""The tool's own error types.

Everything a user can cause (a bad profile, a violated hard limit, a missing entrypoint)
raises a `SwitchyardError`; the CLI prints it without a traceback. Anything else is a bug
and is allowed to raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
        head = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        lines = [head]
        if self.allowed:
            lines.append(f"    allowed: {self.allowed}")
        if self.hint:
            lines.append(f"    hint: {self.hint}")
        return "\n".join(lines)


class SwitchyardError(Exception):
    """An error the user can fix. `str()` is the full message shown to them."""

    exit_code = 1


class ProfileError(SwitchyardError):
    """A profile (or platform file) failed validation; carries every problem found."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems))


class DecisionError(SwitchyardError):
    """A profile is valid but its explicit target is impossible (a hard limit is violated)."""

    exit_code = 3

    def __init__(self, file: str | Path, message: str):
        self.file = str(file)
        super().__init__(f"{file}: {message}")


class RenderError(SwitchyardError):
    """Packaging could not be rendered (missing entrypoint, missing functions, ...)."""

    exit_code = 4
