"""`switchyard simulate` as a user runs it: profiles and traces in, reports, JSON and charts out."""

from __future__ import annotations

import json

import pytest

from stacks.cli import main
from stacks.pricebook import PriceBook
from tests.conftest import FIXTURES, PROFILES

SENTIMENT = PROFILES / "sentiment-api.yaml"
NIGHTLY = PROFILES / "nightly-embeddings.yaml"
TRACE = FIXTURES / "traces" / "azure-llm-2023-code.csv"


def simulate_json(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["simulate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_both_targets_account_for_every_request_and_bill_from_the_price_book(capsys):
    doc = simulate_json(capsys, str(SENTIMENT), "--target", "all", "--hours", "4")
    (w,) = doc["workloads"]
    assert [t["target"] for t in w["targets"]] == ["serverless", "kubernetes"]
    prices = set(PriceBook.model_fields)
    for t in w["targets"]:
        outcomes = t["served"] + t["rejected_503"] + t["throttled_429"] + t["timed_out_504"]
        assert outcomes + t["dead_lettered"] + t["unfinished"] == t["requests"] == w["traffic"]["requests"]
        cost = t["cost_usd_month"]
        assert cost["total"] == pytest.approx(sum(line["usd"] for line in cost["lines"]), abs=0.011)
        assert all(line["price"].removeprefix("prices.") in prices for line in cost["lines"])
        assert t["latency_ms"]["p50"] <= t["latency_ms"]["p95"] <= t["latency_ms"]["p99"]
    serverless, kubernetes = w["targets"]
    # The sized floor of 1 provisioned environment meets 40 rps bursts on demand: some requests pay
    # the cold start; the KEDA/HPA ramp with 24 s pod starts sheds part of each burst with 503s.
    assert serverless["cold_starts"] > 0 and serverless["usage"]["on_demand_inits"] > 0
    assert kubernetes["rejected_503"] > 0 and kubernetes["usage"]["pod_starts"] > 0
    # Replica-hours run: at least the 2 warm replicas all 4 h, less than the 6 the plan bills.
    assert 2 * 4 <= kubernetes["capacity"]["hours"] < 6 * 4
    assert kubernetes["cost_usd_month"]["total"] < kubernetes["plan_cost_usd_month"]
    assert {c["name"] for c in doc["constants"]} >= {"lambda_scale_environments", "hpa_sync_period_s"}


def test_same_seed_same_numbers_another_seed_other_bursts(capsys):
    a = simulate_json(capsys, str(SENTIMENT), "--hours", "2", "--seed", "7")
    b = simulate_json(capsys, str(SENTIMENT), "--hours", "2", "--seed", "7")
    c = simulate_json(capsys, str(SENTIMENT), "--hours", "2", "--seed", "8")
    assert a == b
    assert a["workloads"][0]["traffic"]["requests"] != c["workloads"][0]["traffic"]["requests"]


def test_async_queue_reports_its_age_and_drains(capsys):
    doc = simulate_json(capsys, str(NIGHTLY), "--target", "serverless", "--hours", "0.75")
    (t,) = doc["workloads"][0]["targets"]
    # 15 concurrent invocations of 200 ms drain 75 msg/s: bursts at 100 msg/s queue up.
    assert t["max_queue_age_s"] > 1
    assert t["requests"] > 40_000 and t["served"] + t["unfinished"] == t["requests"]
    assert t["unfinished"] < 100  # only what was still queued when the span ended


def test_trace_replay_with_a_cost_column_text_report_and_chart(tmp_path, capsys):
    charts = tmp_path / "charts"
    code = main(
        [
            "simulate",
            str(SENTIMENT),
            "--trace",
            str(TRACE),
            "--inference-scale-column",
            "GeneratedTokens",
            "--target",
            "kubernetes",
            "--chart",
            str(charts),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "trace azure-llm-2023-code.csv: 8,819 requests" in out and "scaled by column GeneratedTokens" in out
    assert "requests   8,819:" in out and "replica-hours" in out
    image = charts / "sentiment-api.simulated.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "TIMESTAMP\n2023-11-16 18:00:01\n2023-11-16 18:00:00\n",
            ":3: TIMESTAMP: 2023-11-16T18:00:00+00:00 is earlier",
        ),
        ("TIMESTAMP,x\n1700000000,1\nyesterday,2\n", ":3: TIMESTAMP: 'yesterday' is not a time"),
        ("when\n1700000000\n", ":1: no column 'TIMESTAMP' in the header; columns: when"),
        ("TIMESTAMP\n", ": no requests after the header"),
        ("", ":1: empty trace"),
        ("TIMESTAMP,ms\n1700000000,5\n1700000001,-1\n", ":3: ms: '-1' is not a number >= 0"),
    ],
)
def test_bad_traces_are_refused_with_file_and_line(tmp_path, capsys, content, expected):
    trace = tmp_path / "trace.csv"
    trace.write_text(content)
    code = main(
        ["simulate", str(SENTIMENT), "--trace", str(trace), "--inference-ms-column", "ms"][
            : 4 if "ms" not in content else 6
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and f"{trace}{expected}" in err and "Traceback" not in err


def test_epoch_trace_with_per_request_times(tmp_path, capsys):
    trace = tmp_path / "trace.csv"
    trace.write_text("TIMESTAMP,ms\n" + "".join(f"{1700000000 + i * 0.5},{40 if i % 2 else 400}\n" for i in range(40)))
    doc = simulate_json(
        capsys, str(SENTIMENT), "--trace", str(trace), "--inference-ms-column", "ms", "--target", "kubernetes"
    )
    (t,) = doc["workloads"][0]["targets"]
    assert t["requests"] == 40 and t["served"] == 40
    assert t["latency_ms"]["p50"] == pytest.approx(40) and t["latency_ms"]["p99"] == pytest.approx(400)


def test_missing_trace_and_column_without_trace_are_usage_errors(tmp_path, capsys):
    assert main(["simulate", str(SENTIMENT), "--trace", str(tmp_path / "nope.csv")]) == 1
    assert "cannot read it" in capsys.readouterr().err
    assert main(["simulate", str(SENTIMENT), "--inference-ms-column", "ms"]) == 1
    assert "add --trace FILE" in capsys.readouterr().err
