"""The CloudWatch alarms a managed-instances workload stack creates: one list that stacks/aws/alarms.py
builds exactly and the bill prices.

The serverless list without the two that cannot fire here: ProvisionedSpillover (no provisioned
concurrency: the floor of environments is always on) and ColdStartOverBudget (environments start
when the capacity provider scales, off the request path; a request never waits for an init).
"""

from __future__ import annotations

from stacks.profile import Endpoint, Mode, Profile


def managed_instances_alarms(p: Profile) -> list[str]:
    names = ["Errors", "Throttles", "DurationP99", "ModelErrors"]
    if p.sla.mode is not Mode.async_:
        names.append("HttpApi5xx" if p.sla.endpoint is Endpoint.http_api else "Url5xx")
    if p.sla.mode is not Mode.sync:
        names += ["QueueOldestMessage", "DeadLetters", "ResultWriteFailures"]
    return names
