"""Lambda Managed Instances (CPU): a capacity provider in the platform VPC and the serving function on it.

The function is the serving image of the serverless target (stacks/aws/serving.py builds the same
code, environment and log group); instead of Lambda's shared fleet it runs on EC2 instances of
the allowed types, in the platform's subnets, with many requests per execution environment.
Callers invoke the unqualified function ARN, which Lambda routes to `$LATEST.PUBLISHED`: the
version CloudFormation publishes on every deploy (PublishToLatestPublished), so no numbered
version or alias starts a second set of environments.

Not built here, and why:
- GPU capacity providers: `AcceleratorConfig` arrives in aws-cdk-lib 2.278, which the registry
  does not serve; the decision models them (platform.lmi_gpu), `synth` refuses such a workload
  before building anything (ManagedInstances.unbuildable), and a GPU request reaching this
  construct is refused with the same version instead of an unvalidated raw property override.
- EFS weights: a managed-instances function takes its network from the capacity provider, not
  a VpcConfig of its own, and Lambda mounts EFS through a function's VpcConfig (assumption, not
  verified against a deploy): weights come in the image (`weights_dir`).
- The image's base must be Python 3.13 or later for Lambda Managed Instances (AWS Lambda
  developer guide, "Lambda Managed Instances runtimes"); the serverless image's base is the
  caller's (stacks/packaging.py) to choose.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.aws import nag
from stacks.aws.common import traced
from stacks.aws.network import PlatformImports
from stacks.aws.serving import architecture as lambda_architecture
from stacks.aws.serving import function_environment, image_code, retained_log_group
from stacks.ec2_types import instance_shape
from stacks.errors import SwitchyardError
from stacks.targets.managed_instances.accelerator import GPU_CDK_VERSION
from stacks.targets.managed_instances.sizing import (
    CAPACITY_PROVIDER_MIN_VCPUS,
    MAX_EXECUTION_ENVIRONMENTS,
    MAX_VCPU_COUNT,
)

MEMORY_GIB_PER_VCPU = (2, 4, 8)  # ExecutionEnvironmentMemoryGiBPerVCpu: the c, m and r families
FUNCTION_MEMORY_GB = (2, 32)  # smallest and largest execution environment
MAX_CONCURRENCY = 1600  # PerExecutionEnvironmentMaxConcurrency's API maximum
MAX_ENVIRONMENTS = MAX_EXECUTION_ENVIRONMENTS  # FunctionScalingConfig's API maximum
MAX_VCPUS = MAX_VCPU_COUNT  # CapacityProviderScalingConfig.MaxVCpuCount's maximum
MAX_TIMEOUT_S = 900

OPERATOR_POLICY = (
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator]"
)
OPERATOR_REASON = (
    "AWS-managed policy Lambda documents for a capacity provider's operator role: it lets the Lambda service "
    "launch, tag and terminate the EC2 instances of Lambda Managed Instances (conditioned on "
    "ec2:ManagedResourceOperator = scaler.lambda.amazonaws.com) and describe the VPC they run in. AWS maintains "
    "it as the service gains permissions; a copy would fall behind."
)


def _refuse(workload: str, field: str, value: object, allowed: str) -> SwitchyardError:
    return SwitchyardError(f"{workload}: managed-instances {field} is {value!r}; allowed: {allowed}")


class ManagedInstancesFunction(Construct):
    """A capacity provider and the workload's serving function on it.

    Props, all in the service's terms (the decision's managed-instances sizing provides them):
    - `build_context`: the rendered serving image's directory (stacks/packaging.py); its base
      image must be Python 3.13 or later.
    - `architecture`: x86_64 | arm64, for the image, the function and the instances.
    - `environment_vcpus` x `memory_gib_per_vcpu` (2, 4 or 8): one execution environment, 2-32 GB;
      the function's MemorySize is their product.
    - `max_concurrency`: requests one environment serves at once (each in its own Python process).
    - `min_environments`, `max_environments`: the always-on floor and the scaling ceiling of the
      `$LATEST.PUBLISHED` version.
    - `instance_types`: the only EC2 types the provider may launch, of `architecture`, each
      holding at least one environment; `max_vcpus` caps the provider (at least the ceiling's vCPUs).
    - `platform`: the platform VPC's isolated subnets; the provider gets its own HTTPS-only
      security group (and ingress on the interface endpoints' group when there is one).
    - `workload_name`, `installation`, `weights_dir`, `timeout_s`, `description`: as the serverless
      function has them.
    - `scaling_cpu_target_percent`: None lets Lambda scale (Auto); a number sets a CPU target.
    - `accelerator`: a GPU (TYPE:COUNT) is refused: it needs aws-cdk-lib 2.278.

    Attributes: `function`, `capacity_provider`, `security_group`, `log_group`, `invoke_arn`.
    Validation raises SwitchyardError naming the field, the value and what is allowed.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        build_context: Path,
        architecture: str,
        environment_vcpus: int,
        memory_gib_per_vcpu: int,
        max_concurrency: int,
        min_environments: int,
        max_environments: int,
        instance_types: Sequence[str],
        max_vcpus: int,
        platform: PlatformImports,
        workload_name: str,
        installation: str,
        weights_dir: str,
        timeout_s: int,
        description: str,
        scaling_cpu_target_percent: float | None = None,
        accelerator: str | None = None,
    ) -> None:
        validate(
            workload_name,
            architecture=architecture,
            environment_vcpus=environment_vcpus,
            memory_gib_per_vcpu=memory_gib_per_vcpu,
            max_concurrency=max_concurrency,
            min_environments=min_environments,
            max_environments=max_environments,
            instance_types=instance_types,
            max_vcpus=max_vcpus,
            timeout_s=timeout_s,
            scaling_cpu_target_percent=scaling_cpu_target_percent,
            accelerator=accelerator,
        )
        super().__init__(scope, id)
        arch = lambda_architecture(architecture)
        self.security_group = platform.function_security_group(
            self, "SecurityGroup", f"Switchyard {workload_name}: managed instances, HTTPS to endpoints"
        )
        self.capacity_provider = lambda_.CapacityProvider(
            self,
            "CapacityProvider",
            subnets=platform.vpc.isolated_subnets,
            security_groups=[self.security_group],
            architectures=[arch],
            instance_type_filter=lambda_.InstanceTypeFilter.allow([ec2.InstanceType(t) for t in instance_types]),
            max_v_cpu_count=max_vcpus,
            scaling_options=(
                lambda_.ScalingOptions.auto()
                if scaling_cpu_target_percent is None
                else lambda_.ScalingOptions.manual(
                    [lambda_.TargetTrackingScalingPolicy.cpu_utilization(scaling_cpu_target_percent)]
                )
            ),
        )
        self.log_group = retained_log_group(self)
        self.function = lambda_.DockerImageFunction(
            self,
            "Resource",
            code=image_code(build_context, architecture),
            architecture=arch,
            memory_size=environment_vcpus * memory_gib_per_vcpu * 1024,
            timeout=Duration.seconds(timeout_s),
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment=function_environment(workload_name, installation, weights_dir),
            description=description,
        )
        traced(self.function)
        self.capacity_provider.add_function(
            self.function,
            per_execution_environment_max_concurrency=max_concurrency,
            execution_environment_memory_gib_per_v_cpu=memory_gib_per_vcpu,
            latest_published_scaling_config=lambda_.LatestPublishedScalingConfig(
                min_execution_environments=min_environments, max_execution_environments=max_environments
            ),
            publish_to_latest_published=True,
        )
        self._acknowledge()

    @property
    def invoke_arn(self) -> str:
        """The unqualified function ARN: Lambda invokes its `$LATEST.PUBLISHED` version."""
        return self.function.function_arn

    def _acknowledge(self) -> None:
        nag.ack_function(self.function, vpc=False)  # no ENIs of its own: the instances are the provider's
        operator = self.capacity_provider.node.find_child("OperatorRole")
        nag.ack(operator, OPERATOR_POLICY, OPERATOR_REASON)


def validate(
    workload: str,
    *,
    architecture: str,
    environment_vcpus: int,
    memory_gib_per_vcpu: int,
    max_concurrency: int,
    min_environments: int,
    max_environments: int,
    instance_types: Sequence[str],
    max_vcpus: int,
    timeout_s: int,
    scaling_cpu_target_percent: float | None,
    accelerator: str | None,
) -> None:
    """Refuse, before any resource exists, what the Lambda API or the instances would refuse at deploy."""
    if accelerator is not None:
        installed = version("aws-cdk-lib")
        if not hasattr(lambda_, "AcceleratorConfig"):
            raise SwitchyardError(
                f"{workload}: a GPU on Lambda Managed Instances (accelerator {accelerator!r}) needs the capacity "
                f"provider's AcceleratorConfig, which aws-cdk-lib {GPU_CDK_VERSION} adds; this installation has "
                f"aws-cdk-lib {installed}, the newest the package registry serves. Choose target: kubernetes "
                f"for this workload, or synthesize it once aws-cdk-lib {GPU_CDK_VERSION} is installed."
            )
        raise SwitchyardError(
            f"{workload}: a GPU on Lambda Managed Instances (accelerator {accelerator!r}) is not built by "
            f"Switchyard yet, although aws-cdk-lib {installed} has AcceleratorConfig; choose target: kubernetes."
        )
    if architecture not in ("x86_64", "arm64"):
        raise _refuse(workload, "architecture", architecture, "x86_64 or arm64")
    if memory_gib_per_vcpu not in MEMORY_GIB_PER_VCPU:
        raise _refuse(workload, "memory_gib_per_vcpu", memory_gib_per_vcpu, "2, 4 or 8 GiB per vCPU")
    memory = environment_vcpus * memory_gib_per_vcpu
    if environment_vcpus < 1 or not FUNCTION_MEMORY_GB[0] <= memory <= FUNCTION_MEMORY_GB[1]:
        raise _refuse(
            workload,
            "environment size",
            f"{environment_vcpus} vCPU x {memory_gib_per_vcpu} GiB = {memory} GB",
            f"at least 1 vCPU and {FUNCTION_MEMORY_GB[0]}-{FUNCTION_MEMORY_GB[1]} GB",
        )
    if not 1 <= max_concurrency <= MAX_CONCURRENCY:
        raise _refuse(workload, "max_concurrency", max_concurrency, f"1-{MAX_CONCURRENCY} per execution environment")
    if not 0 <= min_environments <= max_environments <= MAX_ENVIRONMENTS or max_environments < 1:
        raise _refuse(
            workload,
            "min/max execution environments",
            (min_environments, max_environments),
            f"0 <= min <= max, 1 <= max <= {MAX_ENVIRONMENTS}",
        )
    if not 1 <= timeout_s <= MAX_TIMEOUT_S:
        raise _refuse(workload, "timeout_s", timeout_s, f"1-{MAX_TIMEOUT_S} seconds")
    if scaling_cpu_target_percent is not None and not 1 <= scaling_cpu_target_percent <= 100:
        raise _refuse(workload, "scaling_cpu_target_percent", scaling_cpu_target_percent, "1-100, or None for Auto")
    if not instance_types:
        raise _refuse(workload, "instance_types", [], "at least one EC2 instance type")
    for name in instance_types:
        try:
            shape = instance_shape(name)
        except ValueError as exc:
            raise SwitchyardError(f"{workload}: managed-instances instance_types: {exc}") from None
        if shape.architecture != architecture:
            raise _refuse(workload, "instance_types", name, f"{architecture} types, like the function")
        if shape.vcpus < environment_vcpus or shape.memory_gib < memory:
            raise _refuse(
                workload,
                "instance_types",
                name,
                f"types that hold one {environment_vcpus} vCPU / {memory} GB execution environment",
            )
    if max_vcpus < max_environments * environment_vcpus:
        raise _refuse(
            workload,
            "max_vcpus",
            max_vcpus,
            f"at least {max_environments * environment_vcpus}: {max_environments} environments of "
            f"{environment_vcpus} vCPU, or the ceiling can never be reached",
        )
    if not CAPACITY_PROVIDER_MIN_VCPUS <= max_vcpus <= MAX_VCPUS:
        raise _refuse(
            workload,
            "max_vcpus",
            max_vcpus,
            f"{CAPACITY_PROVIDER_MIN_VCPUS}-{MAX_VCPUS} (aws-cdk-lib's CapacityProvider maxVCpuCount)",
        )
