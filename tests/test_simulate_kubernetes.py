"""The KEDA + HPA model against ramps worked out by hand from the controllers' documented rules.

HPA: every 15 s, desired = ceil(metric / per-replica target) unless within 10 % of the current
ratio; scale-up by at most `scale_up_pods` within any `scale_up_period_s` (changes exactly one
period old no longer count, as the controller's cutoff is exclusive). KEDA: activation from 0 on
its polling interval, back to 0 `cooldown_s` after the last poll that saw activity. A pod serves
`pod_start_s` after it is created.
"""

from __future__ import annotations

import math

from stacks.simulate.constants import DEFAULT
from stacks.simulate.engine import Engine
from stacks.simulate.kubernetes import KubernetesSim
from stacks.simulate.params import KubernetesParams
from stacks.simulate.results import OK, Recorder, summarize

QUEUE = KubernetesParams(
    mode="async",
    serves_http=False,
    works_queue=True,
    replica_concurrency=1,
    queue_depth=0,
    timeout_s=300.0,
    min_replicas=1,
    max_replicas=10,
    pod_start_s=30.0,
    pod_start_parts_ms={},
    polling_interval_s=15.0,
    cooldown_s=300.0,
    scrape_interval_s=15.0,
    rate_window_s=60.0,
    http_target=0.0,
    queue_lag_target=10.0,
    scale_up_window_s=0.0,
    scale_up_pods=4,
    scale_up_period_s=15.0,
    scale_down_window_s=300.0,
    scale_down_percent=50.0,
    scale_down_period_s=60.0,
)
HTTP = KubernetesParams(
    **{
        **QUEUE.__dict__,
        "mode": "sync",
        "serves_http": True,
        "works_queue": False,
        "queue_depth": 100,
        "timeout_s": math.inf,
        "http_target": 0.3,
        "queue_lag_target": 0.0,
    }
)


def replay(params: KubernetesParams, times: list[float], service: list[float], end: float):
    engine, rec = Engine(), Recorder(times)
    model = KubernetesSim(engine, rec, params, service, seed=0, behaviour=DEFAULT, start=0.0, end=end)
    changes: list[tuple[float, int]] = []
    scale = model._scale_to

    def spy(n: int) -> None:
        if n != model.replicas:
            changes.append((engine.now, n))
        scale(n)

    model._scale_to = spy
    engine.feed(times, model.arrive)
    engine.run(end)
    model.finish(end)
    return summarize(rec), model, rec, changes


def test_a_bulk_enqueue_ramps_by_the_scale_up_policy_and_pods_serve_after_their_start():
    # 100 messages of 10 s at t = 100 on one replica: at the 105 s sync the lag is 99, desired
    # ceil(99 / 10) = 10, the policy allows +4 (5); at 120 the change at 105 is one period old, +4
    # (9). At 135 the 4 pods that just started took 4 more: lag 92 on 9 replicas is within 10 % of
    # the target (92 / 90), so the HPA stops at 9. Each pod serves 30 s after its creation.
    n = 100
    s, model, rec, changes = replay(QUEUE, [100.0] * n, [10.0] * n, end=2000.0)
    assert changes[:2] == [(105.0, 5), (120.0, 9)]
    assert changes[2][1] < 9  # the next change is the scale-down
    ready = [(t, c) for t, c in rec.capacity if 100 <= t <= 200]
    assert ready == [(135.0, c) for c in range(2, 6)] + [(150.0, c) for c in range(6, 10)]
    assert s.served == n
    # Taken by 150 s: 4 by the first replica (100-130), 4 at 135, 1 at 140, 4 at 145, 5 at 150 (18).
    # Then 9 every 10 s (4 at 155 + 10k, 5 at 160 + 10k): the 82 left end with 1 at 245 s.
    assert model.max_queue_age == 145.0


def test_keda_activates_from_zero_on_its_poll_and_returns_to_zero_after_the_cooldown():
    params = KubernetesParams(**{**QUEUE.__dict__, "min_replicas": 0})
    s, _, rec, changes = replay(params, [100.0], [1.0], end=1000.0)
    # polls at 15 s steps: 105 sees the message, the pod serves at 135, the message waited 35 s.
    assert rec.code[0] == OK and rec.wait[0] == 35.0
    # the last poll that saw it (busy until 136) is 135; 135 + 300 s of cooldown -> 0 at 435.
    assert changes == [(105.0, 1), (435.0, 0)]
    assert s.cold_starts == 1


def test_the_http_metric_is_the_average_requests_in_the_replica_and_drives_the_first_sync():
    # One request a second taking 0.5 s: Little's law gives 0.5 in the replica, ceil(0.5 / 0.3) = 2.
    # A sync and a scrape at the same instant: the sync reads what was scraped before it (the
    # slower phase), so the 15 s sync sees one scrape and the 30 s one the first rate.
    times = [float(i) for i in range(600)]
    s, _, _, changes = replay(HTTP, times, [0.5] * 600, end=600.0)
    assert changes[0] == (30.0, 2)
    assert s.served == 600 and s.max_wait_s == 0.0 and s.rejected == 0


def test_a_load_within_the_tolerance_leaves_the_replicas_alone():
    # 0.5 in the replica against a target of 0.5 x 1.05: within 10 %, no change all hour.
    params = KubernetesParams(**{**HTTP.__dict__, "http_target": 0.5 * 1.05})
    times = [float(i) for i in range(3600)]
    s, model, _, changes = replay(params, times, [0.5] * 3600, end=3600.0)
    assert changes == [] and model.replica_seconds == 3600.0
    assert s.served == 3600


def test_the_scale_up_policy_counts_what_it_added_within_its_period():
    # 4 pods per 60 s: +4 at 105, nothing more until that change is a period old (165).
    params = KubernetesParams(**{**QUEUE.__dict__, "scale_up_period_s": 60.0})
    _, _, _, changes = replay(params, [100.0] * 100, [10.0] * 100, end=400.0)
    assert changes[:2] == [(105.0, 5), (165.0, 9)]
