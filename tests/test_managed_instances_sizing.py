"""Lambda Managed Instances sizing and bill, against numbers worked out by hand from the price book.

The default price book: c7g.large $0.0725/h (2 vCPU, 4 GiB), 15 % fee, $0.20 per million requests,
Lambda arm64 $0.0000133334 per GB-s; platform: 3 environments at least, 0.7 target utilization,
Python 16 per vCPU, 2-32 GB, doubling within 5 minutes.
"""

from __future__ import annotations

import math

import pytest

from stacks.ec2_types import instance_shape
from stacks.pricebook import Platform, PriceBook
from stacks.targets.managed_instances.bill import managed_instances_bill
from stacks.targets.managed_instances.sizing import (
    Demand,
    ManagedInstancesMisfit,
    managed_instances_facts,
    size_managed_instances,
)

PRICES = PriceBook()
PLATFORM = Platform()


def demand(**overrides) -> Demand:
    values = dict(
        peak_rps=40.0, avg_rps=20.0, active_hours_per_day=24.0, inference_ms=100.0, memory_gb=1.5, architecture="arm64"
    )
    return Demand(**{**values, **overrides})


def test_steady_light_load_sits_on_the_three_environment_floor():
    s = size_managed_instances(demand(), PRICES, PLATFORM)
    # 1 vCPU x 2 GiB holds one 1.5 GB process; average: 20 rps x 0.1 s / 0.7 = 2.86 -> 3 environments;
    # the peak is one doubling of the average, which LMI follows; the default floor is 3. Peak: 40 x 0.1 / 0.7 = 5.7 -> 6.
    assert (s.environment_vcpus, s.memory_gib_per_vcpu, s.environment_memory_gb) == (1, 2, 2)
    assert (s.max_concurrency, s.concurrency_bound) == (1, "vCPUs")
    assert (s.min_environments, s.max_environments) == (3, 6)
    assert "by default" in s.floor_reason
    # c7g.large holds two 1-vCPU environments, but LMI keeps three instances for AZ spread.
    assert (s.instance_type, s.environments_per_instance) == ("c7g.large", 2)
    # Their 6 vCPUs are below the lowest cap aws-cdk-lib accepts: the provider is capped at 12.
    assert (s.always_on_instances, s.peak_instances, s.max_vcpus) == (3, 3, 12)
    assert s.function_memory_mb == 2048


def test_bill_is_the_floor_around_the_clock_plus_fee_and_requests():
    d = demand()
    cost = managed_instances_bill(d, size_managed_instances(d, PRICES, PLATFORM), PRICES)
    lines = {x.name: x for x in cost.lines}
    # 3 instances x 730 h = 2,190 instance-hours
    assert lines["instances"].quantity == 2190
    assert lines["instances"].usd == 158.78  # 2,190 x $0.0725 = $158.775
    assert lines["management_fee"].usd == 23.82  # 2,190 x 15 % x $0.0725 = $23.81625
    # 20 rps x 24 h x 3,600 s x 30.4167 d = 52.56 million x $0.20
    assert lines["requests"].quantity == pytest.approx(52.56)
    assert lines["requests"].usd == 10.51
    assert cost.total == 193.11
    assert "as of 2026-12-03" in lines["instances"].source
    assert "not counted" in cost.notes[0]


def test_break_even_against_lambda_on_demand():
    d = demand()
    s = size_managed_instances(d, PRICES, PLATFORM)
    f = managed_instances_facts(d, s, PRICES, PLATFORM, lambda_memory_gb=1.5)
    assert f.floor_monthly_usd == pytest.approx(182.59125)  # 2,190 h x $0.0725 x 1.15
    # Lambda: 0.1 s x 1.5 GB x $0.0000133334 + $0.0000002; LMI: $0.0000002 a request.
    assert f.lambda_usd_per_request == pytest.approx(0.00000220001)
    assert f.break_even_requests_per_month == pytest.approx(182.59125 / 0.00000200001)  # ~91.3 million
    assert f.monthly_requests < f.break_even_requests_per_month  # 52.6 million: Lambda is cheaper here
    assert f.scales_to_zero is False and "around the clock" in f.scale_to_zero_note


def test_a_burst_beyond_one_doubling_is_held_by_the_floor():
    d = demand(peak_rps=200.0)  # 10x the average 20 rps
    s = size_managed_instances(d, PRICES, PLATFORM)
    # LMI throttles traffic more than doubling within 5 minutes while it scales, so only environments
    # already running serve the burst: the peak, 200 rps x 0.1 s / 0.7 = 28.6 -> 29 one-vCPU
    # environments on 15 c7g.large, is the floor. Half the peak (15 environments, 150 rps at full
    # concurrency) would leave 50 rps of every burst throttled for the minutes scaling takes.
    assert (s.environment_vcpus, s.min_environments, s.max_environments) == (1, 29, 29)
    assert "to hold the peak (200 rps) at 70%: it is 10.0x the average" in s.floor_reason
    assert (s.always_on_instances, s.peak_instances) == (15, 15)
    f = managed_instances_facts(d, s, PRICES, PLATFORM, lambda_memory_gb=1.5)
    assert f.floor_rps == pytest.approx(290)  # 29 environments x 1 / 0.1 s
    assert f.floor_serves_peak
    assert f.ramp == 10
    assert f.minutes_to_follow_ramp == pytest.approx(5 * math.log2(10))  # 16.6 minutes of doublings
    assert f.floor_monthly_usd == pytest.approx(15 * 730 * 0.0725 * 1.15)  # $912.86: the peak, all month


def test_one_doubling_is_left_to_scaling():
    d = demand(peak_rps=40.0)  # exactly twice the average: LMI follows it
    s = size_managed_instances(d, PRICES, PLATFORM)
    assert (s.min_environments, s.max_environments) == (3, 6)  # the average's 3, not the peak's 6
    assert not managed_instances_facts(d, s, PRICES, PLATFORM, lambda_memory_gb=1.5).floor_serves_peak


def test_a_large_model_makes_memory_the_bound():
    # 3 GB per process: 2 GiB per vCPU needs 2 vCPUs (4 GB) for one process.
    s = size_managed_instances(demand(memory_gb=3.0, peak_rps=10.0, avg_rps=5.0), PRICES, PLATFORM)
    # Cheapest by hand: 1 vCPU x 4 GiB on m7g.large ($0.0816, 2 per instance) x 3 = $0.2448/h,
    # against 2 vCPU x 2 GiB on c7g.large ($0.0725, 1 per instance) x 3 = $0.2175/h: c7g wins.
    assert (s.instance_type, s.environment_vcpus, s.memory_gib_per_vcpu) == ("c7g.large", 2, 2)
    assert (s.max_concurrency, s.concurrency_bound) == (1, "memory")  # 4 GB holds one 3 GB process, not two


def test_x86_picks_intel_types_and_a_bigger_model_a_higher_ratio():
    s = size_managed_instances(demand(architecture="x86_64", memory_gb=6.0), PRICES, PLATFORM)
    assert instance_shape(s.instance_type).architecture == "x86_64"
    # One 6 GB process: 1 vCPU x 8 GiB (r7i.large $0.1323, 2 per instance) = 3 x $0.1323 = $0.3969/h;
    # 2 x 4 (m7i.large $0.1008, 1 per instance) = $0.3024/h; 4 x 2 (c7i.xlarge $0.1785) = $0.5355/h.
    assert (s.instance_type, s.environment_vcpus, s.memory_gib_per_vcpu) == ("m7i.large", 2, 4)


def test_a_model_larger_than_an_environment_does_not_fit():
    with pytest.raises(ManagedInstancesMisfit, match="at most 32 GB"):
        size_managed_instances(demand(memory_gb=40.0), PRICES, PLATFORM)


def test_no_instance_type_of_the_architecture_does_not_fit():
    x86_only = PriceBook(ec2_instance_hour_usd={"c7i.large": 0.08925})
    with pytest.raises(ManagedInstancesMisfit, match=r"arm64 instance types .*\(none\)"):
        size_managed_instances(demand(), x86_only, PLATFORM)


def test_platform_ratios_limit_the_choice():
    only_8 = Platform(lmi_memory_gib_per_vcpu=[8])
    s = size_managed_instances(demand(), PRICES, only_8)
    assert (s.memory_gib_per_vcpu, s.instance_type) == (8, "r7g.large")


@pytest.mark.parametrize(
    ("name", "vcpus", "gib", "arch"),
    [("c7g.large", 2, 4, "arm64"), ("m7i.xlarge", 4, 16, "x86_64"), ("r7i.4xlarge", 16, 128, "x86_64")],
)
def test_instance_shapes_follow_ec2_naming(name, vcpus, gib, arch):
    shape = instance_shape(name)
    assert (shape.vcpus, shape.memory_gib, shape.architecture) == (vcpus, gib, arch)


def test_price_book_refuses_an_instance_type_it_cannot_size():
    with pytest.raises(ValueError, match=r"'t3\.large' is not an instance type"):
        PriceBook(ec2_instance_hour_usd={"t3.large": 0.0832})
