"""The CloudWatch alarms a serverless workload stack creates: one list that stacks/aws/alarms.py
builds exactly and the bill prices (one standard alarm each, plus one metric filter)."""

from __future__ import annotations

from stacks.profile import Endpoint, Mode, Profile
from stacks.targets.serverless.sizing import ServerlessSizing


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
