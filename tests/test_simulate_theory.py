"""The simulator's queue against queueing theory: M/M/c waiting times are Erlang C's.

Erlang C gives the whole waiting-time distribution, P(W > t) = C(c, a) e^{-(c mu - lambda) t}: the
share that waits, the mean, and the shape of the wait of those that do (exponential with rate
c mu - lambda under first come, first served). The shape is checked too, as the largest gap between
the simulated and the exponential distribution function (Kolmogorov-Smirnov distance): a queue
served in the wrong order has the same share and mean but not this shape.

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


def ks_exponential(values: list[float], rate: float) -> float:
    """Largest gap between the empirical distribution of values and Exp(rate)'s."""
    values = sorted(values)
    n, gap = len(values), 0.0
    for k, v in enumerate(values):
        f = 1 - math.exp(-rate * v)
        gap = max(gap, (k + 1) / n - f, f - k / n)
    return gap


def simulate_mmc(c: int, rho: float, seed: int) -> tuple[float, float, int, list[float]]:
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
    waited = [w for w in waits if w > 0]
    return len(waited) / len(waits), sum(waits) / len(waits), served, waited


@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(c=st.integers(1, 3), rho=st.floats(0.3, 0.9))
@example(c=1, rho=0.9)
@example(c=3, rho=0.3)
def test_waiting_times_match_erlang_c_within_5_percent(c, rho):
    p_wait, mean_wait, served, waited = simulate_mmc(c, rho, seed=1)
    lam, mu = rho * c, 1.0
    expected_p = erlang_c(c, lam / mu)
    expected_mean = expected_p / (c * mu - lam)
    assert served == ARRIVALS  # nothing refused or timed out without a bound
    assert abs(p_wait / expected_p - 1) < 0.05, (c, rho, p_wait, expected_p)
    assert abs(mean_wait / expected_mean - 1) < 0.05, (c, rho, mean_wait, expected_mean)
    # FIFO: ~0.02 at most over c 1-3, rho 0.3-0.9; served last come first, 0.08 to 0.46.
    assert ks_exponential(waited, c * mu - lam) < 0.05, (c, rho)


def test_the_distance_tells_an_exponential_from_another_shape():
    rng = random.Random(3)
    exponential = [rng.expovariate(2.0) for _ in range(20_000)]
    assert ks_exponential(exponential, 2.0) < 0.02
    assert ks_exponential(exponential, 2.4) > 0.05  # same shape, a mean 20 % off
    assert ks_exponential([0.5] * 1000, 2.0) > 0.3  # every wait the mean


def test_erlang_c_itself():
    # M/M/1: P(wait) = rho; the textbook M/M/2 at offered load 1: 1/3.
    assert math.isclose(erlang_c(1, 0.7), 0.7)
    assert math.isclose(erlang_c(2, 1.0), 1 / 3)
