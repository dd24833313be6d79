"""Kubernetes: KEDA + HPA scaling a Deployment of replicas that each run the server's admission contract.

- Routing: a Service spreads requests over the ready replicas at random (kube-proxy's iptables mode
  picks an endpoint with equal probability); a replica that is full answers 503 even while another
  has room, as the real one does. No ready replica: the request is refused (no endpoint).
- Signal: Prometheus scrapes each replica every scrape interval; the ScaledObject's query is the rate
  of the latency histogram's _sum over the rate window (Little's law: the average requests in the
  replicas), which only counts requests once they are answered. A queue workload scales on the
  stream's lag (entries not yet delivered), read directly.
- HPA (every sync period): desired = ceil(metric / per-replica threshold), left alone within the
  tolerance (relative to the Deployment's replicas, starting ones included); a sync and a scrape
  at the same instant: the sync reads the scrapes before it (scrapes are up to one interval stale); scale-up limited by the policy (pods per period) after its stabilisation window,
  scale-down by the highest recommendation within its window and the percent policy.
- KEDA: every pollingInterval, activation from 0 to 1 on any activity, and back to 0 after the
  cooldown (only when minReplicaCount is 0).
- Pods start in the sizing's pod_start_ms (schedule, image pull, weights, deserialize, engine,
  compile), then serve. Scale-down removes starting pods first, then the newest; a removed replica
  finishes what it holds and is billed until then.
- Settled start (the plan's burst window, stacks/simulate/window.py): `settled` replicas ready at the
  start with the HPA's history holding that recommendation, as after a long run at the base load;
  after `base_after[0]` (the window's last arrival) the base load's in-flight requests
  (`base_after[1]`, Little's law) are added to the metric as the rate window fills, so the
  scale-down after a burst runs without simulating every later request.
- Not modelled: node provisioning (the cluster is assumed to have room: bare metal holds the peak),
  the fallback on a lost signal, rollouts, mode both's queue path (its HTTP path is simulated).
"""

from __future__ import annotations

import math
import random
from collections import deque

from stacks.simulate.constants import Behaviour
from stacks.simulate.engine import Engine
from stacks.simulate.params import KubernetesParams
from stacks.simulate.results import OK, REJECTED, Recorder
from stacks.simulate.server import ReplicaServer


class Pod:
    __slots__ = ("busy", "created", "draining", "ready", "server")

    def __init__(self, created: float) -> None:
        self.created = created
        self.ready = False
        self.draining = False
        self.server: ReplicaServer | None = None
        self.busy = 0  # queue consumers working


class KubernetesSim:
    def __init__(
        self,
        engine: Engine,
        rec: Recorder,
        params: KubernetesParams,
        service_s: list[float],
        *,
        seed: int,
        behaviour: Behaviour,
        start: float,
        end: float,
        settled: int | None = None,
        base_after: tuple[float, float] | None = None,
    ) -> None:
        self.e, self.rec, self.k, self.service = engine, rec, params, service_s
        self.b = behaviour
        self.rng = random.Random(seed)
        self.queue_mode = params.works_queue and not params.serves_http
        self.pods: list[Pod] = []
        self.ready: list[Pod] = []
        self.replicas = 0  # the Deployment's spec.replicas
        self.pod_starts = 0
        self.replica_seconds = 0.0
        self.peak = 0
        self._last = start
        self._answered_gone = 0.0  # histogram sums of replicas already removed
        self.scrapes: deque[tuple[float, float]] = deque()
        self.recommendations: deque[tuple[float, int]] = deque()
        self.changes: deque[tuple[float, int]] = deque()  # (time, replicas added (+) or removed (-))
        self.last_active = start
        self.queue: deque[tuple[int, float]] = deque()  # (request, enqueued)
        self.draining: dict[ReplicaServer, Pod] = {}  # removed replicas still answering what they hold
        self.max_queue_age = 0.0
        self.base_after = base_after
        low = params.min_replicas if settled is None else settled
        for _ in range(low):
            pod = self._new_pod(start)
            self._make_ready(pod)
        self.replicas = low
        if settled is not None:
            self.recommendations.append((start, settled))
        self._capacity(start)
        engine.every(params.scrape_interval_s, self._scrape, start, end)
        engine.every(behaviour.hpa_sync_period_s, self._hpa, start + behaviour.hpa_sync_period_s, end)
        engine.every(params.polling_interval_s, self._keda, start + params.polling_interval_s, end)

    # -- bookkeeping ---------------------------------------------------------------------------
    def _account(self, now: float) -> None:
        self.replica_seconds += len(self.pods) * (now - self._last)
        self._last = now

    def _capacity(self, now: float) -> None:
        self.rec.set_capacity(now, len(self.ready))
        self.peak = max(self.peak, len(self.pods))

    def finish(self, end: float) -> None:
        self._account(end)

    # -- requests ------------------------------------------------------------------------------
    def arrive(self, i: int) -> None:
        if self.queue_mode:
            if not self.ready:
                self.rec.mark_cold(i)  # waits for KEDA to activate and a pod to start
            self.queue.append((i, self.e.now))
            self._dispatch()
            return
        ready = self.ready
        if not ready:
            self.rec.answer(i, REJECTED, 0.0)
            return
        pod = ready[0] if len(ready) == 1 else ready[int(self.rng.random() * len(ready))]
        pod.server.offer(i, self.service[i])

    def _dispatch(self) -> None:
        limit = self.k.replica_concurrency
        for pod in self.ready:
            while pod.busy < limit and self.queue:
                i, enqueued = self.queue.popleft()
                now = self.e.now
                age = now - enqueued
                if age > 0:
                    self.rec.waited(i, age)
                self.max_queue_age = max(self.max_queue_age, age)
                pod.busy += 1
                self.e.at(now + self.service[i], self._worked, (pod, i, enqueued))
            if not self.queue:
                return

    def _worked(self, arg: tuple[Pod, int, float]) -> None:
        pod, i, enqueued = arg
        pod.busy -= 1
        self.rec.answer(i, OK, self.e.now - enqueued)
        if pod.draining and pod.busy == 0:
            self._gone(pod)
        elif self.queue:
            self._dispatch()

    # -- pods ----------------------------------------------------------------------------------
    def _new_pod(self, now: float) -> Pod:
        self._account(now)
        pod = Pod(now)
        self.pods.append(pod)
        return pod

    def _make_ready(self, pod: Pod) -> None:
        pod.ready = True
        if not self.queue_mode:
            pod.server = ReplicaServer(
                self.e, self.rec, self.k.replica_concurrency, self.k.queue_depth, self.k.timeout_s, self._freed
            )
        self.ready.append(pod)

    def _started(self, pod: Pod) -> None:
        if pod.draining:
            return
        self._make_ready(pod)
        self._capacity(self.e.now)
        if self.queue_mode and self.queue:
            self._dispatch()

    def _freed(self, server: ReplicaServer) -> None:
        if server.in_system == 0 and server in self.draining:
            self._gone(self.draining.pop(server))

    def _gone(self, pod: Pod) -> None:
        self._account(self.e.now)
        if pod.server is not None:
            self._answered_gone += pod.server.answered_seconds
        self.pods.remove(pod)
        self._capacity(self.e.now)

    def _scale_to(self, n: int) -> None:
        now = self.e.now
        delta = n - self.replicas
        if delta == 0:
            return
        self.changes.append((now, delta))
        self.replicas = n
        if delta > 0:
            for _ in range(delta):
                pod = self._new_pod(now)
                self.pod_starts += 1
                self.e.at(now + self.k.pod_start_s, self._started, pod)
        else:
            live = [p for p in self.pods if not p.draining]
            # Not-ready pods go first, then the most recently created (ReplicaSet scale-down order).
            live.sort(key=lambda p: (p.ready, -p.created))
            for pod in live[:-delta]:
                pod.draining = True
                if pod.ready:
                    self.ready.remove(pod)
                idle = pod.busy == 0 and (pod.server is None or pod.server.in_system == 0)
                if idle or not pod.ready:
                    self._gone(pod)
                elif pod.server is not None:
                    self.draining[pod.server] = pod
        self._capacity(now)

    # -- the control loops ---------------------------------------------------------------------
    def _answered_total(self) -> float:
        return self._answered_gone + sum(p.server.answered_seconds for p in self.pods if p.server is not None)

    def _scrape(self, now: float) -> None:
        if self.queue_mode:
            return
        self.scrapes.append((now, self._answered_total()))
        while self.scrapes and self.scrapes[0][0] < now - self.k.rate_window_s - 1e-9:
            self.scrapes.popleft()

    def _http_metric(self) -> float | None:
        if len(self.scrapes) < 2:
            return None
        (t0, s0), (t1, s1) = self.scrapes[0], self.scrapes[-1]
        if t1 <= t0:
            return None
        metric = (s1 - s0) / (t1 - t0)
        if self.base_after is not None and t1 > self.base_after[0]:
            stop, inflight = self.base_after
            metric += inflight * min(1.0, (t1 - max(t0, stop)) / (t1 - t0))
        return metric

    def _active(self) -> bool:
        if self.queue_mode:
            return bool(self.queue) or any(p.busy for p in self.pods)
        metric = self._http_metric()
        return bool(metric) or any(p.server is not None and p.server.in_system for p in self.pods)

    def _keda(self, now: float) -> None:
        active = self._active()
        if active:
            self.last_active = now
        if self.replicas == 0 and active:
            self._scale_to(max(1, self.k.min_replicas))
        elif (
            self.replicas > 0
            and self.k.min_replicas == 0
            and not active
            and now - self.last_active >= self.k.cooldown_s
        ):
            self._scale_to(0)

    def _hpa(self, now: float) -> None:
        if self.replicas == 0:
            return
        k, current = self.k, self.replicas
        if self.queue_mode:
            metric, target = float(len(self.queue)), k.queue_lag_target
        else:
            m = self._http_metric()
            if m is None:
                return
            metric, target = m, k.http_target
        ratio = metric / (current * target)
        desired = current if abs(ratio - 1) <= self.b.hpa_tolerance else math.ceil(metric / target)
        desired = max(max(k.min_replicas, 1), min(k.max_replicas, desired))
        recs = self.recommendations
        recs.append((now, desired))
        horizon = max(k.scale_up_window_s, k.scale_down_window_s)
        while recs and recs[0][0] < now - horizon:
            recs.popleft()
        while self.changes and self.changes[0][0] < now - max(k.scale_up_period_s, k.scale_down_period_s):
            self.changes.popleft()
        up = min(d for t, d in recs if t >= now - k.scale_up_window_s)
        down = max(d for t, d in recs if t >= now - k.scale_down_window_s)
        if up > current:
            added = sum(d for t, d in self.changes if d > 0 and t > now - k.scale_up_period_s)
            self._scale_to(min(up, current - added + k.scale_up_pods))
        elif down < current:
            removed = -sum(d for t, d in self.changes if d < 0 and t > now - k.scale_down_period_s)
            start = current + removed
            floor = math.ceil(start * (1 - k.scale_down_percent / 100))
            self._scale_to(max(down, floor, max(k.min_replicas, 1)))
