"""The kubernetes end of a move (stacks/commands/lock.py `runbook`): the Pulumi program, the Service,
the workload's Redis stream (an async workload's namespace and Redis are retained when it leaves)."""

from __future__ import annotations

from stacks.pricebook import Platform
from stacks.profile.names import namespace_for
from stacks.targets.base import MoveEnd, QueueEnd


def kubernetes_end(name: str, platform: Platform) -> MoveEnd:
    ns = namespace_for(name, platform.k8s_namespace_prefix)
    stream = f"{name}:queue"
    redis = f"kubectl -n {ns} exec deploy/{name}-redis -- sh -c"
    return MoveEnd(
        label="kubernetes",
        cluster_deploy=f"pulumi up   (the program now includes {name}; first `kubectl delete namespace {ns}` if an earlier "
        "move left it: a retained namespace makes the create fail with AlreadyExists)",
        health=f"kubectl -n {ns} rollout status deployment/{name} --timeout=15m && kubectl -n {ns} get scaledobject {name}",
        sync=f"http://{name}.{ns}.svc (or your ingress; `switchyard outputs {name}`)",
        activity=f"the switchyard_requests_total rate of namespace {ns}",
        queue=QueueEnd(
            kind="redis-stream",
            send=f"POST http://{name}.{ns}.svc/messages (API key), or XADD {stream} inside the namespace",
            depth=f'{redis} \'redis-cli -a "$REDIS_PASSWORD" XLEN {stream}; redis-cli -a "$REDIS_PASSWORD" '
            f"XPENDING {stream} workers'   (both 0; lag: XINFO GROUPS {stream})",
            dead=f"the Redis stream {stream}:dead",
            redrive=f"{redis} 'redis-cli -a \"$REDIS_PASSWORD\" XRANGE {stream}:dead - +', then XADD each entry's "
            f"fields back to {stream}",
            results=f"GET http://{name}.{ns}.svc/results/<id> (API key; Redis key {stream}:results/<caller>/<id>)",
            results_kept=f"{platform.k8s_results_retention_hours} h, in the workload's Redis",
        ),
        cluster_remove=f"pulumi up   (the program no longer includes {name}: its serving Deployment goes; an async "
        "workload's namespace and Redis are retained)",
        left_behind=f"an async workload's namespace {ns} keeps its Redis: export what callers have not fetched "
        f"(SCAN 0 MATCH {stream}:results/* COUNT 1000, then GET) and the dead letters, then "
        f"`kubectl delete namespace {ns}`",
        namespace=ns,
    )
