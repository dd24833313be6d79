"""The CloudWatch alarms a serverless workload stack creates: one list that stacks/aws/alarms.py
builds exactly and the bill prices (one standard alarm each, plus one metric filter), and the
thresholds the sizing sets from its simulated burst (stacks/targets/serverless/simulation.py), so no
alarm fires under the traffic it was sized for.
"""

from __future__ import annotations

import math

from stacks.pricebook import Platform
from stacks.profile import Endpoint, Mode, Profile
from stacks.targets.serverless.simulation import COLD_TOLERANCE
from stacks.targets.serverless.sizing import ServerlessSizing

# CloudWatch bills an alarm per metric it reads: these two are metric math over two (cold starts over
# the budget, or spilled invocations, / invocations).
METRICS_READ = {"ProvisionedSpillover": 2, "ColdStartOverBudget": 2}
# They and DurationP99 page on what lasts, not on one burst: 3 periods of 5 minutes in a row.
SUSTAINED_PERIODS = 3
# Spillover pages above half again the share of a burst's invocations the sizing lets run on demand:
# bursts differ (their length, their arrivals), a floor that no longer holds the load differs more.
SPILL_MARGIN = 1.5


def serverless_alarms(p: Profile, s: ServerlessSizing) -> list[str]:
    names = ["Errors", "Throttles", "DurationP99"]
    if s.provisioned:
        names.append("ProvisionedSpillover")
    names.append("ModelErrors")
    if p.sla.mode is not Mode.async_:
        names.append("HttpApi5xx" if p.sla.endpoint is Endpoint.http_api else "Url5xx")
    if p.sla.mode is not Mode.sync:
        names += ["QueueOldestMessage", "DeadLetters", "ResultWriteFailures"]
    names.append("ColdStartOverBudget")
    return names


def alarm_metrics(names: list[str]) -> int:
    """What the alarms cost, in CloudWatch's unit: metrics read by alarms."""
    return sum(METRICS_READ.get(name, 1) for name in names)


def queue_alarm_s(platform: Platform, waited_s: float | None) -> int:
    """QueueOldestMessage's threshold: the platform's, or twice the simulated burst's longest wait
    (`waited_s`, to the minute above) where the sizing lets a burst queue longer than that."""
    return max(platform.queue_oldest_message_alarm_s, math.ceil(2 * (waited_s or 0.0) / 60) * 60)


def spill_share_alarm(s: ServerlessSizing) -> float:
    """ProvisionedSpillover's threshold, a share of a period's invocations run beyond the provisioned
    floor: above what the plan's simulated burst spills (SPILL_MARGIN), at least COLD_TOLERANCE."""
    accepted = (s.burst_on_demand_share or 0.0) * SPILL_MARGIN
    return min(1.0, max(COLD_TOLERANCE, math.ceil(accepted * 100) / 100))


def cold_share_alarm(s: ServerlessSizing) -> float:
    """ColdStartOverBudget's threshold, a share of a period's invocations paying a cold start over the
    budget: the tolerance the sizing holds a burst to, or the share it had to accept (the plan's
    sim.coldstart names it) when no floor within its search met that."""
    accepted = s.simulated_cold_share or 0.0
    return max(COLD_TOLERANCE, math.ceil(accepted * 1000) / 1000)
