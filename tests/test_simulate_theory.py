"""The simulator's queue against queueing theory: M/M/c waiting times are Erlang C's.

The model under test is the one the Kubernetes simulation uses for a replica (ReplicaServer on
the shared engine), with c slots and no queue bound or timeout. Erlang C is computed here (scipy
is not a dependency). Variance reduction: the sampled interarrival and service times are rescaled
so their means are exactly 1/lambda and 1/mu (moment matching); without it, the sample's own
utilization wanders by ~0.5 % and moves the mean wait at 0.9 by several percent on its own.
"""

from __future__ import annotations

import math
import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stacks.simulate.engine import Engine
from stacks.simulate.results import OK, Recorder
from stacks.simulate.server import ReplicaServer

ARRIVALS = 150_000
WARMUP = ARRIVALS // 20  # the run starts empty: drop the first 5 %


def erlang_c(c: int, offered: float) -> float:
    """P(an arrival waits) in M/M/c with offered load lambda/mu < c."""
    term, total = 1.0, 1.0
    for k in range(1, c):
        term *= offered / k
        total += term
    top = term * offered / c * c / (c - offered)
    return top / (total + top)


def simulate_mmc(c: int, rho: float, seed: int) -> tuple[float, float, int]:
    rng = random.Random(seed)
    lam, mu = rho * c, 1.0
    gaps = [rng.expovariate(lam) for _ in range(ARRIVALS)]
    service = [rng.expovariate(mu) for _ in range(ARRIVALS)]
    g, s = ARRIVALS / lam / sum(gaps), ARRIVALS / mu / sum(service)
    times, t = [], 0.0
    for gap in gaps:
        t += gap * g
        times.append(t)
    service = [x * s for x in service]
    engine, rec = Engine(), Recorder(times)
    server = ReplicaServer(engine, rec, c, math.inf)
    engine.feed(times, lambda i: server.offer(i, service[i]))
    engine.run(math.inf)
    waits = rec.wait[WARMUP:]
    served = sum(1 for code in rec.code if code == OK)
    return sum(1 for w in waits if w > 0) / len(waits), sum(waits) / len(waits), served


@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(c=st.integers(1, 3), rho=st.floats(0.3, 0.9))
@example(c=1, rho=0.9)
@example(c=3, rho=0.3)
def test_waiting_times_match_erlang_c_within_5_percent(c, rho):
    p_wait, mean_wait, served = simulate_mmc(c, rho, seed=1)
    lam, mu = rho * c, 1.0
    expected_p = erlang_c(c, lam / mu)
    expected_mean = expected_p / (c * mu - lam)
    assert served == ARRIVALS  # nothing refused or timed out without a bound
    assert abs(p_wait / expected_p - 1) < 0.05, (c, rho, p_wait, expected_p)
    assert abs(mean_wait / expected_mean - 1) < 0.05, (c, rho, mean_wait, expected_mean)


def test_erlang_c_itself():
    # M/M/1: P(wait) = rho; the textbook M/M/2 at offered load 1: 1/3.
    assert math.isclose(erlang_c(1, 0.7), 0.7)
    assert math.isclose(erlang_c(2, 1.0), 1 / 3)
