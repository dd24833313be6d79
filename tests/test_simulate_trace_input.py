"""Traces as they arrive in real life: exported by a spreadsheet, compressed, crossing midnight.

Each case is a variant of one small trace; the simulated traffic must be the same requests at the
same instants, and the month's bill must not depend on where midnight falls inside the trace.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from stacks.cli import main
from stacks.errors import SwitchyardError
from stacks.simulate.traffic import load_trace
from tests.conftest import PROFILES

SENTIMENT = PROFILES / "sentiment-api.yaml"
START = datetime(2023, 11, 16, 18, 17, 3, 979960, tzinfo=UTC)
GAPS = [0.0, 0.05, 0.05, 1.5, 0.001, 30.0, 0.2]


def stamps(start: datetime = START) -> list[datetime]:
    out, t = [], start
    for gap in GAPS:
        t += timedelta(seconds=gap)
        out.append(t)
    return out


def naive_csv(start: datetime = START, newline: str = "\n") -> str:
    rows = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    rows += [f"{s.replace(tzinfo=None).isoformat(sep=' ')},{100 + i},{10 + i}" for i, s in enumerate(stamps(start))]
    return newline.join(rows) + newline


def offsets(arrivals) -> list[float]:
    return [round(t - arrivals.times[0], 6) for t in arrivals.times]


EXPECTED = [round((s - START).total_seconds(), 6) for s in stamps()]


def test_a_spreadsheet_export_with_a_byte_order_mark_and_crlf_is_read(tmp_path):
    trace = tmp_path / "export.csv"
    trace.write_bytes(b"\xef\xbb\xbf" + naive_csv(newline="\r\n").encode())
    assert offsets(load_trace(trace, mean_inference_ms=80)) == EXPECTED


def test_a_gzipped_trace_is_read_as_it_is(tmp_path):
    trace = tmp_path / "trace.csv.gz"
    trace.write_bytes(gzip.compress(naive_csv().encode()))
    arrivals = load_trace(trace, mean_inference_ms=80, inference_ms_column="ContextTokens")
    assert offsets(arrivals) == EXPECTED
    assert arrivals.service_s[0] == pytest.approx(0.1)


def test_a_broken_gzip_file_names_the_file_and_what_is_wrong(tmp_path):
    trace = tmp_path / "trace.csv.gz"
    trace.write_bytes(gzip.compress(naive_csv().encode())[:40])
    with pytest.raises(SwitchyardError, match=r"trace\.csv\.gz: .*gzip"):
        load_trace(trace, mean_inference_ms=80)


def test_two_timestamp_columns_are_refused_as_ambiguous(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("TIMESTAMP,x,timestamp\n1700000000,1,1700000005\n")
    with pytest.raises(SwitchyardError, match=r"trace\.csv:1: .*TIMESTAMP.*columns 1 and 3"):
        load_trace(trace, mean_inference_ms=80)


def test_epoch_milliseconds_are_named_in_the_error(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("TIMESTAMP\n1700158623979\n")
    with pytest.raises(SwitchyardError, match=r"trace\.csv:2: TIMESTAMP: .*milliseconds"):
        load_trace(trace, mean_inference_ms=80)


def test_rows_outside_the_simulated_span_are_counted_in_the_description(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("TIMESTAMP\n" + "".join(f"{1700125200 + i * 60}\n" for i in range(120)))  # 2 h from 09:00
    arrivals = load_trace(trace, mean_inference_ms=80, hours=1)
    assert len(arrivals.times) == 60
    assert "120 requests" in arrivals.description and "60 of them in the simulated 1 h" in arrivals.description


def simulate(capsys, trace, *args: str) -> dict:
    capsys.readouterr()
    assert main(["simulate", str(SENTIMENT), "--trace", str(trace), "--target", "all", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)["workloads"][0]


def test_a_trace_crossing_midnight_is_billed_like_the_same_trace_an_hour_earlier(tmp_path, capsys):
    """A month repeats the simulated span: a one-hour trace is one day's traffic wherever midnight
    falls in it. Before, a trace from 23:30 to 00:30 was simulated over two calendar days, and every
    per-request line of its bill came out at half the same trace's an hour earlier."""
    base = datetime(2023, 11, 16, 22, 30)
    body = "".join(f"{(base + timedelta(seconds=i)).isoformat()}\n" for i in range(3600))
    shifted = "".join(f"{(base + timedelta(hours=1, seconds=i)).isoformat()}\n" for i in range(3600))
    (tmp_path / "before.csv").write_text("TIMESTAMP\n" + body)
    (tmp_path / "across.csv").write_text("TIMESTAMP\n" + shifted)
    before = simulate(capsys, tmp_path / "before.csv")
    across = simulate(capsys, tmp_path / "across.csv")
    assert before["traffic"]["span_hours"] == across["traffic"]["span_hours"] == 24
    for a, b in zip(before["targets"], across["targets"], strict=True):
        lines_a = {line["name"]: line["usd"] for line in a["cost_usd_month"]["lines"]}
        lines_b = {line["name"]: line["usd"] for line in b["cost_usd_month"]["lines"]}
        assert lines_a == pytest.approx(lines_b, rel=0.01), a["target"]
        assert a["served"] == b["served"] == 3600


def test_a_three_day_trace_is_simulated_over_three_days(tmp_path, capsys):
    base = datetime(2023, 11, 16, 23, 30)
    (tmp_path / "days.csv").write_text(
        "TIMESTAMP\n" + "".join(f"{(base + timedelta(minutes=i)).isoformat()}\n" for i in range(3 * 1440))
    )
    w = simulate(capsys, tmp_path / "days.csv", "--target", "kubernetes")
    assert w["traffic"]["span_hours"] == 72
    assert w["targets"][0]["served"] == 3 * 1440


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"TIMESTAMP\n1700000000\n1700000001,caf\xe9\n", ":3: not UTF-8 text"),
        (b"TIMESTAMP\n1700000000\x00\n", ":2: TIMESTAMP: '1700000000\\x00' is not a time"),
        (b"TIMESTAMP,ms\n1700000000,5\n1700000001\n", ":3: ms: empty is not a number >= 0"),
        (b"2023-11-16 18:17:03,4808\n2023-11-16 18:17:04,3180\n", ":1: the first row is a request, not a header"),
    ],
)
def test_bad_bytes_are_located_and_shown_escaped(tmp_path, content, expected):
    trace = tmp_path / "trace.csv"
    trace.write_bytes(content)
    with pytest.raises(SwitchyardError) as caught:
        load_trace(trace, mean_inference_ms=80, inference_ms_column="ms" if b"ms" in content else None)
    assert f"{trace}{expected}" in str(caught.value)


def test_errors_name_the_trace_as_the_user_gave_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trace.csv").write_text("TIMESTAMP\nsoon\n")
    assert main(["simulate", str(SENTIMENT), "--trace", "trace.csv"]) == 1
    assert capsys.readouterr().err.startswith("error: trace.csv:2: TIMESTAMP: 'soon'")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--speed", "10"], "--speed replays a trace faster: add --trace FILE"),
        (
            ["--trace", "T", "--inference-ms-column", "ContextTokens", "--service", "exponential"],
            "--service exponential draws service times; --inference-ms-column takes them from the trace",
        ),
        (
            ["--trace", "T", "--inference-scale-column", "GeneratedTokens", "--service", "exponential"],
            "--service exponential draws service times; --inference-scale-column takes them from the trace",
        ),
    ],
)
def test_flags_that_would_be_silently_ignored_are_refused(tmp_path, capsys, args, expected):
    trace = tmp_path / "t.csv"
    trace.write_text(naive_csv())
    args = [str(trace) if a == "T" else a for a in args]
    assert main(["simulate", str(SENTIMENT), *args]) == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
