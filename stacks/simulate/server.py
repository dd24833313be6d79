"""One Kubernetes replica's admission contract, as the rendered server documents it.

templates/kubernetes/server.py.jinja: CONCURRENCY predictions at once (a semaphore), at most
QUEUE_DEPTH more waiting for a slot (beyond that, 503 at once), and TIMEOUT_S from the request's
arrival: a request still waiting or running then is answered 504; a running prediction keeps its
slot until it returns (abandoned), so the concurrency limit stays true, and while every slot is
held by an abandoned prediction the replica refuses new requests at once (503, no free slot).
Waiters are served first come, first served, and all share one timeout, so their deadlines are in
queue order: expired waiters are answered lazily, whenever the queue is looked at, at the time
their deadline passed. Not modelled: the readiness probe that takes a replica with no free slot out
of the Service (its period decides when; until then it refuses).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from stacks.simulate.engine import Engine
from stacks.simulate.results import OK, REJECTED, TIMED_OUT, Recorder

INFINITE = float("inf")


class ReplicaServer:
    __slots__ = (
        "abandoned",
        "answered_seconds",
        "engine",
        "on_free",
        "queue_depth",
        "rec",
        "running",
        "slots",
        "timeout",
        "waiting",
    )

    def __init__(
        self,
        engine: Engine,
        rec: Recorder,
        slots: int,
        queue_depth: float,
        timeout_s: float = INFINITE,
        on_free: Callable[[ReplicaServer], None] | None = None,
    ) -> None:
        self.engine, self.rec = engine, rec
        self.slots, self.queue_depth, self.timeout = slots, queue_depth, timeout_s
        self.running = 0
        self.abandoned = 0  # running past their deadline: answered 504, holding their slot
        self.waiting: deque[tuple[float, int, float, float]] = deque()  # (deadline, request, arrived, service)
        self.answered_seconds = 0.0  # sum of answered requests' latencies: the histogram _sum KEDA's query rates
        self.on_free = on_free

    @property
    def in_system(self) -> int:
        return self.running + len(self.waiting)

    def offer(self, i: int, service_s: float) -> None:
        now = self.engine.now
        if self.abandoned >= self.slots:
            self.rec.answer(i, REJECTED, 0.0)
            return
        if self.waiting:
            self._expire(now)
        if self.running < self.slots:
            self._start(i, now, now, service_s)
        elif len(self.waiting) >= self.queue_depth:
            self.rec.answer(i, REJECTED, 0.0)
        else:
            self.waiting.append((now + self.timeout, i, now, service_s))

    def _expire(self, now: float) -> None:
        waiting, rec = self.waiting, self.rec
        while waiting and waiting[0][0] <= now:
            _, i, _arrived, _ = waiting.popleft()
            rec.answer(i, TIMED_OUT, self.timeout)
            self.answered_seconds += self.timeout

    def _start(self, i: int, arrived: float, now: float, service_s: float) -> None:
        self.running += 1
        if now > arrived:
            self.rec.waited(i, now - arrived)
        deadline = arrived + self.timeout
        over = now + service_s > deadline
        if over:
            self.engine.at(deadline, self._abandon, i)
        self.engine.at(now + service_s, self._done, (i, arrived, over))

    def _abandon(self, i: int) -> None:
        """The deadline of a running prediction: the caller gets 504 now; the slot stays taken."""
        self.abandoned += 1
        self.rec.answer(i, TIMED_OUT, self.timeout)
        self.answered_seconds += self.timeout

    def _done(self, arg: tuple[int, float, bool]) -> None:
        i, arrived, over = arg
        now = self.engine.now
        self.running -= 1
        if over:
            self.abandoned -= 1
        else:
            latency = now - arrived
            self.rec.answer(i, OK, latency)
            self.answered_seconds += latency
        if self.waiting:
            self._expire(now)
            if self.waiting:
                _, j, arrived_j, service_j = self.waiting.popleft()
                self._start(j, arrived_j, now, service_j)
        if self.on_free is not None:
            self.on_free(self)
