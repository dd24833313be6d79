"""The figures a plan rests on that are ours, not the profile's: each with its value, where it is set
and why it holds, so a reader can tell a measured number from an assumed one and change it.

They are read from the same settings and sizing the decision used (never a second copy), and
`switchyard plan` prints them (text and `--json`). They read several targets' sizing (every workload
has every option), so they sit beside the registry, above the target packages. GPU Lambda Managed
Instances (platform.lmi_gpu) add theirs only where a GPU option is sized.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from stacks.decision.workload import Workload
from stacks.profile import Mode, Preset
from stacks.targets.kubernetes import kubernetes_sizing
from stacks.targets.managed_instances import managed_instances_sizing
from stacks.targets.managed_instances.accelerator import carried
from stacks.targets.serverless import serverless_sizing
from stacks.targets.serverless.sizing import SQS_MAX_CONSUMERS, efs_consumer_cap


@dataclass(frozen=True)
class Assumption:
    name: str  # stable key, e.g. kubernetes.replica_concurrency
    value: float
    setting: str  # where to change it (a platform.yaml key), or what fixes it
    detail: str  # what it means for this workload, with the numbers

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def assumptions(w: Workload) -> list[Assumption]:
    out = [_replica_concurrency(w), _target_utilization(w), _reservation(w)]
    if w.profile.sla.mode is not Mode.sync:
        out.append(_queue_consumers(w))
    if managed_instances_sizing(w).accelerator is not None:
        out += _gpu_managed_instances(w)
    return out


def _gpu_managed_instances(w: Workload) -> list[Assumption]:
    """What GPU Lambda Managed Instances (platform.lmi_gpu) are sized and billed on that AWS does not publish."""
    o = managed_instances_sizing(w)
    a, e = o.accelerator, o.environment
    assert a is not None
    prices = w.settings.prices
    fee = prices.lmi_management_fee_share
    return [
        Assumption(
            "managed_instances.environments_per_gpu",
            a.environments_per_gpu,
            "platform.lmi_accelerator_memory_gib",
            f"{a.environments_per_gpu} environment(s) of {a.memory_gib} GiB share one {a.gpu_product} "
            f"({a.gpu_memory_gb:g} GB / {a.memory_gib} GiB): AWS documents AcceleratorMemorySize as the least an "
            "environment gets and that Lambda may give more, not how it packs a GPU"
            + (
                f"; if it packs fewer, the {e.min_environments} environments may need more than "
                f"{e.always_on_instances} {e.instance_type}"
                if a.per_instance_bound == "GPU memory"
                else f" (here the instance's {a.per_instance_bound} bounds them first: {e.environments_per_instance} "
                f"per {e.instance_type})"
            ),
        ),
        Assumption(
            "managed_instances.gpu_concurrency",
            e.max_concurrency,
            "fixed: one model copy per environment",
            "each GPU environment serves one request at a time: LMI's Python runtime runs every concurrent request "
            "in its own process, and each would load its own model copy onto the GPU, so more than one would need "
            "that much more AcceleratorMemorySize",
        ),
        Assumption(
            "managed_instances.gpu_fee",
            fee,
            "prices.lmi_management_fee_share",
            f"GPU instances carry the same {fee:.0%} management fee on their EC2 price and the same request charge "
            "as CPU instances: the Lambda pricing page states one fee and one request price for Lambda Managed "
            "Instances, and no rate of their own for GPU instances was found",
        ),
        Assumption(
            "managed_instances.gpu_instance_types",
            len(prices.ec2_gpu_instance_hour_usd),
            "prices.ec2_gpu_instance_hour_usd",
            f"the GPU instance types sized: {carried(prices)}; only g6 is named for GPU Lambda Managed Instances by "
            "AWS (aws-cdk-lib 2.278's AcceleratorConfig example); other GPU families (g5: A10G, g6e: L40S 48 GB, "
            "which 48 GiB environments need) count once added there",
        ),
    ]


def _replica_concurrency(w: Workload) -> Assumption:
    k = kubernetes_sizing(w)
    if w.profile.model.preset is Preset.vllm:
        return Assumption(
            "kubernetes.replica_concurrency",
            k.replica_concurrency,
            "platform.replica_concurrency_vllm",
            f"one vLLM replica serves {k.replica_concurrency} requests at once (continuous batching), so "
            f"{k.replica_rps:.1f} rps each at the target utilization; an assumption, not a measurement: "
            "vLLM's real batch depends on prompt and output lengths and the KV cache the GPU leaves; "
            "load-test a replica and set the figure",
        )
    return Assumption(
        "kubernetes.replica_concurrency",
        k.replica_concurrency,
        "platform.replica_concurrency_custom",
        f"one custom-model replica runs {k.replica_concurrency} predict() call(s) at once (one model per "
        f"process), so {k.replica_rps:.1f} rps each at the target utilization",
    )


def _target_utilization(w: Workload) -> Assumption:
    u = w.settings.platform.k8s_target_utilization
    return Assumption(
        "kubernetes.target_utilization",
        u,
        "platform.k8s_target_utilization",
        f"replicas are sized to run at {u:.0%} of their throughput at the peak; the {1 - u:.0%} left is "
        "headroom for a burst while KEDA adds a replica",
    )


def _reservation(w: Workload) -> Assumption:
    s = serverless_sizing(w)
    platform = w.settings.platform
    why = f"twice the peak concurrency {s.peak_concurrency:,.1f} (at least 2 and the provisioned maximum)"
    if s.reserved_for_simulated_peak:
        why = (
            f"twice the simulated burst's peak concurrency {s.reserved_for_simulated_peak} (sim.sizing: cold starts at "
            f"the burst hold environments far beyond the averages' peak {s.peak_concurrency:,.1f})"
        )
    return Assumption(
        "serverless.reserved_concurrency",
        s.reserved_concurrency,
        "platform.lambda_account_concurrency",
        f"reserves {s.reserved_concurrency}: {why}, out of an account quota taken as {platform.lambda_account_concurrency:,} of "
        f"which Lambda keeps {platform.lambda_unreserved_concurrency} unreserved (new accounts often have less: "
        "`switchyard doctor` compares the plan with the account's)",
    )


def _queue_consumers(w: Workload) -> Assumption:
    """The SQS event source's maximum concurrency, and which of its bounds decided it."""
    s = serverless_sizing(w)
    platform = w.settings.platform
    sync_peak = math.ceil(s.peak_concurrency) if w.profile.sla.mode is Mode.both else 0
    room = s.reserved_concurrency - sync_peak
    efs = efs_consumer_cap(platform, weights_in_image=s.weights_in_image)
    terms = [f"the reservation {s.reserved_concurrency}" + (f" minus the sync peak {sync_peak}" if sync_peak else "")]
    if efs is None:
        terms.append("no EFS bound: the weights are in the image")
    else:
        terms.append(
            f"EFS read budget {platform.efs_file_system_read_mb_per_s:,.0f} MB/s / "
            f"{platform.efs_read_mb_per_s:,.0f} MB/s per cold start = {efs}"
        )
    terms.append(f"SQS's {SQS_MAX_CONSUMERS:,}")
    if s.queue_max_concurrency == 2 and room < 2:
        why = "the SQS event source's minimum of 2"
    elif efs is not None and s.queue_max_concurrency == efs and efs < room:
        why = "a burst of cold starts each reading the weights from EFS stays within the file system's budget"
    else:
        why = "the reservation, so the queue never takes concurrency another caller was promised"
    return Assumption(
        "serverless.queue_max_concurrency",
        s.queue_max_concurrency,
        "platform.efs_file_system_read_mb_per_s" if efs is not None else "platform.lambda_account_concurrency",
        f"at most {s.queue_max_concurrency} queue consumers at once, the least of {'; '.join(terms)}: bound by {why}; "
        "the backlog waits in the queue",
    )
