"""The discrete-event core both targets share: a heap of (time, sequence, callback, argument).

Ties are broken by the order events were scheduled, so a run is a pure function of its inputs and
seed. Arrivals are fed one at a time (the next one is scheduled when the previous one fires), which
keeps the heap as small as the events in flight rather than the length of the trace.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import Any

Progress = Callable[[float], None]


class Engine:
    __slots__ = ("_heap", "_seq", "events", "now")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._seq = 0
        self.now = 0.0
        self.events = 0

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
        """fn(i) at times[i] (sorted), scheduling each arrival only when the one before it fires."""
        n = len(times)
        if not n:
            return

        def arrive(i: int) -> None:
            if i + 1 < n:
                self.at(times[i + 1], arrive, i + 1)
            fn(i)

        self.at(times[0], arrive, 0)

    def run(self, until: float, progress: Progress | None = None, every_events: int = 200_000) -> None:
        heap, pop = self._heap, heapq.heappop
        count = self.events
        while heap and heap[0][0] <= until:
            t, _, fn, arg = pop(heap)
            self.now = t
            fn(arg)
            count += 1
            if progress is not None and count % every_events == 0:
                progress(t)
        self.events = count
        self.now = until
