"""The price book and platform defaults: every number the decision uses, in one place.

Each field is one row of the table: default value, unit (in the name), and where the figure
comes from in its description. AWS figures are us-east-1 public list prices (on-demand, first
pricing tier unless a field names its tier; free tiers are not counted). Each price has an
`as_of` date: the day it was recorded from its source; `switchyard plan` warns when one is older
than `platform.price_max_age_days`. Figures marked "assumption" are not published prices: they
are this project's stated working assumptions, meant to be replaced by a platform file
(`platform.yaml` beside the profiles) or a profile's `overrides:`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, create_model

from stacks.ec2_types import gpu_instance_shape, instance_shape

_HOURS_PER_MONTH = 730  # AWS's billing convention: 24 x 365 / 12
RECORDED = date(2026, 11, 23)  # the day the default prices were recorded from their sources
LMI_RECORDED = date(2026, 12, 3)  # the day the Lambda Managed Instances prices were recorded
_LMI_PRICING = "https://aws.amazon.com/lambda/pricing/ (Lambda Managed Instances)"
_EC2_PRICING = "https://aws.amazon.com/ec2/pricing/on-demand/ (Linux, shared tenancy)"
_LMI_GPU_API = "https://docs.aws.amazon.com/lambda/latest/api/API_AcceleratorConfig.html"
_CDK_ACCELERATOR = "https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_lambda.AcceleratorConfig.html"


# An AWS region name (us-east-1, eu-central-2, us-gov-west-1): it lands in every ARN, endpoint service
# name and bootstrap bucket of the CDK app, so a typo must fail validation, not `cdk deploy`.
_REGION = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$"


def _aws(what: str, page: str) -> str:
    return f"{what} Source: {page}, us-east-1."


def _sizable_instance_types(prices: dict[str, float]) -> dict[str, float]:
    """Every key names an instance type whose vCPUs and memory its name gives (stacks/ec2_types.py)."""
    for name in prices:
        instance_shape(name)  # its ValueError names the type and what is allowed
    return prices


def _gpu_instance_types(prices: dict[str, float]) -> dict[str, float]:
    """Every key names a GPU instance type whose vCPUs, memory and GPUs its name gives (stacks/ec2_types.py)."""
    for name in prices:
        gpu_instance_shape(name)  # its ValueError names the type and what is allowed
    return prices


class _Prices(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lambda_x86_gb_s_usd: float = Field(
        0.0000166667,
        gt=0,
        description=_aws(
            "Lambda duration, x86_64, per GB-second (first 6 billion GB-s a month).", "AWS Lambda pricing"
        ),
    )
    lambda_x86_gb_s_tiers_usd: list[float] = Field(
        default_factory=lambda: [0.0000150000, 0.0000133334],
        description=_aws(
            "Lambda duration, x86_64, per GB-second in the next tiers (next 9 billion, over 15 billion GB-s a month).",
            "AWS Lambda pricing",
        ),
    )
    lambda_arm_gb_s_usd: float = Field(
        0.0000133334,
        gt=0,
        description=_aws(
            "Lambda duration, arm64, per GB-second (first 7.5 billion GB-s a month).", "AWS Lambda pricing"
        ),
    )
    lambda_arm_gb_s_tiers_usd: list[float] = Field(
        default_factory=lambda: [0.0000120001, 0.0000106667],
        description=_aws(
            "Lambda duration, arm64, per GB-second in the next tiers (next 11.25 billion, over 18.75 billion GB-s a month).",
            "AWS Lambda pricing",
        ),
    )
    lambda_x86_tier_limits_gb_s: list[float] = Field(
        default_factory=lambda: [6e9, 15e9],
        description=_aws(
            "Monthly GB-seconds where the x86_64 duration tiers end (tier 1, tier 2); the account's whole usage counts, costed here as if this workload were alone.",
            "AWS Lambda pricing",
        ),
    )
    lambda_arm_tier_limits_gb_s: list[float] = Field(
        default_factory=lambda: [7.5e9, 18.75e9],
        description=_aws(
            "Monthly GB-seconds where the arm64 duration tiers end (tier 1, tier 2).", "AWS Lambda pricing"
        ),
    )
    lambda_requests_per_million_usd: float = Field(
        0.20, ge=0, description=_aws("Lambda requests (invocations), per million.", "AWS Lambda pricing")
    )
    lambda_pc_x86_gb_s_usd: float = Field(
        0.0000041667,
        ge=0,
        description=_aws("Provisioned concurrency, x86_64, per GB-second provisioned.", "AWS Lambda pricing"),
    )
    lambda_pc_duration_x86_gb_s_usd: float = Field(
        0.0000097222,
        ge=0,
        description=_aws("Duration while on provisioned concurrency, x86_64, per GB-second.", "AWS Lambda pricing"),
    )
    lambda_pc_arm_gb_s_usd: float = Field(
        0.0000033334,
        ge=0,
        description=_aws("Provisioned concurrency, arm64, per GB-second provisioned.", "AWS Lambda pricing"),
    )
    lambda_pc_duration_arm_gb_s_usd: float = Field(
        0.0000077778,
        ge=0,
        description=_aws("Duration while on provisioned concurrency, arm64, per GB-second.", "AWS Lambda pricing"),
    )
    sqs_requests_per_million_usd: float = Field(
        0.40,
        ge=0,
        description=_aws("SQS standard queue requests (each 64 KB chunk), per million.", "Amazon SQS pricing"),
    )
    s3_put_per_thousand_usd: float = Field(
        0.005, ge=0, description=_aws("S3 Standard PUT, COPY, POST, LIST requests, per 1,000.", "Amazon S3 pricing")
    )
    s3_get_per_thousand_usd: float = Field(
        0.0004, ge=0, description=_aws("S3 Standard GET, SELECT and other requests, per 1,000.", "Amazon S3 pricing")
    )
    s3_storage_gb_month_usd: float = Field(
        0.023,
        ge=0,
        description=_aws(
            "S3 Standard storage, per GB-month (weights, async results; first 50 TB).", "Amazon S3 pricing"
        ),
    )
    efs_storage_gb_month_usd: float = Field(
        0.30, ge=0, description=_aws("EFS Standard storage, per GB-month.", "Amazon EFS pricing")
    )
    efs_elastic_read_gb_usd: float = Field(
        0.03, ge=0, description=_aws("EFS Elastic throughput, reads, per GB transferred.", "Amazon EFS pricing")
    )
    ecr_storage_gb_month_usd: float = Field(
        0.10,
        ge=0,
        description=_aws("ECR private repository storage, per GB-month (Lambda images).", "Amazon ECR pricing"),
    )
    xray_traces_per_million_usd: float = Field(
        5.00, ge=0, description=_aws("X-Ray traces recorded, per million.", "AWS X-Ray pricing")
    )
    http_api_requests_per_million_usd: float = Field(
        1.00,
        ge=0,
        description=_aws(
            "API Gateway HTTP API requests, per million (first 300 million a month).", "Amazon API Gateway pricing"
        ),
    )
    cloudwatch_logs_ingest_gb_usd: float = Field(
        0.50,
        ge=0,
        description=_aws("CloudWatch Logs ingestion (standard log class), per GB.", "Amazon CloudWatch pricing"),
    )
    cloudwatch_alarm_month_usd: float = Field(
        0.10,
        ge=0,
        description=_aws(
            "CloudWatch standard-resolution alarm, per metric it reads a month (an alarm on metric math reads "
            "each metric of its expression).",
            "Amazon CloudWatch pricing",
        ),
    )
    cloudwatch_metric_month_usd: float = Field(
        0.30,
        ge=0,
        description=_aws(
            "CloudWatch custom metric (metric filters, API Gateway detailed metrics), per metric-month (first 10,000).",
            "Amazon CloudWatch pricing",
        ),
    )
    vpc_interface_endpoint_az_hour_usd: float = Field(
        0.01, ge=0, description=_aws("VPC interface endpoint, per endpoint per AZ-hour.", "AWS PrivateLink pricing")
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
    model_cache_gb_month_usd: float = Field(
        0.10,
        ge=0,
        description="Replicated network storage (ReadWriteMany) for a workload's model cache on the cluster, per GB-month. Assumption: amortised 3-way replicated SSD; set your own.",
    )
    # Lambda Managed Instances: the EC2 instances it runs, its management fee on them, its requests.
    ec2_instance_hour_usd: Annotated[dict[str, float], AfterValidator(_sizable_instance_types)] = Field(
        default_factory=lambda: {
            "c7g.large": 0.0725,
            "c7g.xlarge": 0.145,
            "c7g.2xlarge": 0.29,
            "c7g.4xlarge": 0.58,
            "c7i.large": 0.08925,
            "c7i.xlarge": 0.1785,
            "c7i.2xlarge": 0.357,
            "c7i.4xlarge": 0.714,
            "m7g.large": 0.0816,
            "m7g.xlarge": 0.1632,
            "m7g.2xlarge": 0.3264,
            "m7g.4xlarge": 0.6528,
            "m7i.large": 0.1008,
            "m7i.xlarge": 0.2016,
            "m7i.2xlarge": 0.4032,
            "m7i.4xlarge": 0.8064,
            "r7g.large": 0.1071,
            "r7g.xlarge": 0.2142,
            "r7g.2xlarge": 0.4284,
            "r7g.4xlarge": 0.8568,
            "r7i.large": 0.1323,
            "r7i.xlarge": 0.2646,
            "r7i.2xlarge": 0.5292,
            "r7i.4xlarge": 1.0584,
        },
        description=_aws(
            "EC2 on-demand price per instance-hour of the instance types Lambda Managed Instances may use, by "
            "type (c, m and r families: 2, 4 and 8 GiB per vCPU; a g after the generation is Graviton, arm64). "
            "The sizing picks the cheapest type that fits from this map; platform.yaml may add types or re-price "
            "them (maps merge key by key). "
            "m7g.large, m7g.xlarge and m7i.xlarge were checked against published copies of the AWS list "
            "(factualminds.com, c3x.dev, 2026); the others are from the AWS list, not re-checked here, and each "
            "family's sizes double with its vCPUs.",
            _EC2_PRICING,
        ),
    )
    ec2_gpu_instance_hour_usd: Annotated[dict[str, float], AfterValidator(_gpu_instance_types)] = Field(
        default_factory=lambda: {
            "g6.xlarge": 0.8048,
            "g6.2xlarge": 0.9776,
            "g6.4xlarge": 1.3232,
            "g6.8xlarge": 2.0144,
            "g6.12xlarge": 4.6016,
        },
        description=_aws(
            "EC2 on-demand price per instance-hour of the GPU instance types GPU Lambda Managed Instances "
            "(AcceleratorConfig, platform.lmi_gpu) may use, by type. Only g6 (NVIDIA L4, 24 GB) is named for them by "
            f"AWS: aws-cdk-lib 2.278's AcceleratorConfig example allows g6.xlarge ({_CDK_ACCELERATOR}, read "
            "2026-12-03). g5 (A10G, 24 GB) and g6e (L40S, 48 GB: the family whose device holds a 48 GiB environment) "
            "are EC2 GPU families no Lambda page names, so they are not listed: add them here in platform.yaml (maps "
            "merge key by key) if your capacity providers launch them. g6.xlarge, g6.2xlarge, g6.4xlarge, g6.8xlarge "
            "and g6.12xlarge were checked against published copies of the AWS list (2026).",
            _EC2_PRICING,
        ),
    )
    lmi_management_fee_share: float = Field(
        0.15,
        ge=0,
        le=1,
        description=_aws(
            "Lambda Managed Instances compute management fee: a share of the EC2 on-demand price of every "
            "instance it runs (15 %).",
            _LMI_PRICING,
        ),
    )
    lmi_requests_per_million_usd: float = Field(
        0.20,
        ge=0,
        description=_aws(
            "Lambda Managed Instances request charge, per million invocations (no duration charge).", _LMI_PRICING
        ),
    )


_PRICE_NAMES = list(_Prices.model_fields)
_LMI_DATED = {
    name: LMI_RECORDED
    for name in (
        "ec2_instance_hour_usd",
        "ec2_gpu_instance_hour_usd",
        "lmi_management_fee_share",
        "lmi_requests_per_million_usd",
    )
}
PriceName = Literal[tuple(_PRICE_NAMES)]  # type: ignore[valid-type]


class PriceBook(_Prices):
    """Unit prices, USD, each with the date it was recorded."""

    as_of: dict[PriceName, date] = Field(
        default_factory=lambda: {name: _LMI_DATED.get(name, RECORDED) for name in _PRICE_NAMES},
        description=(
            "Date each price was recorded from its source (YYYY-MM-DD), by price name. A price set by a "
            "platform file or override without its own as_of entry is yours and is not dated."
        ),
    )


DEFAULT_REGION = "us-east-1"
DEFAULT_INSTALLATION = "Switchyard"
DEFAULT_AZS = 2
# AZ IDs where Lambda cannot create a VPC function's network interfaces (AWS Lambda developer
# guide, "Giving Lambda functions access to resources in an Amazon VPC").
LAMBDA_UNSUPPORTED_AZ_IDS = frozenset({"use1-az3"})
_AZ_ID = re.compile(r"([a-z]+[0-9]+)-az([0-9]+)")
_DIRECTIONS = {"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}


def az_id_prefix(region: str) -> str:
    """The AZ-ID prefix of a region: us-east-1 -> use1, ap-northeast-1 -> apne1, us-gov-west-1 -> usgw1."""
    parts = region.split("-")
    return parts[0] + "".join(_DIRECTIONS.get(w, w[0]) for w in parts[1:-1]) + parts[-1]


def _lambda_az_ids(ids: list[str], info: ValidationInfo) -> list[str]:
    """AZ IDs of the platform region where Lambda can run VPC functions, each once, as many as the VPC spans."""
    if not ids:
        return ids
    repeated = sorted({z for z in ids if ids.count(z) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repeated)} more than once: one subnet per AZ")
    region = info.data.get("region") or DEFAULT_REGION
    prefix = az_id_prefix(region)
    for zone in ids:
        match = _AZ_ID.fullmatch(zone)
        if not match:
            raise ValueError(f"'{zone}' is not an AZ ID: AZ IDs look like {prefix}-az1 (not AZ names like {region}a)")
        if match.group(1) != prefix:
            raise ValueError(f"'{zone}' is not in {region}, whose AZ IDs are {prefix}-az<N>")
        if zone in LAMBDA_UNSUPPORTED_AZ_IDS:
            raise ValueError(
                f"'{zone}' is an AZ where Lambda cannot place VPC functions; choose other AZ IDs of {region}"
            )
    # In platform.yaml without availability_zones, the default is what the VPC would span.
    count = info.data.get("availability_zones") or DEFAULT_AZS
    if len(ids) != count:
        raise ValueError(f"names {len(ids)} AZ ID(s) but availability_zones is {count}: name exactly {count}")
    return ids


_SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")


def _service_name(name: str) -> str:
    """What CDK appends to com.amazonaws.<region>. to name an interface endpoint's service."""
    if not _SERVICE_NAME.fullmatch(name) or name.startswith("com.") or "amazonaws" in name:
        raise ValueError(
            "must be an AWS service short name: lowercase letters, digits, '.' and '-' "
            "(e.g. sqs, logs, ecr.api; not the full com.amazonaws.<region>.<name>)"
        )
    return name


def _distinct(names: list[str]) -> list[str]:
    """One VPC endpoint per service: a name listed twice would be created once and billed twice."""
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repr(n) for n in repeated)} more than once: each service has one endpoint")
    return names


TARGET_NAMES = ("serverless", "kubernetes", "managed-instances", "hybrid")  # the Target enum's, but auto
TargetName = Literal[TARGET_NAMES]  # type: ignore[valid-type]


def _distinct_targets(names: list[str]) -> list[str]:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repr(n) for n in repeated)} more than once: name each target once")
    return names


def _distinct_addresses(emails: list[str]) -> list[str]:
    """SNS would take one subscription per entry (and CDK refuses a second one of the same id): an
    address listed twice, in any letter case, is a copy error."""
    seen: dict[str, str] = {}
    for e in emails:
        if e.lower() in seen:
            raise ValueError(f"lists {e!r} more than once (as {seen[e.lower()]!r}): each address subscribes once")
        seen[e.lower()] = e
    return emails


AWS_UNRESERVED_MIN = 100  # what Lambda keeps unreserved in every account: others can never reserve it


def _reservable_by_others(others: int, info: ValidationInfo) -> int:
    """`get-account-settings` never shows other functions reserving what the account does not have:
    such a figure is a copy error (fields swapped, another region's), not a plan to judge."""
    quota = info.data.get("lambda_account_concurrency")
    if quota is None:  # a profile's override without the quota beside it: checked in platform.yaml
        return others
    most = max(0, quota - AWS_UNRESERVED_MIN)
    if others > most:
        raise ValueError(
            f"{others:,} cannot be reserved in an account whose quota is {quota:,} (Lambda keeps "
            f"{AWS_UNRESERVED_MIN} unreserved): at most {most:,}; take ConcurrentExecutions - "
            "UnreservedConcurrentExecutions of `aws lambda get-account-settings` in the platform region"
        )
    return others


def _in_platform_region(arn: str | None, info: ValidationInfo) -> str | None:
    """An ARN the platform stack uses must be in the region it deploys to (CloudWatch alarms notify a
    topic of their own region only; S3 decrypts SSE-KMS weights with a key of the bucket's region,
    which serverless reaches through its own region's gateway endpoint). A model that cannot set
    region (a profile's override) leaves the check to platform.yaml."""
    if arn is None or "region" not in info.data:
        return arn
    region = info.data["region"] or DEFAULT_REGION
    arn_region = arn.split(":")[3]
    if arn_region != region:
        raise ValueError(f"is in region {arn_region}, but the platform deploys to {region}: it must be in {region}")
    return arn


class Platform(BaseModel):
    """Platform facts and working assumptions that are not prices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field(
        DEFAULT_REGION,
        pattern=_REGION,
        description="AWS region the price book describes and stacks deploy to (e.g. us-east-1, eu-west-1).",
    )
    availability_zones: int = Field(
        DEFAULT_AZS, ge=2, le=6, description="AZs the serverless VPC spans (private isolated subnets)."
    )
    availability_zone_ids: Annotated[list[str], AfterValidator(_lambda_az_ids)] = Field(
        default_factory=list,
        description=(
            "AZ IDs (e.g. use1-az1, euw1-az2) the serverless VPC's subnets go to, as many as availability_zones, each "
            "once. AZ IDs name the same physical zone in every account, unlike AZ names. Empty by default: the first "
            "availability_zones AZ names of the region's list (what Fn::GetAZs returns for the account), which in "
            "us-east-1 can be use1-az3, where Lambda cannot place VPC functions; set the IDs there. "
            "`aws ec2 describe-availability-zones --query 'AvailabilityZones[].ZoneId'` lists the region's IDs."
        ),
    )
    targets: Annotated[list[TargetName], AfterValidator(_distinct_targets)] = Field(
        default_factory=lambda: list(TARGET_NAMES),
        min_length=1,
        description=(
            "Targets this platform offers, each once: serverless (AWS Lambda), kubernetes (the bare-metal "
            "cluster), managed-instances (Lambda Managed Instances), hybrid (the AWS front with GPU workers on "
            "the cluster). `target: auto` chooses among these only; `plan` still shows the others' bills, "
            "marked not offered (rule platform.not_offered), and a profile naming another target is refused. "
            "Default: all four. A team without a cluster lists [serverless, managed-instances]; one without "
            "an AWS account lists [kubernetes]."
        ),
    )
    installation: str = Field(
        DEFAULT_INSTALLATION,
        pattern=r"^[A-Za-z][A-Za-z0-9]{0,23}$",
        description=(
            "Name of this Switchyard installation: the prefix of every global name it creates in an account and "
            "region (stacks <installation>-Platform and <installation>-<workload>, SSM parameters "
            "/<installation in lowercase>/platform/*, the weights-sync provider function, the metrics namespace). "
            "Letters and digits, starting with a letter, at most 24; installations in one account must differ in "
            "more than letter case. Default Switchyard: the names every installation had before this setting, so "
            "an existing deployment keeps its stacks and parameters."
        ),
    )
    lambda_architecture: Literal["x86_64", "arm64"] = Field(
        "x86_64",
        description="Lambda architecture: x86_64 | arm64. x86_64 by default because images are usually built on x86 CI runners.",
    )
    interface_endpoints: Annotated[list[Annotated[str, AfterValidator(_service_name)]], AfterValidator(_distinct)] = (
        Field(
            default_factory=list,
            description=(
                "VPC interface endpoints the functions' own code needs (e.g. xray, sqs), each billed per AZ-hour: "
                "AWS service short names (lowercase letters, digits, '.' and '-', as in com.amazonaws.<region>.<name>), each once. "
                "Empty by default: the rendered code only talks to S3, through the free gateway endpoint."
            ),
        )
    )
    lambda_account_concurrency: int = Field(
        1000,
        ge=1,
        description=(
            "Account-level Lambda concurrency quota in the platform region: AccountLimit.ConcurrentExecutions of "
            "`aws lambda get-account-settings`. AWS's default is 1,000, but new accounts often start far lower."
        ),
    )
    lambda_reserved_by_others: Annotated[int, AfterValidator(_reservable_by_others)] = Field(
        0,
        ge=0,
        description=(
            "Concurrency that other functions of the account and region already reserve, which this plan cannot "
            "use: AccountLimit.ConcurrentExecutions - AccountLimit.UnreservedConcurrentExecutions of "
            "`aws lambda get-account-settings`, less what this installation's own functions reserve today "
            "(`switchyard doctor` computes it). 0 by default: an account where nothing else reserves."
        ),
    )
    # Lambda cold start: runtime init + image fetch + imports + weights read + deserialization.
    lambda_runtime_init_ms: int = Field(
        250,
        ge=0,
        description="Lambda's own part of a cold start: place the micro-VM, start the Python runtime, mount EFS. Assumption (AWS: typically well under 1 s).",
    )
    lambda_image_fetch_ms_per_gb: float = Field(
        100.0,
        ge=0,
        description=(
            "Cold-start time per GB of container image. Small: Lambda loads images lazily, block by block from "
            "deduplicated caches, so a start reads only the blocks it touches and is largely independent of image "
            "size (Brooker et al., 'On-demand Container Loading in AWS Lambda', USENIX ATC 2023). Assumption for the figure."
        ),
    )
    lambda_image_read_mb_per_s: float = Field(
        300.0,
        gt=0,
        description="Read throughput of weights baked into the image (every block is read once, mostly from Lambda's caches). Assumption.",
    )
    lambda_imports_ms: int = Field(
        500,
        ge=0,
        description="Importing the handler: serving core, boto3 and numpy-class dependencies. Assumption; measure yours with python -X importtime.",
    )
    lambda_invoke_overhead_ms: int = Field(
        20, ge=0, description="Per-request overhead of Function URL + Lambda invoke on a warm environment. Assumption."
    )
    lambda_environment_lifetime_h: float = Field(
        2.0,
        gt=0,
        description="Hours a busy Lambda execution environment lives before Lambda recycles it (a cold start each time). Assumption: AWS does not publish it.",
    )
    weights_deserialize_mb_per_s: float = Field(
        1000.0,
        gt=0,
        description="Turning read weight bytes into the model in memory (numpy/safetensors-class loaders; pickle is slower). Assumption.",
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
    pc_prewarm_minutes: int = Field(
        15,
        ge=0,
        le=120,
        description="Scheduled provisioned concurrency starts this long before the active window (environments take minutes to initialise) and is billed from then.",
    )
    # Serverless operations: what a workload's logs, traces and results cost.
    lambda_log_bytes_per_invocation: int = Field(
        600,
        ge=0,
        description="CloudWatch Logs bytes per invocation: the JSON platform.start and platform.report records (the model code logs only errors). Assumption.",
    )
    http_api_access_log_bytes: int = Field(
        400,
        ge=0,
        description="Bytes of one HTTP API access-log line (JSON, the fields stacks/aws/http_api.py logs). Assumption.",
    )
    xray_reservoir_per_s: float = Field(
        1.0,
        ge=0,
        description="Traces X-Ray's default sampling rule records each second before sampling (the reservoir). Source: AWS X-Ray developer guide, sampling rules.",
    )
    xray_sampling_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Share of the requests beyond the reservoir that the default rule records. Source: AWS X-Ray developer guide, sampling rules.",
    )
    async_result_kb: float = Field(
        4.0,
        gt=0,
        description="Size of one stored async result (JSON outputs). Assumption; embeddings of 768 floats are ~15 KB.",
    )
    results_retention_days: int = Field(
        30, ge=1, le=3650, description="Days async results stay in a workload's results bucket before S3 expires them."
    )
    async_message_kb: float = Field(
        4.0,
        gt=0,
        description="Size of one typical async message (its JSON inputs): what a Kubernetes queue's backlog holds per message. Assumption.",
    )
    async_message_max_kb: int = Field(
        256,
        ge=1,
        le=256,
        description="Largest async message on every target: SQS refuses a larger one, the Kubernetes server answers 413 and a larger stream entry gets an error result. 256 KiB is SQS's default maximum.",
    )
    k8s_results_retention_hours: int = Field(
        24,
        ge=1,
        le=24 * 14,
        description="Hours an async result stays in a Kubernetes workload's Redis (in memory, so much shorter than the S3 results of a serverless one); the Redis memory is sized for it.",
    )
    queue_backlog_minutes: int = Field(
        15,
        ge=1,
        le=24 * 60,
        description="Minutes of messages at the peak rate a Kubernetes workload's Redis holds beyond what its workers keep up with (a worker outage, a scale-up from zero); beyond that producers are refused, never a message dropped.",
    )
    queue_dead_letter_mb: int = Field(
        64,
        ge=1,
        description="Bytes of dead letters (failed message bodies kept for replay) a Kubernetes workload's Redis keeps, MB; the oldest go first.",
    )
    # Kubernetes pod start: image pull + weights (first copy, or cache read) + engine start + compile.
    pod_schedule_ms: int = Field(
        5000,
        ge=0,
        description="Scheduling, sandbox and volume attach before the first container runs. Assumption.",
    )
    registry_pull_mb_per_s: float = Field(
        100.0,
        gt=0,
        description="Image pull and unpack from the cluster's registry onto a node that lacks the image. Assumption: containerd unpacks at ~100-200 MB/s.",
    )
    weights_copy_mb_per_s: float = Field(
        200.0,
        gt=0,
        description="Copy of a new weights version from the object store into the model cache (the init container, first start of a version). Assumption.",
    )
    model_cache_read_mb_per_s: float = Field(
        500.0,
        gt=0,
        description="Read throughput of the model cache (a ReadWriteMany network volume, not node-local NVMe). Assumption.",
    )
    engine_start_custom_ms: int = Field(
        3000, ge=0, description="Start of the Python model server: interpreter, imports, HTTP server. Assumption."
    )
    engine_start_vllm_ms: int = Field(
        30000,
        ge=0,
        description="vLLM engine start besides loading weights: CUDA init, memory profiling, KV-cache allocation. Assumption from vLLM start-up logs.",
    )
    compile_vllm_ms: int = Field(
        60000,
        ge=0,
        description="vLLM torch.compile and CUDA-graph capture at start (0 with --enforce-eager). Assumption from vLLM start-up logs.",
    )
    model_cache_copies: float = Field(
        2.2,
        ge=2,
        description="Model cache volume size in weights sizes: during an update it holds the version pods run "
        "and the one being copied (the init container keeps no more), with 10 % slack; below 2 an update runs "
        "out of space.",
    )
    gpus_per_node: int = Field(8, ge=1, description="GPUs in one GPU node.")
    gpu_node_vcpus: int = Field(
        128, ge=1, description="vCPUs of one GPU node. Assumption: 8-GPU server with 2 x 64 cores."
    )
    gpu_node_memory_gb: float = Field(
        1024.0, gt=0, description="Memory of one GPU node, GB. Assumption: 8-GPU server with 1 TB."
    )
    cpu_node_vcpus: int = Field(16, ge=1, description="vCPUs of one CPU node.")
    cpu_node_memory_gb: float = Field(64.0, gt=0, description="Memory of one CPU node, GB.")
    node_reserved_millicores: int | None = Field(
        None,
        ge=0,
        description="CPU a node keeps from pods (kube-reserved + system-reserved). Unset: GKE's published formula (6 % of the first core, 1 % of the next, 0.5 % of the next 2, 0.25 % above 4). Source: GKE 'Standard cluster architecture: node allocatable'.",
    )
    node_reserved_memory_gb: float | None = Field(
        None,
        ge=0,
        description="Memory a node keeps from pods (kube/system-reserved + eviction threshold). Unset: GKE's formula (25 % of the first 4 GB, 20 % of the next 4, 10 % of the next 8, 6 % of the next 112, 2 % above 128, + 100 MiB eviction). Source: GKE 'node allocatable'.",
    )
    node_daemonset_millicores: int = Field(
        500,
        ge=0,
        description="CPU requested on every node by DaemonSets (CNI, kube-proxy, node exporter, GPU Operator pods). Assumption.",
    )
    node_daemonset_memory_gb: float = Field(
        1.0, ge=0, description="Memory requested on every node by DaemonSets. Assumption."
    )
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
    price_max_age_days: int = Field(
        180,
        ge=1,
        description="`switchyard plan` warns about each price whose as_of date is older than this many days.",
    )
    # Serverless operations (issue 12): quotas, weights access, alarms, retention, small-model images.
    lambda_unreserved_concurrency: int = Field(
        100,
        ge=0,
        description="Concurrency Lambda keeps unreserved in every account and region (AWS: 100); reservations across workloads must leave it.",
    )
    weights_bucket_region: str | None = Field(
        None,
        pattern=_REGION,
        description="Region of the S3 bucket holding s3:// weights; unset means the platform region. Serverless reaches S3 only through the VPC's gateway endpoint, which serves its own region.",
    )
    weights_kms_key_arn: Annotated[str | None, AfterValidator(_in_platform_region)] = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$",
        description="KMS key that encrypts s3:// weights (SSE-KMS), in the platform region; the weights sync is granted kms:Decrypt on it through S3 only.",
    )
    alarm_topic_arn: Annotated[str | None, AfterValidator(_in_platform_region)] = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$",
        description="Existing SNS topic every serverless alarm notifies, in the platform region; unset creates an encrypted topic in the platform stack.",
    )
    alarm_emails: Annotated[
        list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]], AfterValidator(_distinct_addresses)
    ] = Field(
        default_factory=list,
        description="Email addresses subscribed to the created alarm topic (each confirms by email); ignored with alarm_topic_arn.",
    )
    mode_both_queued_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description=(
            "mode both: the share of a workload's requests that arrive through its queue; the rest come over HTTP. "
            "The bill charges each request once, by its path (a queued one: SQS and a stored result; an HTTP one: "
            "the endpoint). Assumption; set it per workload under overrides.platform from your callers' mix."
        ),
    )
    alarms_without_subscribers: bool = Field(
        False,
        description=(
            "Synthesize the serverless alarms although their topic has no subscriber (no alarm_emails, no "
            "alarm_topic_arn): the alarms change state in CloudWatch and notify nobody. False by default: synth "
            "refuses, so nobody deploys alarms that page no one without having said so."
        ),
    )
    model_bucket_noncurrent_days: int = Field(
        30,
        ge=1,
        le=3650,
        description=(
            "Days a replaced or deleted object version stays in the versioned model bucket before S3 expires it "
            "(current versions never expire): a rollback window for overwritten weights, not a forever bill."
        ),
    )
    image_versions_kept: int = Field(
        3,
        ge=1,
        le=1000,
        description=(
            "Image versions of a serverless workload stored in CDK's container-asset repository (the bootstrap "
            "stack's, not Switchyard's): every deploy with a changed image pushes one more, and nothing removes "
            "them until `npx cdk gc` runs. The bill counts this many; run `cdk gc` after deploys to keep it true."
        ),
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
    # Lambda Managed Instances (issue 19): published behaviour the sizing relies on.
    lmi_python_concurrency_per_vcpu: int = Field(
        16,
        ge=1,
        le=64,
        description=(
            "Concurrent requests Lambda Managed Instances sends to one execution environment per vCPU for Python "
            "by default (PerExecutionEnvironmentMaxConcurrency unset); each runs in its own Python process that "
            "loads the model itself. Source: https://docs.aws.amazon.com/lambda/latest/dg/"
            "lambda-managed-instances-python-runtime.html; the scaling page allows up to 64 per vCPU."
        ),
    )
    lmi_function_memory_min_gb: int = Field(
        2,
        ge=2,
        description=(
            "Smallest execution environment of a Lambda Managed Instances function, GB (with at least 1 vCPU: the "
            "2:1 memory-to-vCPU ratio of c instances). Source: https://docs.aws.amazon.com/lambda/latest/dg/"
            "lambda-managed-instances-scaling.html."
        ),
    )
    lmi_function_memory_max_gb: int = Field(
        32,
        ge=2,
        description=(
            "Largest execution environment of a Lambda Managed Instances function, GB (16 vCPUs at 2 GB each), "
            "since March 2026. Source: the AWS::Lambda::Function resource schema (MemorySize at most 32,768 MB, "
            "as cfn-lint 1.58 ships it) and AWS's 32 GB / 16 vCPU launch as reported by darryl-ruggles.cloud; "
            "not found in the developer guide pages searched."
        ),
    )
    lmi_memory_gib_per_vcpu: list[Literal[2, 4, 8]] = Field(
        default_factory=lambda: [2, 4, 8],
        min_length=1,
        description=(
            "Memory-per-vCPU ratios (ExecutionEnvironmentMemoryGiBPerVCpu) the sizing may choose: 2, 4 or 8 GiB, "
            "the c, m and r instance families. The API accepts 2.0-8.0. Source: https://docs.aws.amazon.com/"
            "lambda/latest/api/API_LambdaManagedInstancesCapacityProviderConfig.html."
        ),
    )
    lmi_min_execution_environments: int = Field(
        3,
        ge=1,
        description=(
            "Execution environments Lambda Managed Instances keeps by default, on three instances for "
            "Availability Zone resiliency: the floor of the sizing, always on and always billed. Source: "
            "https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-scaling.html."
        ),
    )
    lmi_doubling_minutes: float = Field(
        5.0,
        gt=0,
        description=(
            "Lambda Managed Instances scales asynchronously on CPU and concurrency, not per request: traffic that "
            "more than doubles within this many minutes may be throttled (HTTP 429) while it scales. Source: "
            "https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-scaling.html."
        ),
    )
    lmi_gpu: bool = Field(
        False,
        strict=True,
        description=(
            "Model GPU Lambda Managed Instances in the decision: modelled for planning; synth needs aws-cdk-lib 2.278. "
            "true: a workload with gpu: required gets a managed-instances option on the GPU instance types of "
            "prices.ec2_gpu_instance_hour_usd, each execution environment given the smallest AcceleratorMemorySize "
            "(platform.lmi_accelerator_memory_gib) that holds the model's GPU memory and the capacity provider scaling "
            "on GPU utilization (target tracking); it is billed, compared and may be chosen by auto, but `switchyard "
            "synth` refuses it: AcceleratorConfig arrives in aws-cdk-lib 2.278, which the package registry does not "
            "serve, and Switchyard writes no unvalidated property override in its place. false (default): limit.gpu "
            f"rules managed-instances out for GPU workloads. Sources: {_LMI_GPU_API}; {_CDK_ACCELERATOR}."
        ),
    )
    lmi_accelerator_memory_gib: list[Literal[3, 6, 12, 16, 24, 48]] = Field(
        default_factory=lambda: [3, 6, 12, 16, 24, 48],
        min_length=1,
        description=(
            "GPU memory per execution environment (AcceleratorMemorySize, GiB) the sizing may choose with "
            "platform.lmi_gpu: the smallest that holds the model's GPU memory (weights_gb x gpu_memory_per_weight_gb); "
            "a model needing more than the largest cannot run there. AcceleratorConfig needs the Image package type "
            f"and x86_64. Source: {_LMI_GPU_API} (valid values 3, 6, 12, 16, 24, 48) and the AWS SAM "
            "AcceleratorConfig property page, read 2026-12-03."
        ),
    )
    lmi_scale_from_zero_s: float = Field(
        180.0,
        gt=0,
        description=(
            "Seconds Lambda Managed Instances needs to serve again from zero execution environments: launch an EC2 "
            "instance, pull the image, start the environment and load the model. Assumption (minutes, as EC2 "
            "launches take; the scaling page says only that scaling from zero is not immediate): compared with "
            "sla.cold_start_budget_ms to say why the floor never goes to zero."
        ),
    )
    lmi_target_utilization: float = Field(
        0.7,
        gt=0,
        le=1,
        description=(
            "Share of an execution environment's concurrency the sizing plans to use at the average and at the "
            "peak: the rest is headroom for the asynchronous scaling. Assumption (the same 0.7 as provisioned "
            "concurrency's target)."
        ),
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
            values = layer.model_dump(exclude_none=True)
            if base is p:
                # A price set here without its own date is the user's figure: it is no longer the
                # dated list price, so it leaves the staleness check.
                dated = values.get("as_of", {})
                p["as_of"] = {k: d for k, d in p["as_of"].items() if k not in values or k in dated}
            for key, value in values.items():
                # A map (GPU prices by product) is merged key by key, so a platform file can
                # add one GPU product without repeating the others.
                if isinstance(value, dict) and isinstance(base.get(key), dict):
                    base[key] = {**base[key], **value}
                else:
                    base[key] = value
        return Settings(prices=PriceBook(**p), platform=Platform(**q))


HOURS_PER_MONTH = _HOURS_PER_MONTH


def price_source(name: str) -> str:
    """The source sentence of one price (its description), for line items."""
    return PriceBook.model_fields[name].description or ""


def stale_prices(prices: PriceBook, max_age_days: int, today: date) -> list[tuple[str, date]]:
    """(price, as_of) for every dated price older than max_age_days on `today`, oldest first."""
    old = [(name, d) for name, d in prices.as_of.items() if (today - d).days > max_age_days]
    return sorted(old, key=lambda item: (item[1], item[0]))


PRICE_BOOK_REGION = "us-east-1"  # the region the default AWS list prices are for


def regional_prices_unset(prices: PriceBook, region: str) -> list[str]:
    """AWS list prices still at their us-east-1 default while the platform deploys elsewhere.

    Prices differ by region (often by 10-30 %); a price the user set, whatever its value, is theirs.
    """
    if region == PRICE_BOOK_REGION:
        return []
    defaults = PriceBook()

    def untouched(name: str) -> bool:  # set by nobody: the default value with the default date
        dated = prices.as_of.get(name)
        return (
            getattr(prices, name) == getattr(defaults, name) and dated is not None and dated == defaults.as_of.get(name)
        )

    return sorted(
        name
        for name, field in PriceBook.model_fields.items()
        if PRICE_BOOK_REGION in (field.description or "") and untouched(name)
    )
