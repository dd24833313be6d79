"""The Pulumi program's hybrid workloads: each one's SQS worker (stacks/k8s/hybrid.py HybridWorker),
sized by the decision and wired to its AWS front through stack config.

The front is the workload's CDK stack (stacks/aws/hybrid.py), deployed first. `pulumi up` reads its
outputs from plain stack config `switchyard:hybridFronts.<workload>` ({queueUrl, region,
resultsBucket}) and the IAM users' keys from secret config `switchyard:hybridCredentials.<workload>`;
a missing value stops the program before any object exists, naming the output and the command.
A review render (`switchyard synth`) has neither: placeholders name where each value comes from.
"""

from __future__ import annotations

from typing import Any

import pulumi

from stacks.decision.workload import Workload
from stacks.errors import SwitchyardError
from stacks.k8s.hybrid import (
    CREDENTIAL_FIELDS,
    CREDENTIALS_CONFIG,
    HybridCredentials,
    HybridQueue,
    HybridScaling,
    HybridWorker,
    WorkerResources,
)
from stacks.k8s.settings import ClusterSecrets, ClusterSettings
from stacks.k8s.workload import WorkloadImage
from stacks.targets.hybrid import FRONTS_CONFIG, hybrid_sizing
from stacks.targets.hybrid.sizing import HybridSizing
from stacks.targets.serverless.installation import front_stack

# stack config key -> (the CDK output it is set from, HybridQueue field)
FRONT_FIELDS = {
    "queueUrl": ("QueueUrl", "queue_url"),
    "region": ("Region", "region"),
    "resultsBucket": ("ResultsBucketName", "results_bucket"),
}


def _set_command(w: Workload, key: str, output: str) -> str:
    stack = front_stack(w.name, w.settings.platform.installation)
    return (
        f"pulumi config set --path 'switchyard:{FRONTS_CONFIG}.{w.name}.{key}' \"$(aws cloudformation describe-stacks "
        f'--stack-name {stack} --query "Stacks[0].Outputs[?OutputKey==\'{output}\'].OutputValue" --output text)"'
    )


def placeholder_front(w: Workload) -> HybridQueue:
    """What a review render shows: each value says which CDK output it is set from, and how."""
    stack = front_stack(w.name, w.settings.platform.installation)
    values = {
        field: f"<{output} output of {stack}: switchyard:{FRONTS_CONFIG}.{w.name}.{key}>"
        for key, (output, field) in FRONT_FIELDS.items()
    }
    return HybridQueue(**values)


def placeholder_credentials(w: Workload) -> HybridCredentials:
    return HybridCredentials(*(f"<secret switchyard:{CREDENTIALS_CONFIG}.{w.name}.{f}>" for f in CREDENTIAL_FIELDS))


def fronts_from_config(config: Any, workloads: list[Workload]) -> dict[str, HybridQueue]:
    """Each hybrid workload's front from stack config; every missing value in one error."""
    found = config.get_object(FRONTS_CONFIG) or {}
    if not isinstance(found, dict):
        raise SwitchyardError(
            f"stack config switchyard:{FRONTS_CONFIG}: not an object (got {type(found).__name__})\n"
            f"    allowed: {{<workload>: {{{', '.join(FRONT_FIELDS)}}}}}, from each workload's CDK stack outputs"
        )
    fronts: dict[str, HybridQueue] = {}
    missing: list[str] = []
    for w in workloads:
        entry = found.get(w.name)
        entry = entry if isinstance(entry, dict) else {}
        absent = [(k, out) for k, (out, _) in FRONT_FIELDS.items() if not str(entry.get(k) or "").strip()]
        if absent:
            missing += [f"    {w.name}.{k} (the {out} output): {_set_command(w, k, out)}" for k, out in absent]
            continue
        fronts[w.name] = HybridQueue(**{field: str(entry[k]).strip() for k, (_, field) in FRONT_FIELDS.items()})
    if missing:
        raise SwitchyardError(
            f"stack config switchyard:{FRONTS_CONFIG}: the hybrid workloads' AWS fronts are not set, so their "
            "workers would not know their queue\n"
            "    allowed: the outputs of each workload's CDK stack (deploy it first: npx cdk deploy ...)\n"
            "    hint:\n" + "\n".join(missing)
        )
    return fronts


def worker_resources(h: HybridSizing) -> WorkerResources:
    k = h.worker
    return WorkerResources(
        cpu_millicores=k.cpu_millicores,
        memory_mb=k.memory_mb,
        pod_start_ms=k.pod_start_ms,
        first_start_ms=k.first_start_ms,
        model_cache_gi=k.model_cache_gi,
        gpu_resource=k.gpu_resource,
        gpus_per_replica=k.gpus_per_replica,
        gpu_type=k.gpu_type,
        gpu_product_suffix=k.gpu_product_suffix,
        rollout_max_surge=k.rollout_max_surge,
        rollout_max_unavailable=k.rollout_max_unavailable,
        pdb_max_unavailable=k.pdb_max_unavailable,
    )


def scaling(h: HybridSizing) -> HybridScaling:
    return HybridScaling(
        replicas_min=h.worker.min_replicas,
        replicas_max=h.worker.max_replicas,
        queue_length=h.queue_length,
        polling_interval_s=h.polling_interval_s,
        cooldown_s=h.cooldown_s,
    )


def hybrid_worker(
    w: Workload,
    *,
    image: WorkloadImage,
    settings: ClusterSettings,
    namespace: str,
    ownership: dict[str, str],
    front: HybridQueue | None,
    credentials: HybridCredentials | None,
    secrets: ClusterSecrets,
    keda: pulumi.Resource | None,
    gpu_operator: pulumi.Resource | None,
    guard: list[pulumi.Resource],
    opts: pulumi.ResourceOptions,
) -> HybridWorker:
    h = hybrid_sizing(w)
    return HybridWorker(
        w.name,
        image=image,
        resources=worker_resources(h),
        scaling=scaling(h),
        queue=front or placeholder_front(w),
        credentials=credentials or placeholder_credentials(w),
        settings=settings,
        namespace=namespace,
        ownership=ownership,
        cluster_secrets=secrets,
        keda=keda,
        gpu_operator=gpu_operator if h.worker.gpu_type else None,
        guard=guard,
        opts=opts,
    )
