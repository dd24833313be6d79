"""Report text that reads in a terminal: long lines folded at the terminal's width, each continuation
indented under the column it continues, so a rule's detail or a bill line's basis stays readable.

Only a terminal is wrapped (or an explicit width): output piped to a file or a program is left
exactly as it was, line for line, so scripts and diffs of it stay stable.
"""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
from typing import TextIO

DEFAULT_WIDTH = 100  # a terminal that does not report its size
MIN_WIDTH = 40  # narrower, a report is a word per line: a narrower terminal is wrapped at this
_COLUMN_GAP = re.compile(r"\S( {2,}| = +)")  # the first gap between a line's columns


def output_width(explicit: int | None, stream: TextIO | None = None) -> int | None:
    """The width to wrap at: the flag's (0: never), the terminal's, or None when not a terminal."""
    if explicit is not None:
        return explicit or None
    stream = stream or sys.stdout
    if not stream.isatty():
        return None
    return max(shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns, MIN_WIDTH)


def hanging_indent(line: str, width: int) -> int:
    """Continuations start under the line's second column when it has one in the left half."""
    lead = len(line) - len(line.lstrip(" "))
    gap = _COLUMN_GAP.search(line, lead)
    if gap and gap.end() <= width // 2:
        return gap.end()
    return lead + 4


def wrap(text: str, width: int | None) -> str:
    if not width:
        return text
    out = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * hanging_indent(line, width)
        lead = " " * (len(line) - len(line.lstrip(" ")))
        folded = textwrap.wrap(
            line,
            width=width,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
            drop_whitespace=True,
        ) or [line]
        # A word too long for the hanging indent (a file path: its length depends on where the
        # checkout lives) moves back to the line's own margin rather than past the width; words are
        # never broken, so a path stays one piece to copy.
        out += [folded[0]] + [lead + c.lstrip(" ") if len(c) > width else c for c in folded[1:]]
    return "\n".join(out)
