"""AWS Lambda: execution environments, provisioned concurrency and its scaling, and the SQS event source.

- An environment serves one request at a time. A request takes an idle provisioned environment,
  else an idle on-demand one (the most recently used), else starts a new one: a cold start of the
  plan's terms (runtime init, image, imports, weights, deserialize), paid by that request and billed
  (an image function's init is billed duration). Lambda does not queue synchronous requests.
- The init phase has its own limit (10 s), apart from the function timeout: a cold start within it
  is not counted against the timeout; a longer one is cut at the limit and run again inside the
  invocation, under the timeout (the plan's coldstart.init_limit), so that request pays the limit,
  the whole init and its prediction.
- Throttles (429): concurrent executions at the reserved concurrency, or more than the scaling rate
  of new environments (1,000 per 10 s per function) in the current period.
- Idle on-demand environments are reclaimed after lambda_idle_reclaim_s; a busy one is retired
  after the platform's environment lifetime (the next request on it starts a new one).
- Provisioned concurrency: scheduled actions set its floor and ceiling (pc_min..pc_max from the
  pre-warm to the window's end, re-applied every HOLD_EVERY_MINUTES, 0 outside); target tracking
  adds environments when 3 one-minute datapoints of utilization exceed the target (to
  ceil(allocated x utilization / target)) and removes them after 15 below 90 % of it. Utilization
  cannot exceed 100 %: the overflow runs on demand, so the tracking grows a saturated floor by at
  most 1 / target per reaction. New provisioned environments are ready after the allocation time
  plus their init; they are billed from the moment they are configured.
- SQS event source (async): pollers start at 5 concurrent batches and add up to 300 a minute while
  messages wait, up to the event source's maximum concurrency. A batch closes at the batch size or
  the batching window; its messages are worked one after another in one invocation. An invocation
  that outlasts the function timeout returns the whole batch, visible again after the visibility
  timeout; after the maximum receive count a message goes to the dead-letter queue.
- Settled start (the plan's burst window, stacks/simulate/window.py): the SQS pollers already at the
  event source's maximum concurrency, as after a while at a load that keeps messages waiting, and
  `warm_on_demand` on-demand environments idle and warm, as the base load keeps them.
- Not modelled: the account's burst limits beyond the scaling rate, EFS throughput limits (the
  sizing caps the queue's concurrency for them), mode both's queue path (its sync path is
  simulated), Lambda's own placement jitter.
"""

from __future__ import annotations

import math
from collections import deque

from stacks.simulate.constants import Behaviour
from stacks.simulate.engine import Engine
from stacks.simulate.params import DAY_S, ServerlessParams, TrafficShape
from stacks.simulate.results import DEAD_LETTER, OK, THROTTLED, TIMED_OUT, Recorder


class Env:
    __slots__ = ("born", "provisioned")

    def __init__(self, born: float, provisioned: bool) -> None:
        self.born = born
        self.provisioned = provisioned


class ServerlessSim:
    def __init__(
        self,
        engine: Engine,
        rec: Recorder,
        params: ServerlessParams,
        service_s: list[float],
        shape: TrafficShape,
        *,
        behaviour: Behaviour,
        start: float,
        end: float,
        day=None,
        settled: bool = False,
        warm_on_demand: int = 0,
    ) -> None:
        self.e, self.rec, self.s, self.service, self.b = engine, rec, params, service_s, behaviour
        engine.now = max(engine.now, start)  # the set-up below happens when the span opens
        self.queue_mode = params.mode == "async"
        self.pc_idle: list[Env] = []
        self.od_idle: deque[tuple[float, Env]] = deque()
        self.busy = 0
        self.pc_busy = 0
        self.od_alive = 0  # on-demand environments that exist (busy or idle)
        self.scale_period = -1
        self.scale_started = 0
        # provisioned concurrency
        self.pc_configured = 0
        self.pc_ready = 0
        self.pc_pending = 0  # configured, still allocating
        self.pc_excess = 0  # busy provisioned environments to drop when they finish
        self.pc_low = params.pc_min if params.provisioned and not params.pc_scheduled else 0
        self.pc_high = params.pc_max if params.provisioned and not params.pc_scheduled else 0
        self.pc_busy_integral = 0.0
        self.pc_minute_start = start
        self.datapoints: deque[float] = deque(maxlen=max(behaviour.pc_scale_in_datapoints, 1))
        # usage
        self._last = start
        self.pc_env_seconds = 0.0
        self.pc_busy_seconds = 0.0
        self.od_billed_seconds = 0.0
        self.od_invocations = 0
        self.od_alive_seconds = 0.0
        self.invocations = 0
        self.traces = 0.0  # X-Ray: per second, the reservoir's first invocations and a share of the rest
        self._trace_second = -1
        self._trace_count = 0
        self.inits = 0  # on-demand cold starts
        self.pc_inits = 0  # provisioned environments initialised
        self.peak = 0
        # SQS
        self.queue: deque[tuple[int, float, int]] = deque()  # (message, enqueued, receives so far)
        self.inflight = 0
        self.poll_limit = min(behaviour.sqs_initial_pollers, max(params.queue_max_concurrency, 1))
        if settled:  # after a while at a load that keeps messages waiting, the pollers are all added
            self.poll_limit = max(params.queue_max_concurrency, 1)
        for _ in range(warm_on_demand):  # initialised before the span: no cold start, no billed init
            self.od_idle.append((start, Env(start - behaviour.lambda_idle_reclaim_s / 2, False)))
            self.od_alive += 1
        self.collect_at: float | None = None
        self.max_queue_age = 0.0
        self.redeliveries = 0
        self.batch_timeouts = 0
        self.messages_received = 0

        if params.provisioned:
            if params.pc_scheduled:
                self._schedule(shape, start, end, day)
            else:
                self._set_pc(params.pc_min, ready_at=start)
            engine.every(behaviour.pc_alarm_period_s, self._alarm, start + behaviour.pc_alarm_period_s, end)
        engine.every(60.0, self._reclaim, start + 60.0, end)
        if self.queue_mode:
            engine.every(60.0, self._pollers, start + 60.0, end)
        self._capacity()

    # -- bookkeeping ---------------------------------------------------------------------------
    def _account(self) -> None:
        now = self.e.now
        dt = now - self._last
        if dt > 0:
            self.pc_env_seconds += self.pc_configured * dt
            self.pc_busy_integral += self.pc_busy * dt
            self.od_alive_seconds += self.od_alive * dt
            self._last = now

    def _capacity(self) -> None:
        warm = self.pc_ready + self.od_alive
        self.rec.set_capacity(self.e.now, warm)
        self.peak = max(self.peak, warm)

    def finish(self, end: float) -> None:
        self.e.now = end
        self._account()
        self._flush_traces()

    # -- provisioned concurrency ---------------------------------------------------------------
    def _schedule(self, shape: TrafficShape, start: float, end: float, day) -> None:
        s = self.s
        lo, hi = shape.active_seconds(day)
        length = hi - lo
        first_day = math.floor((start - length - s.pc_prewarm_s) / DAY_S)
        for d in range(first_day, math.ceil(end / DAY_S) + 1):
            warm, off = lo + d * DAY_S - s.pc_prewarm_s, hi + d * DAY_S
            if off <= start or warm >= end:
                continue
            if warm < start:
                # The span opens after this day's pre-warm configured the floor: it is ready, or
                # still allocating when the span opens within the allocation time of the pre-warm.
                self.pc_low, self.pc_high = s.pc_min, s.pc_max
                self._set_pc(s.pc_min, ready_at=warm + self.b.pc_allocation_s + s.cold_start_s)
            t = warm
            while t < off:
                if t >= start:
                    self.e.at(t, self._scheduled, (s.pc_min, s.pc_max))
                t += s.pc_hold_every_s
            if off < end:
                self.e.at(off, self._scheduled, (0, 0))

    def _scheduled(self, bounds: tuple[int, int]) -> None:
        self.pc_low, self.pc_high = bounds
        self._set_pc(min(max(self.pc_configured, self.pc_low), self.pc_high))

    def _set_pc(self, n: int, ready_at: float | None = None) -> None:
        """Configure n provisioned environments; new ones serve from ready_at (default: after the
        allocation time and their init). They are billed from now."""
        self._account()
        current = self.pc_configured
        if n == current:
            return
        self.pc_configured = n
        if n > current:
            now = self.e.now
            ready = now + self.b.pc_allocation_s + self.s.cold_start_s if ready_at is None else ready_at
            if ready <= now:
                self.pc_ready += n - current
                self.pc_idle += [Env(now, True) for _ in range(n - current)]
                self.pc_inits += n - current
            else:
                self.pc_pending += n - current
                self.e.at(ready, self._allocated, n - current)
        else:
            drop = current - n
            cancelled = min(drop, self.pc_pending)  # still allocating: never becomes ready
            self.pc_pending -= cancelled
            drop -= cancelled
            while drop and self.pc_idle:
                self.pc_idle.pop()
                self.pc_ready -= 1
                drop -= 1
            self.pc_excess += drop  # busy ones leave when they finish
        self._capacity()

    def _allocated(self, n: int) -> None:
        n = min(n, self.pc_pending)
        if n <= 0:
            return
        self._account()
        self.pc_pending -= n
        self.pc_ready += n
        self.pc_inits += n
        self.pc_idle += [Env(self.e.now, True) for _ in range(n)]
        self._capacity()
        if self.queue_mode:
            self._poll()

    def _alarm(self, now: float) -> None:
        self._account()
        minute = now - self.pc_minute_start
        if self.pc_ready > 0 and minute > 0:
            self.datapoints.append(self.pc_busy_integral / minute / self.pc_ready)
        self.pc_busy_integral, self.pc_minute_start = 0.0, now
        target, points = self.s.pc_target_utilization, list(self.datapoints)
        if self.pc_high == 0 or not points:
            return
        out_n, in_n = self.b.pc_scale_out_datapoints, self.b.pc_scale_in_datapoints
        latest = points[-1]
        desired = math.ceil(self.pc_ready * latest / target - 1e-9)
        if len(points) >= out_n and all(p > target for p in points[-out_n:]):
            n = min(max(desired, self.pc_configured), self.pc_high)
            if n > self.pc_configured:
                self._set_pc(n)
                self.datapoints.clear()
        elif len(points) >= in_n and all(p < target * self.b.pc_scale_in_ratio for p in points[-in_n:]):
            n = max(min(desired, self.pc_configured), self.pc_low)
            if n < self.pc_configured:
                self._set_pc(n)
                self.datapoints.clear()

    # -- environments --------------------------------------------------------------------------
    def _reclaim(self, now: float) -> None:
        idle, limit = self.od_idle, now - self.b.lambda_idle_reclaim_s
        if idle and idle[0][0] <= limit:
            self._account()
            while idle and idle[0][0] <= limit:
                idle.popleft()
                self.od_alive -= 1
            self._capacity()

    def _acquire(self) -> tuple[Env, bool] | None:
        """An environment for one invocation: (env, cold), or None when throttled."""
        if self.busy >= self.s.reserved_concurrency:
            return None
        self._account()
        if self.pc_idle:
            self.pc_busy += 1
            self.busy += 1
            return self.pc_idle.pop(), False
        if self.od_idle:
            self.busy += 1
            return self.od_idle.pop()[1], False
        period = int(self.e.now // self.b.lambda_scale_period_s)
        if period != self.scale_period:
            self.scale_period, self.scale_started = period, 0
        if self.scale_started >= self.b.lambda_scale_environments:
            return None
        self.scale_started += 1
        self.busy += 1
        self.od_alive += 1
        self.inits += 1
        self._capacity()
        return Env(self.e.now, False), True

    def _release(self, env: Env, timed_out: bool) -> None:
        self._account()
        self.busy -= 1
        now = self.e.now
        if env.provisioned:
            self.pc_busy -= 1
            if self.pc_excess:
                self.pc_excess -= 1
                self.pc_ready -= 1
                self._capacity()
            else:
                self.pc_idle.append(env)
        elif timed_out or now - env.born >= self.s.environment_lifetime_s:
            self.od_alive -= 1
            self._capacity()
        else:
            self.od_idle.append((now, env))

    def _cold(self, cold: bool) -> tuple[float, float]:
        """(init seconds before the invocation, init seconds inside it, under the timeout)."""
        if not cold:
            return 0.0, 0.0
        init = self.s.cold_start_s
        return (init, 0.0) if init <= self.s.init_limit_s else (self.s.init_limit_s, init)

    def _invoked(self) -> None:
        self.invocations += 1
        second = int(self.e.now)
        if second != self._trace_second:
            self._flush_traces()
            self._trace_second = second
        self._trace_count += 1

    def _flush_traces(self) -> None:
        n, reservoir = self._trace_count, self.s.xray_reservoir_per_s
        self.traces += min(n, reservoir) + self.s.xray_sampling_rate * max(0.0, n - reservoir)
        self._trace_count = 0

    def _bill(self, env: Env, seconds: float) -> None:
        if env.provisioned:
            self.pc_busy_seconds += seconds
        else:
            self.od_billed_seconds += seconds
            self.od_invocations += 1

    # -- synchronous requests ------------------------------------------------------------------
    def arrive(self, i: int) -> None:
        if self.queue_mode:
            self.queue.append((i, self.e.now, 0))
            self._poll()
            return
        got = self._acquire()
        if got is None:
            self.rec.answer(i, THROTTLED, 0.0)
            return
        env, cold = got
        s = self.s
        self._invoked()
        if cold:
            self.rec.mark_cold(i)
        before, inside = self._cold(cold)
        run = inside + self.service[i]
        timed_out = run > s.timeout_s
        held = before + (s.timeout_s if timed_out else run)
        self._bill(env, held)
        self.rec.answer(i, TIMED_OUT if timed_out else OK, s.invoke_overhead_s + held)
        self.e.at(self.e.now + held, self._done, (env, timed_out))

    def _done(self, arg: tuple[Env, bool]) -> None:
        env, timed_out = arg
        self._release(env, timed_out)
        if self.queue_mode:
            self.inflight -= 1
            self._poll()

    # -- the SQS event source ------------------------------------------------------------------
    def _pollers(self, now: float) -> None:
        top = max(self.s.queue_max_concurrency, 1)
        if self.queue:
            self.poll_limit = min(top, self.poll_limit + self.b.sqs_pollers_added_per_minute)
            self._poll()  # the added pollers take batches now, not when a running one returns
        elif self.inflight == 0:
            self.poll_limit = min(top, self.b.sqs_initial_pollers)

    def _poll(self, _: object = None) -> None:
        s, now = self.s, self.e.now
        while self.queue and self.inflight < self.poll_limit:
            first = self.queue[0][1]
            if len(self.queue) < s.batch_size and now < first + s.batch_window_s:
                due = first + s.batch_window_s
                if self.collect_at is None or self.collect_at > due or self.collect_at < now:
                    self.collect_at = due
                    self.e.at(due, self._collect)
                return
            if not self._invoke():
                self.e.at(now + 1.0, self._poll)  # throttled: the event source backs off and retries
                return

    def _collect(self, _: object) -> None:
        self.collect_at = None
        self._poll()

    def _invoke(self) -> bool:
        s, now = self.s, self.e.now
        got = self._acquire()
        if got is None:
            return False
        env, cold = got
        batch = [self.queue.popleft() for _ in range(min(s.batch_size, len(self.queue)))]
        self.inflight += 1
        self._invoked()
        self.messages_received += len(batch)
        before, inside = self._cold(cold)
        invoked = now + before
        t = invoked + inside
        finished = []
        for i, enqueued, _ in batch:
            age = now - enqueued
            self.max_queue_age = max(self.max_queue_age, age)
            self.rec.waited(i, age)
            if cold:
                self.rec.mark_cold(i)
            t += self.service[i]
            finished.append(t)
        run = t - invoked
        timed_out = run > s.timeout_s
        held = before + (s.timeout_s if timed_out else run)
        self._bill(env, held)
        if timed_out:
            # No partial response on a timeout: every message of the batch comes back.
            self.batch_timeouts += 1
            for i, enqueued, receives in batch:
                if receives + 1 >= s.max_receive_count:
                    self.rec.answer(i, DEAD_LETTER, now + s.visibility_timeout_s - enqueued)
                else:
                    self.redeliveries += 1
                    self.e.at(now + s.visibility_timeout_s, self._visible, (i, enqueued, receives + 1))
        else:
            for (i, enqueued, _), done in zip(batch, finished, strict=True):
                self.rec.answer(i, OK, done - enqueued)
        self.e.at(now + held, self._done, (env, timed_out))
        return True

    def _visible(self, message: tuple[int, float, int]) -> None:
        self.queue.appendleft(message)
        self._poll()

    def usage(self) -> dict[str, float]:
        gb = self.s.memory_gb
        return {
            "invocations": float(self.invocations),
            "xray_traces": self.traces,
            "messages": float(self.messages_received),
            "provisioned_gb_s": self.pc_env_seconds * gb,
            "provisioned_duration_gb_s": self.pc_busy_seconds * gb,
            "on_demand_duration_gb_s": self.od_billed_seconds * gb,
            "on_demand_inits": float(self.inits),
            "on_demand_invocations": float(self.od_invocations),
            "provisioned_inits": float(self.pc_inits),
            "redeliveries": float(self.redeliveries),
            "batch_timeouts": float(self.batch_timeouts),
        }
