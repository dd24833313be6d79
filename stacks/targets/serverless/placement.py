"""What a serverless workload owns and where callers find it (the stack outputs to read)."""

from __future__ import annotations

from stacks.profile import Endpoint, Mode, Profile
from stacks.profile.names import PLATFORM_STACK, STACK_PREFIX
from stacks.targets.serverless.alarms import serverless_alarms
from stacks.targets.serverless.sizing import ServerlessSizing


def serverless_placement(p: Profile, s: ServerlessSizing) -> dict[str, object]:
    stack = f"{STACK_PREFIX}{p.name}"
    reachable: dict[str, str] = {}
    if p.sla.mode is not Mode.async_:
        output = "HttpApiUrl" if p.sla.endpoint is Endpoint.http_api else "FunctionUrl"
        reachable["sync"] = f"{stack} output {output} (POST, SigV4-signed)"
    if p.sla.mode is not Mode.sync:
        reachable["async"] = f"{stack} output QueueUrl; results in ResultsBucketName under results/<id>.json"
    return {
        "stacks": [stack],
        "shared": PLATFORM_STACK,
        "reachable": reachable,
        "alarms": serverless_alarms(p, s),
        "weights": "in the image" if s.weights_in_image else "on EFS",
    }
