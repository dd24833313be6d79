"""The discrete-event core both targets share: a heap of (time, sequence, callback, argument).

Ties are broken by the order events were scheduled, so a run is a pure function of its inputs and
seed. Arrivals are fed one at a time: the next one takes its place in that order when the previous
one fires, as if scheduled then, but waits beside the heap rather than in it (most events are
arrivals: a push and a pop each would cost a quarter of a run), which also keeps the heap as small as
the events in flight rather than the length of the trace.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import Any

Progress = Callable[[float], None]


class Engine:
    __slots__ = ("_arrive", "_heap", "_next", "_seq", "_times", "events", "now")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._seq = 0
        self.now = 0.0
        self.events = 0
        self._times: Sequence[float] = ()
        self._arrive: Callable[[int], None] | None = None
        self._next: tuple[float, int, int] | None = None  # (time, seq, index) of the arrival waiting to fire

    def at(self, t: float, fn: Callable[[Any], None], arg: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, fn, arg))

    def every(self, period: float, fn: Callable[[float], None], start: float, until: float) -> None:
        """fn(now) at start, start + period, ... while <= until."""

        def tick(t: float) -> None:
            fn(t)
            if t + period <= until:
                self.at(t + period, tick, t + period)

        if start <= until:
            self.at(start, tick, start)

    def feed(self, times: Sequence[float], fn: Callable[[int], None]) -> None:
        """fn(i) at times[i] (sorted), each arrival taking its place in the order when the one before it fires."""
        self._times, self._arrive = times, fn
        if times:
            self._seq += 1
            self._next = (times[0], self._seq, 0)

    def run(self, until: float, progress: Progress | None = None, every_events: int = 200_000) -> None:
        heap, pop = self._heap, heapq.heappop
        times, arrive = self._times, self._arrive
        count = self.events
        while True:
            nxt = self._next
            top = heap[0] if heap else None
            if top is not None and (nxt is None or top[0] < nxt[0] or (top[0] == nxt[0] and top[1] < nxt[1])):
                if top[0] > until:
                    break
                t, _, fn, arg = pop(heap)
                self.now = t
                fn(arg)
            elif nxt is not None:
                t, _, i = nxt
                if t > until:
                    break
                self.now = t
                if i + 1 < len(times):
                    self._seq += 1
                    self._next = (times[i + 1], self._seq, i + 1)
                else:
                    self._next = None
                arrive(i)  # type: ignore[misc]
            else:
                break
            count += 1
            if progress is not None and count % every_events == 0:
                progress(t)
        self.events = count
        self.now = until
