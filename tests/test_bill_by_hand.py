"""The middle band's bills recomputed by hand, as a platform engineer checks `switchyard plan`: each
line from the profile, the price book and the figures its detail states, nothing else.

The profile: tests/fixtures/hybrid/image-tagging.yaml, a GPU model at 40 % sustained utilisation
(8 rps average, 20 at the peak, 24 h a day, 400 ms a prediction, 6 GB of weights on one L4).
Default prices: SQS $0.40 per million, S3 PUT $0.005 and GET $0.0004 per thousand, S3 $0.023 per
GB-month, CloudWatch alarm $0.10, an L4 node (8 GPUs) $3.20/h, model cache $0.10 per GB-month."""

from __future__ import annotations

import math

import pytest

from stacks.profile import Target
from stacks.profile.loader import load_profile
from stacks.targets import decide
from tests.conftest import FIXTURES

MONTH_H = 730
MESSAGES = 8 * 3600 * MONTH_H  # 21,024,000 a month
GIB = 2**30


@pytest.fixture(scope="module")
def workload():
    return decide(load_profile(FIXTURES / "hybrid" / "image-tagging.yaml"))


def test_the_hybrid_bill_line_by_line(workload):
    lines = {x.name: x for x in workload.decision.option(Target.hybrid).bill.lines}
    keda_reads = MONTH_H * 3600 / 15  # the workers are busy all day: KEDA reads every 15 s HPA loop
    by_hand = {
        "sqs": (3 * MESSAGES + keda_reads) / 1e6 * 0.40,  # send, receive, delete
        "results_put": MESSAGES / 1000 * 0.005,
        "results_get": MESSAGES / 1000 * 0.0004,
        "results_storage": 8 * 86400 * 30 * 4096 / GIB * 0.023,  # 30 days of 4 KiB results
        "access_logs": 2 * MESSAGES * 400 * 365 / (MONTH_H / 24) / GIB * 0.023,  # 400 B a request, a year
        "alarms": 2 * 0.10,
        "gpu_nodes": 12 * MONTH_H * 3.20 / 8,  # 12 replicas for the peak, 1 GPU of an 8-GPU node each
        "model_cache": math.ceil(6 * 2.2) * 0.10,  # a volume is whole GiB: 13.2 -> 14
        "weights_storage": 6 * 0.023,
    }
    assert set(lines) == set(by_hand)
    for name, usd in by_hand.items():
        assert lines[name].usd == round(usd, 2), name
    assert workload.decision.option(Target.hybrid).bill.total == pytest.approx(3650.71)


def test_a_volume_line_says_how_its_quantity_is_rounded(workload):
    """14 GB-month of model cache from '6 GB weights x 2.2': 13.2 by hand unless the line says the
    volume is requested in whole GiB."""
    for target in (Target.kubernetes, Target.hybrid):
        lines = {x.name: x for x in workload.decision.option(target).bill.lines}
        cache = lines["model_cache"]
        assert cache.quantity == 14
        assert (
            "6 GB weights x 2.2 (current and previous version) = 13.2 GB, in a volume of 14 GiB (whole GiB)"
            in cache.basis
        )
    volume = {x.name: x for x in workload.decision.option(Target.kubernetes).bill.lines}["queue_volume"]
    # 3 x 3,769 MiB = 11,307 MiB = 11.04 GiB, requested as 12
    assert volume.quantity == 12 and "= 11.04 GiB, in a volume of 12 GiB" in volume.basis
