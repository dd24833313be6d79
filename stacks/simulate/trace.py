"""Reading a trace file: a CSV of arrival timestamps, as exports and archives deliver it.

Accepted: UTF-8 with or without a byte order mark (spreadsheet exports write one), any line ending,
gzip-compressed or not (recognised by its content, not its name); a header row naming a TIMESTAMP
column (any case, anywhere in the row, once) and other columns that are ignored unless a cost
column is named. Each TIMESTAMP is ISO 8601 (naive times are UTC) or epoch seconds; rows must be in
arrival order (equal times are allowed). Every problem names the file and line, the field, what was
wrong and what is allowed.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from stacks.errors import SwitchyardError

GZIP_MAGIC = b"\x1f\x8b"
ALLOWED_TIME = "allowed: ISO 8601 (2023-11-16 18:17:03.98, naive times are UTC) or epoch seconds (1700158623.98)"


@dataclass(frozen=True)
class TraceRows:
    stamps: list[float]  # POSIX seconds, ascending
    costs: list[float] | None  # the named cost column, per row


def _timestamp(text: str) -> float:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        datetime.fromtimestamp(value, UTC)  # OverflowError / OSError / ValueError past year 9999 or for nan
        return value
    stamp = datetime.fromisoformat(text)  # ValueError for anything else
    return (stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp).timestamp()


def shown(text: str) -> str:
    """A cell as an error quotes it: 40 characters at most, control characters escaped."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:40])


def _is_time(text: str) -> bool:
    try:
        _timestamp(text)
    except (ValueError, OverflowError, OSError):
        return False
    return True


def _bad_time(path: Path, line: int, text: str) -> SwitchyardError:
    hint = ""
    digits = text.strip().split(".")[0]
    if digits.isdigit() and len(digits) >= 12:
        hint = " (epoch milliseconds or finer? convert the column to seconds)"
    return SwitchyardError(f"{path}:{line}: TIMESTAMP: '{shown(text)}' is not a time{hint}; {ALLOWED_TIME}")


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _column(header: list[str], wanted: str, path: Path) -> int:
    lowered = [h.strip().lower() for h in header]
    found = [i for i, h in enumerate(lowered) if h == wanted.lower()]
    if not found and wanted == "TIMESTAMP" and header and _is_time(header[0]):
        raise SwitchyardError(
            f"{path}:1: the first row is a request, not a header; allowed: a header row naming the "
            "TIMESTAMP column (e.g. TIMESTAMP,GeneratedTokens), then one row per request"
        )
    if not found:
        raise SwitchyardError(
            f"{path}:1: no column '{wanted}' in the header; columns: {', '.join(h.strip() for h in header)}"
        )
    if len(found) > 1:
        where = " and ".join(str(i + 1) for i in found)
        raise SwitchyardError(
            f"{path}:1: {wanted}: the header names it in columns {where}; allowed: one column of that name"
        )
    return found[0]


def _open(path: Path) -> IO[str]:
    try:
        with path.open("rb") as raw:
            magic = raw.read(2)
        if magic == GZIP_MAGIC:
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise SwitchyardError(f"--trace {path}: cannot read it ({exc.strerror or exc})") from None


def _undecodable_line(path: Path) -> int | str:
    """The first line that is not UTF-8 (the text layer decodes in blocks, so it cannot say)."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
    with gzip.open(path, "rb") if compressed else path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return "?"


def _rows(path: Path, handle: IO[str]) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(handle)
    try:
        for row in reader:
            yield reader.line_num, row
    except UnicodeDecodeError:
        raise SwitchyardError(
            f"{path}:{_undecodable_line(path)}: not UTF-8 text; allowed: a CSV file (UTF-8, or gzip of it) "
            "with a TIMESTAMP column"
        ) from None
    except csv.Error as exc:
        raise SwitchyardError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise SwitchyardError(
            f"{path}: gzip data broken after line {reader.line_num} ({exc or 'truncated'}); "
            "allowed: a complete gzip file of a CSV, or the CSV itself"
        ) from None


def read_trace(path: Path, cost_column: str | None = None) -> TraceRows:
    """Every row's timestamp (and cost, when a column is named), checked."""
    stamps: list[float] = []
    costs: list[float] = []
    with _open(path) as handle:
        rows = _rows(path, handle)
        first = next(rows, None)
        if first is None:
            raise SwitchyardError(
                f"{path}:1: empty trace; allowed: a CSV with a TIMESTAMP header and one row per request"
            )
        header = first[1]
        ts = _column(header, "TIMESTAMP", path)
        cost = _column(header, cost_column, path) if cost_column else None
        previous = -math.inf
        for line, row in rows:
            if not row or not any(cell.strip() for cell in row):
                continue
            if ts >= len(row):
                raise SwitchyardError(f"{path}:{line}: TIMESTAMP: missing (the row has {len(row)} columns)")
            try:
                stamp = _timestamp(row[ts])
            except (ValueError, OverflowError, OSError):
                raise _bad_time(path, line, row[ts]) from None
            if stamp < previous:
                raise SwitchyardError(
                    f"{path}:{line}: TIMESTAMP: {iso(stamp)} is earlier than the row before it "
                    f"({iso(previous)}); the trace must be sorted by arrival time"
                )
            previous = stamp
            stamps.append(stamp)
            if cost is not None:
                cell = row[cost] if cost < len(row) else ""
                try:
                    value = float(cell)
                except ValueError:
                    value = math.nan
                if not math.isfinite(value) or value < 0:
                    what = f"'{shown(cell)}'" if cell.strip() else "empty"
                    raise SwitchyardError(f"{path}:{line}: {cost_column}: {what} is not a number >= 0")
                costs.append(value)
    if not stamps:
        raise SwitchyardError(f"{path}: no requests after the header; allowed: one row per request")
    return TraceRows(stamps, costs if cost is not None else None)
