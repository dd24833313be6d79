"""What a serverless workload owns and where callers find it (the stack outputs to read)."""

from __future__ import annotations

from stacks.pricebook import DEFAULT_INSTALLATION
from stacks.profile import Endpoint, Mode, Profile
from stacks.targets.serverless.alarms import serverless_alarms
from stacks.targets.serverless.installation import platform_stack, workload_stack
from stacks.targets.serverless.sizing import ServerlessSizing


def serverless_placement(
    p: Profile, s: ServerlessSizing, installation: str = DEFAULT_INSTALLATION
) -> dict[str, object]:
    stack = workload_stack(p.name, installation)
    reachable: dict[str, str] = {}
    if p.sla.mode is not Mode.async_:
        output = "HttpApiUrl" if p.sla.endpoint is Endpoint.http_api else "FunctionUrl"
        reachable["sync"] = f"{stack} output {output} (POST, SigV4-signed)"
    if p.sla.mode is not Mode.sync:
        reachable["async"] = (
            f"{stack} output QueueUrl; results in ResultsBucketName under results/<caller>/<id>.json (attach ResultsReadPolicyArn)"
        )
    return {
        "stacks": [stack],
        "shared": platform_stack(installation),
        "reachable": reachable,
        "alarms": serverless_alarms(p, s),
        "weights": "in the image" if s.weights_in_image else "on EFS",
    }
