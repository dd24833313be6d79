"""The bill from use for a case small enough to price by hand from the price book.

sentiment-api replays one request a second for an hour outside its provisioned window (03:00 UTC),
each taking the profile's 80 ms: three on-demand cold starts (the first lasts 2.6 s, so the
requests at 1 s and 2 s need environments of their own), then one warm environment. A month
repeats the hour 730 times. Every line whose quantity the simulation measures is checked against
the arithmetic here, priced from the workload's own price book and platform settings.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from stacks.cli import main
from stacks.simulate.inputs import serverless_params
from stacks.workloads import load_all
from tests.conftest import PROFILES

SENTIMENT = PROFILES / "sentiment-api.yaml"
GIB = 1024**3


@pytest.fixture(scope="module")
def workload():
    (w,) = load_all([SENTIMENT]).workloads
    return w


def lines(capsys, tmp_path, target: str) -> dict[str, dict]:
    base = datetime(2023, 11, 16, 3, 0)
    trace = tmp_path / "steady.csv"
    trace.write_text("TIMESTAMP\n" + "".join(f"{(base + timedelta(seconds=i)).isoformat()}\n" for i in range(3600)))
    capsys.readouterr()
    assert main(["simulate", str(SENTIMENT), "--trace", str(trace), "--hours", "1", "--target", target, "--json"]) == 0
    (t,) = json.loads(capsys.readouterr().out)["workloads"][0]["targets"]
    assert t["served"] == 3600
    return {line["name"]: line for line in t["cost_usd_month"]["lines"]}


def test_the_serverless_bill_of_a_steady_hour_prices_what_ran(workload, capsys, tmp_path):
    prices, platform = workload.settings.prices, workload.settings.platform
    s = serverless_params(workload)
    bill = lines(capsys, tmp_path, "serverless")
    month = 730
    invocations = 3600 * month
    assert bill["requests"]["quantity"] == pytest.approx(invocations / 1e6)
    gb_s = (3600 * 0.08 + 3 * s.cold_start_s) * s.memory_gb * month
    assert bill["duration_on_demand"]["quantity"] == pytest.approx(gb_s)
    assert bill["duration_on_demand"]["usd"] == pytest.approx(gb_s * prices.lambda_x86_gb_s_usd, abs=0.005)
    assert bill["provisioned_concurrency"]["quantity"] == 0  # 03:00 is outside the 08:00-18:00 window
    # X-Ray keeps the first request of each second and 5 % of the rest: here every request.
    assert platform.xray_reservoir_per_s >= 1
    assert bill["xray_traces"]["quantity"] == pytest.approx(invocations / 1e6)
    assert bill["logs_ingestion"]["quantity"] == pytest.approx(
        invocations * platform.lambda_log_bytes_per_invocation / GIB
    )


def test_the_kubernetes_bill_of_a_steady_hour_prices_the_replica_hours_that_ran(workload, capsys, tmp_path):
    bill = lines(capsys, tmp_path, "kubernetes")
    # 0.08 in flight on average: the 2 warm replicas are all that run.
    assert bill["cpu_nodes"]["quantity"] == pytest.approx(2 * 730)
