"""The price book and platform defaults: every number the decision uses, in one place.

Each field is one row of the table: default value, unit (in the name), and where the figure
comes from in its description. AWS figures are us-east-1 public list prices (on-demand, first
pricing tier). Figures marked "assumption" are not published prices: they are this project's
stated working assumptions, meant to be replaced by a platform file (`platform.yaml` beside the
profiles) or a profile's `overrides:`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

_HOURS_PER_MONTH = 730  # AWS's billing convention: 24 x 365 / 12


class PriceBook(BaseModel):
    """Unit prices, USD."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lambda_x86_gb_s_usd: float = Field(
        0.0000166667, gt=0, description="Lambda duration, x86_64, per GB-second. Source: AWS Lambda pricing, us-east-1."
    )
    lambda_arm_gb_s_usd: float = Field(
        0.0000133334, gt=0, description="Lambda duration, arm64, per GB-second. Source: AWS Lambda pricing, us-east-1."
    )
    lambda_requests_per_million_usd: float = Field(
        0.20, ge=0, description="Lambda requests, per million. Source: AWS Lambda pricing, us-east-1."
    )
    lambda_pc_x86_gb_s_usd: float = Field(
        0.0000041667,
        ge=0,
        description="Provisioned concurrency, x86_64, per GB-second provisioned. Source: AWS Lambda pricing, us-east-1.",
    )
    lambda_pc_duration_x86_gb_s_usd: float = Field(
        0.0000097222,
        ge=0,
        description="Duration while on provisioned concurrency, x86_64, per GB-second. Source: AWS Lambda pricing, us-east-1.",
    )
    lambda_pc_arm_gb_s_usd: float = Field(
        0.0000033334,
        ge=0,
        description="Provisioned concurrency, arm64, per GB-second provisioned. Source: AWS Lambda pricing, us-east-1.",
    )
    lambda_pc_duration_arm_gb_s_usd: float = Field(
        0.0000077778,
        ge=0,
        description="Duration while on provisioned concurrency, arm64, per GB-second. Source: AWS Lambda pricing, us-east-1.",
    )
    sqs_requests_per_million_usd: float = Field(
        0.40, ge=0, description="SQS standard queue requests, per million. Source: Amazon SQS pricing, us-east-1."
    )
    efs_storage_gb_month_usd: float = Field(
        0.30, ge=0, description="EFS Standard storage, per GB-month. Source: Amazon EFS pricing, us-east-1."
    )
    efs_elastic_read_gb_usd: float = Field(
        0.03,
        ge=0,
        description="EFS Elastic throughput, reads, per GB transferred. Source: Amazon EFS pricing, us-east-1.",
    )
    s3_storage_gb_month_usd: float = Field(
        0.023, ge=0, description="S3 Standard storage, per GB-month (weights). Source: Amazon S3 pricing, us-east-1."
    )
    vpc_interface_endpoint_az_hour_usd: float = Field(
        0.01,
        ge=0,
        description="VPC interface endpoint, per endpoint per AZ-hour. Source: AWS PrivateLink pricing, us-east-1.",
    )
    gpu_node_hour_usd: dict[str, float] = Field(
        default_factory=lambda: {
            "A100-80GB": 14.40,
            "H100-80GB": 23.92,
            "L40S": 8.00,
            "L4": 3.20,
            "T4": 2.40,
        },
        description=(
            "Hourly cost of one dedicated GPU node (all its GPUs), by GPU product. "
            "Assumption: amortised bare-metal cost at about 1.80 / 2.99 / 1.00 / 0.40 / 0.30 USD "
            "per GPU-hour for 8-GPU nodes; set your own from your hardware contract."
        ),
    )
    cpu_node_hour_usd: float = Field(
        0.40,
        gt=0,
        description="Hourly cost of one dedicated CPU node (see platform cpu_node_*). Assumption: amortised 16 vCPU / 64 GB bare-metal node.",
    )
    ecr_storage_gb_month_usd: float = Field(
        0.10,
        ge=0,
        description="ECR private repository storage, per GB-month (Lambda images). Source: Amazon ECR pricing, us-east-1.",
    )


class Platform(BaseModel):
    """Platform facts and working assumptions that are not prices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field("us-east-1", description="AWS region the price book describes and stacks deploy to.")
    availability_zones: int = Field(
        2, ge=2, le=6, description="AZs the serverless VPC spans (private isolated subnets)."
    )
    lambda_architecture: Literal["x86_64", "arm64"] = Field(
        "x86_64",
        description="Lambda architecture: x86_64 | arm64. x86_64 by default because images are usually built on x86 CI runners.",
    )
    interface_endpoints: list[str] = Field(
        default_factory=list,
        description=(
            "VPC interface endpoints the functions' own code needs (e.g. xray, sqs), each billed per AZ-hour. "
            "Empty by default: the rendered code only talks to S3, through the free gateway endpoint."
        ),
    )
    lambda_account_concurrency: int = Field(
        1000, ge=1, description="Account-level Lambda concurrency quota (AWS default 1,000)."
    )
    lambda_init_base_ms: int = Field(
        1000,
        ge=0,
        description="Cold start of a container-image function before the model loads. Assumption from AWS's published container cold starts (~1 s).",
    )
    lambda_init_ms_per_image_gb: int = Field(
        500, ge=0, description="Extra cold start per GB of image (lazy loading). Assumption."
    )
    lambda_invoke_overhead_ms: int = Field(
        20, ge=0, description="Per-request overhead of Function URL + Lambda invoke on a warm environment. Assumption."
    )
    efs_read_mb_per_s: float = Field(
        200.0,
        gt=0,
        description="Read throughput of one Lambda environment from EFS (Elastic). Assumption; EFS lists up to 1,500 MiB/s per client.",
    )
    efs_file_system_read_mb_per_s: float = Field(
        3000.0,
        gt=0,
        description="Read throughput the model file system is allowed to use at once, which caps concurrent cold starts from the queue. Assumption; Elastic allows more.",
    )
    pc_target_utilization: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Target provisioned-concurrency utilization for autoscaling (AWS's recommended 0.7).",
    )
    pc_break_even_utilization: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Utilization above which provisioned concurrency is cheaper than on-demand: 4.1667 / (16.6667 - 9.7222) = 0.60 at list prices.",
    )
    pod_start_base_ms: int = Field(
        15000,
        ge=0,
        description="Pod start on a node with the image cached (schedule, container start, server boot). Assumption.",
    )
    local_cache_read_mb_per_s: float = Field(
        1000.0, gt=0, description="Read throughput of the node-local model cache volume (NVMe). Assumption."
    )
    gpus_per_node: int = Field(8, ge=1, description="GPUs in one GPU node.")
    cpu_node_vcpus: int = Field(16, ge=1, description="vCPUs of one CPU node.")
    cpu_node_memory_gb: float = Field(64.0, gt=0, description="Memory of one CPU node, GB.")
    k8s_target_utilization: float = Field(
        0.7, gt=0, le=1, description="Share of a replica's throughput used at peak: the rest is headroom."
    )
    replica_concurrency_custom: int = Field(
        1, ge=1, description="Predictions one custom-model replica serves at once (one model per process)."
    )
    replica_concurrency_vllm: int = Field(
        32, ge=1, description="Requests one vLLM replica serves at once with continuous batching. Assumption."
    )
    image_estimate_cpu_gb: float = Field(
        1.0,
        gt=0,
        description="Image size assumed for a CPU image when the profile gives no image_gb (Python base + numpy-class deps).",
    )
    image_estimate_gpu_gb: float = Field(
        6.0, gt=0, description="Image size assumed for a CUDA image when the profile gives no image_gb."
    )
    image_estimate_vllm_gb: float = Field(
        10.0, gt=0, description="Image size assumed for the vLLM server image when the profile gives no image_gb."
    )
    gpu_sharing: Literal["none", "time-slicing", "mig"] = Field(
        "none",
        description=(
            "How the cluster shares a GPU between replicas: none (whole GPUs) | time-slicing (GPU Operator "
            "device-plugin time-slicing, time_slicing_replicas per GPU, no memory isolation) | mig (Multi-Instance "
            "GPU partitions, A100/H100 only). The one source of truth: plan, cost and the Pulumi program read it."
        ),
    )
    time_slicing_replicas: int = Field(
        4, ge=2, le=48, description="Replicas sharing one GPU with time-slicing (the device plugin's replicas)."
    )
    mig_strategy: Literal["single", "mixed"] = Field(
        "single",
        description="GPU Operator MIG strategy: single (every GPU of a node in one profile, requested as nvidia.com/gpu) | mixed (nvidia.com/mig-<profile> resources).",
    )
    k8s_namespace_prefix: str = Field(
        "ml-",
        pattern=r"^([a-z][-a-z0-9]{0,20}-)?$",
        description=(
            "Prefix of every Kubernetes namespace Switchyard creates: a workload owns namespace <prefix><name>. "
            "Lowercase letters, digits and '-', ending in '-', at most 22 characters; empty for bare names."
        ),
    )
    k8s_foreign_namespaces: list[Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]] = Field(
        default_factory=list,
        description="Namespaces of the cluster that Switchyard must never use (other teams, platform services); a workload whose namespace would be one is refused at validation.",
    )
    gpu_memory_per_weight_gb: float = Field(
        1.2,
        ge=1,
        description="GPU memory a replica needs per GB of weights (activations, CUDA context). Assumption; picks the MIG profile.",
    )
    serverless_utilization_ceiling: float = Field(
        0.30,
        gt=0,
        le=1,
        description="Sustained utilization above which the seed articles say serverless economics break (20-30 %). Reported, not enforced: the costs decide.",
    )
    serverless_break_even_hours_per_day: float = Field(
        18.0,
        gt=0,
        le=24,
        description="Published break-even of per-second billing vs reserved capacity (seed article 001). Reported, not enforced.",
    )
    # Serverless operations (issue 12): quotas, weights access, alarms, retention, small-model images.
    lambda_unreserved_concurrency: int = Field(
        100,
        ge=0,
        description="Concurrency Lambda keeps unreserved in every account and region (AWS: 100); reservations across workloads must leave it.",
    )
    weights_bucket_region: str | None = Field(
        None,
        pattern=r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$",
        description="Region of the S3 bucket holding s3:// weights; unset means the platform region. Serverless reaches S3 only through the VPC's gateway endpoint, which serves its own region.",
    )
    weights_kms_key_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$",
        description="KMS key that encrypts s3:// weights (SSE-KMS); the weights sync is granted kms:Decrypt on it through S3 only.",
    )
    alarm_topic_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$",
        description="Existing SNS topic every serverless alarm notifies; unset creates an encrypted topic in the platform stack.",
    )
    alarm_emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(
        default_factory=list,
        description="Email addresses subscribed to the created alarm topic (each confirms by email); ignored with alarm_topic_arn.",
    )
    results_retention_days: int = Field(
        30, ge=1, le=3650, description="Days async results stay in a workload's results bucket before S3 expires them."
    )
    access_log_retention_days: int = Field(
        365, ge=1, le=3650, description="Days S3 server access logs stay in the platform's access-log bucket."
    )
    queue_retention_days: int = Field(
        4,
        ge=1,
        le=13,
        description="Days an unprocessed message stays in a workload's queue (SQS default 4). The DLQ keeps 14 days (the SQS maximum), longer, because SQS ages a dead letter from its first enqueue.",
    )
    queue_oldest_message_alarm_s: int = Field(
        3600, ge=60, description="Alarm when the oldest message in a workload's queue is older than this many seconds."
    )
    image_weights_max_gb: float = Field(
        1.0,
        ge=0,
        le=10,
        description="Local weights up to this size may be baked into the Lambda image (no VPC, EFS or copy) when that starts faster and costs less; 0 disables. Assumption: larger images slow pushes and deploys.",
    )


def _partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """A model with the same fields, all optional: what an override may set."""
    fields: dict[str, Any] = {
        # Keep each field's constraints (gt, pattern, ...) so an override is checked where it is
        # written, with its own YAML line, not later when the merged book is built.
        fname: (
            (Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation) | None,
            Field(None, description=f.description),
        )
        for fname, f in model.model_fields.items()
    }
    return create_model(name, __config__=ConfigDict(extra="forbid", frozen=True), **fields)


PriceBookOverride = _partial(PriceBook, "PriceBookOverride")
PlatformOverride = _partial(Platform, "PlatformOverride")


class Settings(BaseModel):
    """The price book and platform in force for one workload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prices: PriceBook = Field(default_factory=PriceBook)
    platform: Platform = Field(default_factory=Platform)

    def merged(self, prices: BaseModel | None, platform: BaseModel | None) -> Settings:
        """Apply an override (only the keys it sets); later layers win."""
        p = self.prices.model_dump()
        q = self.platform.model_dump()
        for base, layer in ((p, prices), (q, platform)):
            if layer is None:
                continue
            for key, value in layer.model_dump(exclude_none=True).items():
                # A map (GPU prices by product) is merged key by key, so a platform file can
                # add one GPU product without repeating the others.
                if isinstance(value, dict) and isinstance(base.get(key), dict):
                    base[key] = {**base[key], **value}
                else:
                    base[key] = value
        return Settings(prices=PriceBook(**p), platform=Platform(**q))


HOURS_PER_MONTH = _HOURS_PER_MONTH
