"""The Pulumi program: every profile resolved to kubernetes, plus the cluster add-ons they need.

`pulumi up` runs it through stacks/k8s/__main__.py with stacks/k8s as its working directory;
tests and `switchyard synth` run `build()` under Pulumi's mocks to see the objects it would
create. Every path it reads is anchored on the project root (where Pulumi.yaml is), never the
working directory.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from stacks.commands.lock import entry as lock_entry
from stacks.decision.workload import Workload
from stacks.errors import Problem, ProfileError, SwitchyardError
from stacks.k8s import api_keys, mirrors, naming
from stacks.k8s.addons import GpuOperator, GpuSharing, Keda, gpu_sharing
from stacks.k8s.exposure import external_url
from stacks.k8s.hybrid import HybridCredentials, HybridQueue, HybridWorker, credentials_from_config
from stacks.k8s.hybrid_workloads import fronts_from_config, hybrid_worker
from stacks.k8s.scaling import queue_result_key, queue_stream
from stacks.k8s.security import never_adopt_guard
from stacks.k8s.settings import (
    ClusterSecrets,
    ClusterSettings,
    from_pulumi_config,
    secrets_from_pulumi_config,
)
from stacks.k8s.vendor import MIG_CONFIG_LABEL
from stacks.k8s.workload import InferenceWorkload, WorkloadImage
from stacks.packaging import hybrid_worker_spec, render, spec_for
from stacks.pricebook import Platform
from stacks.profile import Preset, Target
from stacks.profile.loader import load_settings
from stacks.targets.kubernetes import kubernetes_sizing
from stacks.weights import tree_hash, weights_version
from stacks.workloads import Batch, load_all

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
BUILD_ROOT = PROJECT_ROOT / "build"
# Placeholder for a review render (switchyard synth) that cannot read the stack's secrets.
UNSET_SECRET = "<set with: pulumi config set --secret switchyard:apiKey ...>"


def image_reference(w: Workload, settings: ClusterSettings, context: Path) -> str:
    # The tag is the build context's content hash: the image is pinned, and a code or template
    # change rolls the Deployment while a no-op re-run changes nothing.
    return f"{settings.image_registry.rstrip('/')}/{w.name}:{tree_hash(context)[:16]}"


def weights_source(w: Workload, settings: ClusterSettings) -> str:
    if w.profile.model.weights_in_s3:
        return mirrors.weights_source(w.profile.model.weights, settings)
    # local weights: uploaded to the cluster's weights store under their content hash (switchyard publish)
    return f"{settings.weights_base_uri.rstrip('/')}/{w.name}/{weights_version(w)}/"


def image_for(w: Workload, settings: ClusterSettings, build_root: Path) -> WorkloadImage:
    """The image of the workload's build context: the HTTP server, or the hybrid's SQS worker."""
    spec = hybrid_worker_spec(w) if w.target is Target.hybrid else spec_for(w, Target.kubernetes)
    context = render(w, build_root, spec=spec)
    return WorkloadImage(
        reference=image_reference(w, settings, context),
        spec=spec,
        weights_source=weights_source(w, settings),
        weights_version=weights_version(w),
    )


@dataclass
class Built:
    workloads: dict[str, InferenceWorkload] = field(default_factory=dict)
    hybrid: dict[str, HybridWorker] = field(default_factory=dict)  # the hybrid workloads' SQS workers
    namespaces: dict[str, str] = field(default_factory=dict)  # workload -> the namespace it owns
    addons: list[pulumi.Resource] = field(default_factory=list)
    sharing: GpuSharing | None = None


def _name_line(file: Path) -> int | None:
    try:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if re.match(r"^name\s*:", line):
                return number
    except OSError:
        return None
    return None


def check_namespaces(workloads: list[Workload], settings: ClusterSettings) -> None:
    """Validation checked the default add-on namespaces; here the ones this stack names, too."""
    problems = []
    for w in workloads:
        platform = w.settings.platform
        reason = naming.reserved_reason(
            w.name,
            platform.k8s_namespace_prefix,
            addons=settings.addon_namespaces(),
            foreign=platform.k8s_foreign_namespaces,
        )
        if reason:
            problems.append(
                Problem(
                    str(w.file),
                    _name_line(w.file),
                    "name",
                    f"'{w.name}': {reason}",
                    naming.RESERVED_ALLOWED,
                    "rename the workload",
                )
            )
    if problems:
        raise ProfileError(problems)


def check_cluster_facts(workloads: list[Workload], settings: ClusterSettings) -> None:
    """What `pulumi up` needs that a review render does not."""
    if workloads and not settings.model_storage_class:
        names = ", ".join(w.name for w in workloads)
        raise SwitchyardError(
            f"stack config switchyard:modelStorageClass is not set, and {names} need(s) the model cache\n"
            "    allowed: a StorageClass that offers ReadWriteMany (cephfs, nfs-csi, longhorn with RWX, ...); "
            "the default class on bare metal is usually ReadWriteOnce, which leaves the cache Pending\n"
            "    hint: pulumi config set switchyard:modelStorageClass cephfs"
        )


def build(
    batch: Batch,
    settings: ClusterSettings,
    build_root: Path = BUILD_ROOT,
    *,
    secrets: ClusterSecrets | None = None,
    platform: Platform | None = None,
    root: Path = PROJECT_ROOT,
    fronts: dict[str, HybridQueue] | None = None,
    hybrid_credentials: dict[str, HybridCredentials] | None = None,
) -> Built:
    """Declare the add-ons (independently of any workload), every kubernetes workload, and every hybrid
    workload's worker (its front from `fronts`, its keys from `hybrid_credentials`: placeholders
    where absent, for a review render)."""
    workloads = batch.by_target("kubernetes")
    hybrid = batch.by_target("hybrid")
    check_namespaces([*workloads, *hybrid], settings)
    secrets = secrets or ClusterSecrets()
    if secrets.api_key is None:
        secrets = dataclasses.replace(secrets, api_key=UNSET_SECRET)
    on_cluster = [*workloads, *hybrid]
    platform = platform or (on_cluster[0].settings.platform if on_cluster else Platform())
    sharing = gpu_sharing(platform, on_cluster)
    built = Built(sharing=sharing)
    provider = k8s.Provider("cluster", context=settings.kube_context, enable_server_side_apply=True)
    opts = pulumi.ResourceOptions(provider=provider)
    guard = never_adopt_guard(opts, naming.addon_ownership("switchyard")) if settings.never_adopt_guard else []
    built.addons += guard
    # Every namespace the program creates waits for the guard: none is labelled before it is in force.
    guarded = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=guard)) if guard else opts
    keda = Keda("keda", settings, guarded) if settings.install_keda else None
    gpu = GpuOperator("gpu-operator", settings, sharing, guarded) if settings.install_gpu_operator else None
    built.addons += [a for a in (keda, gpu) if a is not None]
    if not settings.install_gpu_operator and sharing.mode != "none":
        pulumi.log.warn(
            f"platform gpu_sharing is {sharing.mode}, and the GPU Operator is not installed by this program: "
            "configure the cluster's own operator the same way (README, GPU sharing)"
        )
    for w in workloads:
        namespace = naming.namespace_for(w.name, w.settings.platform.k8s_namespace_prefix)
        revision = naming.plan_revision(lock_entry(w))
        uses_gpu = kubernetes_sizing(w).gpu_type is not None
        built.namespaces[w.name] = namespace
        built.workloads[w.name] = InferenceWorkload(
            w,
            image_for(w, settings, build_root),
            settings,
            namespace=namespace,
            ownership=naming.ownership(w.name, w.file, revision, root),
            secrets=secrets,
            keda=keda.release if keda else None,
            gpu_operator=gpu.release if (gpu and uses_gpu) else None,
            guard=guard,
            opts=opts,
        )
    for w in hybrid:
        namespace = naming.namespace_for(w.name, w.settings.platform.k8s_namespace_prefix)
        built.namespaces[w.name] = namespace
        built.hybrid[w.name] = hybrid_worker(
            w,
            image=image_for(w, settings, build_root),
            settings=settings,
            namespace=namespace,
            ownership=naming.ownership(w.name, w.file, naming.plan_revision(lock_entry(w)), root),
            front=(fronts or {}).get(w.name),
            credentials=(hybrid_credentials or {}).get(w.name),
            secrets=secrets,
            keda=keda.release if keda else None,
            gpu_operator=gpu.release if gpu else None,
            guard=guard,
            opts=opts,
        )
    return built


def outputs(built: Built, settings: ClusterSettings) -> dict[str, dict]:
    """Stack output `workloads`: where each one is reachable, for callers and runbooks."""
    out: dict[str, dict] = {}
    for name, namespace in built.namespaces.items():
        if name in built.hybrid:
            # Callers use the AWS front (the CDK stack's outputs); the cluster only holds the worker.
            out[name] = {"namespace": namespace, "queue": built.hybrid[name].queue.queue_url}
            continue
        out[name] = {
            "namespace": namespace,
            "service": naming.service_address(name, namespace),
            "url": external_url(name, settings),
        }
        queue = built.workloads[name].queue if name in built.workloads else None
        if queue is not None:
            # What an async producer inside the namespace needs (callers elsewhere use the server's
            # POST /messages and GET /results/<id>): the stream to XADD to, where each caller's
            # results land, and the password's Secret.
            stream = queue_stream(name)
            out[name]["queue"] = {
                "address": queue.address,
                "stream": stream,
                "result": queue_result_key(name),
                "dead": f"{stream}:dead",
                "passwordSecret": queue.password_secret,
            }
    return out


def main() -> None:
    config = pulumi.Config("switchyard")
    settings = from_pulumi_config(config)
    profiles = PROJECT_ROOT / settings.profiles
    batch = load_all([profiles])
    if batch.failures:
        raise SwitchyardError("\n".join(str(f.error) for f in batch.failures))
    workloads = batch.by_target("kubernetes")
    hybrid = batch.by_target("hybrid")
    check_cluster_facts([*workloads, *hybrid], settings)
    # Before any object: a worker without its queue or keys would crash-loop after `pulumi up` succeeded.
    fronts = fronts_from_config(config, hybrid)
    hybrid_credentials = {w.name: credentials_from_config(config, w.name) for w in hybrid}
    secrets = secrets_from_pulumi_config(config)
    if workloads and secrets.api_key is None:
        raise SwitchyardError(
            "stack config switchyard:apiKey is not set: every workload requires an API key on its endpoint\n"
            f"    hint: {api_keys.HINT}"
        )
    api_keys.check_overrides(
        secrets.api_keys or {},
        [w.name for w in workloads],
        {w.name for w in workloads if w.profile.model.preset is Preset.vllm},
    )
    if (secrets.weights_access_key_id is None) != (secrets.weights_secret_access_key is None):
        raise SwitchyardError(
            "stack config: switchyard:weightsAccessKeyId and switchyard:weightsSecretAccessKey are set together "
            "or not at all (unset: the cluster's own identity reaches the weights store)\n"
            "    hint: pulumi config set --secret switchyard:weightsSecretAccessKey ..."
        )
    built = build(
        batch,
        settings,
        BUILD_ROOT,
        secrets=secrets,
        platform=load_settings(profiles).platform,
        fronts=fronts,
        hybrid_credentials=hybrid_credentials,
    )
    pulumi.export("workloads", outputs(built, settings))
    # Each workload's keys by caller, for its callers: pulumi stack output apiKeys --show-secrets
    pulumi.export("apiKeys", pulumi.Output.secret({n: w.api_keys for n, w in built.workloads.items()}))
    if built.sharing and built.sharing.mig_profiles:
        pulumi.export(
            "migNodeLabels", {p: f"{MIG_CONFIG_LABEL}={c}" for p, c in built.sharing.mig_node_configs.items()}
        )
