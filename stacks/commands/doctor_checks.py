"""The checks `switchyard doctor` runs: each asks one tool one question, the way a deploy would.

A check never raises: whatever a tool answers (missing, failing, garbage) becomes a status with
the reason and how to fix it. Tools are found on the PATH given, so a check sees exactly what the
deploy commands would run.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

TIMEOUT_S = 30  # sts and the Lambda API answer in a second or two; a hung proxy must not hang doctor


class Status(StrEnum):
    ok = "ok"
    missing = "missing"  # the deploy would fail without it
    warn = "warn"  # it would work, but not the way the plan assumes, or not everywhere
    skip = "skip"  # cannot be checked (a prerequisite is missing)


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""  # how to get what is missing: commands and URLs, as text
    targets: tuple[str, ...] = ()  # the targets whose deploy needs it
    facts: dict[str, object] = field(default_factory=dict)  # what was read, for --json


@dataclass
class Answer:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """The tool's own first line of complaint, for the report."""
        lines = (self.err.strip() or self.out.strip()).splitlines()
        return lines[0].strip() if lines else f"exit {self.code}"


class Tools:
    """Runs tools from one PATH with one environment (the caller's, or a test's)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def which(self, tool: str) -> str | None:
        return shutil.which(tool, path=self.env.get("PATH", ""))

    def run(self, argv: Sequence[str], timeout: float | None = None) -> Answer | None:
        """None when the tool is not on the PATH."""
        timeout = TIMEOUT_S if timeout is None else timeout
        path = argv[0] if "/" in argv[0] else self.which(argv[0])
        if path is None:
            return None
        try:
            done = subprocess.run(
                [path, *argv[1:]], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return Answer(124, "", f"no answer within {timeout:g} s")
        except OSError as exc:
            return Answer(126, "", f"cannot run {path}: {exc.strerror or exc}")
        return Answer(done.returncode, done.stdout, done.stderr)


def _json(text: str) -> object | None:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _version(text: str) -> str | None:
    match = re.search(r"v?(\d+\.\d+(?:\.\d+)?)", text)
    return match.group(1) if match else None


def pinned_node_tools(root: Path, tools: Tools, pins: dict[str, str]) -> list[Check]:
    """Node.js and the CDK CLI the project pins (package.json), from node_modules/.bin."""
    bin_dir = root / "node_modules" / ".bin"
    fix = f"cd {root} && npm ci   (or `make install`: package.json pins Node.js and the AWS CDK CLI)"
    out = []
    for name, tool, argv in (("node", "node", ["--version"]), ("cdk", "aws-cdk", ["--version"])):
        exe = bin_dir / name
        pin = pins.get(tool, "?")
        if not exe.exists():
            out.append(Check(name, Status.missing, f"{exe} does not exist (pinned {tool} {pin})", fix, ("serverless",)))
            continue
        answer = tools.run([str(exe), *argv])
        found = _version(answer.out) if answer and answer.code == 0 else None
        if found is None:
            text = answer.text if answer else "cannot run"
            out.append(Check(name, Status.missing, f"{exe} does not run: {text}", fix, ("serverless",)))
        elif found != pin:
            out.append(Check(name, Status.warn, f"{found} at {exe}, but package.json pins {pin}", fix, ("serverless",)))
        else:
            out.append(Check(name, Status.ok, f"{found} ({exe}, as pinned)", targets=("serverless",)))
    return out


def builder(tools: Tools, targets: tuple[str, ...]) -> Check:
    """What builds images: `cdk deploy` runs docker (or $CDK_DOCKER), `switchyard publish` docker buildx or podman."""
    docker_fix = (
        "install Docker Engine with the buildx plugin: https://docs.docker.com/engine/install/ "
        "(Debian/Ubuntu: apt-get install docker-ce docker-buildx-plugin), or podman: https://podman.io/docs/installation"
    )
    docker = tools.run(["docker", "buildx", "version"])
    if docker is not None and docker.code == 0:
        engine = tools.run(["docker", "version", "--format", "{{.Server.Version}}"])
        if engine is None or engine.code != 0 or not engine.out.strip():
            return Check(
                "builder",
                Status.missing,
                f"docker buildx {_version(docker.out) or ''} is installed but the Docker engine does not answer: "
                f"{engine.text if engine else ''}".strip(),
                "start it (systemctl start docker) or point DOCKER_HOST at one; or use podman",
                targets,
                {"tool": "docker"},
            )
        return Check(
            "builder",
            Status.ok,
            f"docker buildx {_version(docker.out)}, engine {engine.out.strip()}",
            targets=targets,
            facts={"tool": "docker"},
        )
    podman = tools.run(["podman", "--version"])
    if podman is not None and podman.code == 0:
        version = _version(podman.out)
        cdk_docker = tools.env.get("CDK_DOCKER", "")
        if "serverless" in targets and Path(cdk_docker).name != "podman":
            return Check(
                "builder",
                Status.warn,
                f"podman {version} (publish uses it), but `cdk deploy` runs `docker` unless CDK_DOCKER says otherwise",
                "export CDK_DOCKER=podman",
                targets,
                {"tool": "podman"},
            )
        return Check("builder", Status.ok, f"podman {version}", targets=targets, facts={"tool": "podman"})
    if docker is not None:
        return Check(
            "builder",
            Status.missing,
            f"docker is installed without buildx ({docker.text}), and there is no podman",
            "install the buildx plugin: apt-get install docker-buildx-plugin, or "
            "https://github.com/docker/buildx#installing; or install podman",
            targets,
        )
    return Check("builder", Status.missing, "neither docker (with buildx) nor podman is on PATH", docker_fix, targets)


def aws_identity(tools: Tools, targets: tuple[str, ...]) -> tuple[Check, Check]:
    """The aws CLI, then whose credentials it finds (what `cdk deploy` will deploy as)."""
    cli_fix = "install the AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
    version = tools.run(["aws", "--version"])
    if version is None or version.code != 0:
        why = "not on PATH" if version is None else f"does not run: {version.text}"
        return (
            Check("aws-cli", Status.missing, why, cli_fix, targets),
            Check("aws-credentials", Status.skip, "no aws CLI to ask", cli_fix, targets),
        )
    words = (version.out or version.err).split()
    if not words:
        return (
            Check("aws-cli", Status.missing, "`aws --version` answered nothing: not the AWS CLI", cli_fix, targets),
            Check("aws-credentials", Status.skip, "no working aws CLI to ask", cli_fix, targets),
        )
    cli = Check("aws-cli", Status.ok, words[0], targets=targets)
    who = tools.run(["aws", "sts", "get-caller-identity", "--output", "json"])
    doc = _json(who.out) if who and who.code == 0 else None
    if not isinstance(doc, dict) or "Account" not in doc:
        return cli, Check(
            "aws-credentials",
            Status.missing,
            f"no usable credentials: {who.text if who else ''}".strip(),
            "aws configure sso (or aws configure, or AWS_PROFILE=...); "
            "https://docs.aws.amazon.com/cli/latest/userguide/cli-chap-authentication.html",
            targets,
        )
    return cli, Check(
        "aws-credentials",
        Status.ok,
        f"account {doc['Account']} as {doc.get('Arn', '?')}",
        targets=targets,
        facts={"account": doc["Account"], "arn": doc.get("Arn")},
    )


@dataclass(frozen=True)
class Reservations:
    """The plan's serverless reservations in one region, and the quota the plan assumed."""

    region: str
    by_workload: dict[str, int]
    assumed_quota: int
    unreserved_floor: int  # Lambda keeps this much of the quota unreserved

    @property
    def total(self) -> int:
        return sum(self.by_workload.values())


def lambda_quota(tools: Tools, plan: Reservations) -> Check:
    """The account's concurrency against what the plan reserves (`aws lambda get-account-settings`)."""
    answer = tools.run(["aws", "lambda", "get-account-settings", "--region", plan.region, "--output", "json"])
    doc = _json(answer.out) if answer and answer.code == 0 else None
    limit = doc.get("AccountLimit") if isinstance(doc, dict) else None
    if not isinstance(limit, dict) or not isinstance(limit.get("ConcurrentExecutions"), int):
        return Check(
            f"lambda-quota ({plan.region})",
            Status.warn,
            f"cannot read the account's Lambda settings: {answer.text if answer else ''}".strip(),
            "grant lambda:GetAccountSettings to the deploying identity, then run doctor again",
            ("serverless",),
        )
    quota = limit["ConcurrentExecutions"]
    unreserved = limit.get("UnreservedConcurrentExecutions")
    unreserved = unreserved if isinstance(unreserved, int) else quota
    facts = {
        "concurrent_executions": quota,
        "unreserved_concurrent_executions": unreserved,
        "plan_reserves": plan.total,
        "assumed_quota": plan.assumed_quota,
    }
    parts = ", ".join(f"{name} {n:,}" for name, n in plan.by_workload.items())
    name = f"lambda-quota ({plan.region})"
    fix_quota = (
        "request a higher 'Concurrent executions' quota (Service Quotas, code L-B99A9384): aws service-quotas "
        f"request-service-quota-increase --service-code lambda --quota-code L-B99A9384 --desired-value "
        f"{plan.total + plan.unreserved_floor} --region {plan.region}; then set platform.lambda_account_concurrency "
        "to the new figure, or lower peak_rps / move a workload to kubernetes"
    )
    if plan.total > quota - plan.unreserved_floor:
        return Check(
            name,
            Status.missing,
            f"the plan reserves {plan.total:,} ({parts}) but the account's quota {quota:,} leaves "
            f"{quota - plan.unreserved_floor:,} to reserve: CloudFormation would fail creating the functions",
            fix_quota,
            ("serverless",),
            facts,
        )
    notes = []
    if quota < plan.assumed_quota:
        notes.append(
            f"the plan assumed a quota of {plan.assumed_quota:,} (platform.lambda_account_concurrency); "
            f"set it to {quota:,} so the plan checks the real one"
        )
    if unreserved - plan.total < plan.unreserved_floor:
        notes.append(
            f"only {unreserved:,} is unreserved now (other functions reserve {quota - unreserved:,}); "
            f"reserving {plan.total:,} more would leave less than Lambda's {plan.unreserved_floor}, unless these "
            "workloads are deployed already (their reservations are then part of what is reserved)"
        )
    detail = (
        f"quota {quota:,}, unreserved {unreserved:,}; the plan reserves {plan.total:,} ({parts})"
        if parts
        else f"quota {quota:,}, unreserved {unreserved:,}"
    )
    if notes:
        return Check(name, Status.warn, f"{detail}; " + "; ".join(notes), fix_quota, ("serverless",), facts)
    return Check(name, Status.ok, detail, targets=("serverless",), facts=facts)


PULUMI_FIX = "install the Pulumi CLI: curl -fsSL https://get.pulumi.com | sh   (https://www.pulumi.com/docs/install/)"


def pulumi_cli(tools: Tools, plugins: dict[str, str]) -> list[Check]:
    """The Pulumi CLI, and the resource plugins the program's SDKs need, at the SDKs' versions."""
    targets = ("kubernetes",)
    answer = tools.run(["pulumi", "version"])
    if answer is None or answer.code != 0 or not answer.out.strip():
        why = (
            "not on PATH"
            if answer is None
            else f"does not run: {answer.text}"
            if answer.code
            else "`pulumi version` answered nothing: not the Pulumi CLI"
        )
        return [Check("pulumi", Status.missing, why, PULUMI_FIX, targets)] + [
            Check(f"pulumi-plugin {name}", Status.skip, "no pulumi CLI to ask", PULUMI_FIX, targets) for name in plugins
        ]
    out = [Check("pulumi", Status.ok, f"{answer.out.strip()}", targets=targets)]
    listed = tools.run(["pulumi", "plugin", "ls", "--json"])
    doc = _json(listed.out) if listed and listed.code == 0 else None
    installed: dict[str, set[str]] = {}
    for p in doc if isinstance(doc, list) else []:
        if isinstance(p, dict) and p.get("kind") == "resource":
            installed.setdefault(str(p.get("name")), set()).add(str(p.get("version", "")).lstrip("v"))
    for name, version in plugins.items():
        fix = f"pulumi plugin install resource {name} v{version}"
        if name not in installed:
            out.append(
                Check(
                    f"pulumi-plugin {name}",
                    Status.warn,
                    f"not installed: `pulumi up` downloads v{version} from get.pulumi.com on first use "
                    "(an air-gapped machine cannot)",
                    fix,
                    targets,
                )
            )
        elif version not in installed[name]:
            have = ", ".join(sorted(installed[name]))
            out.append(
                Check(
                    f"pulumi-plugin {name}",
                    Status.warn,
                    f"v{have} installed; the project's SDK needs v{version} (downloaded on first use)",
                    fix,
                    targets,
                )
            )
        else:
            out.append(Check(f"pulumi-plugin {name}", Status.ok, f"v{version}", targets=targets))
    return out


def _minor(version: dict) -> tuple[int, int] | None:
    """{"major": "1", "minor": "30+"} (EKS, GKE add a +) -> (1, 30)."""
    try:
        return int(re.sub(r"\D", "", str(version["major"]))), int(re.sub(r"\D", "", str(version["minor"])))
    except (KeyError, TypeError, ValueError):
        return None


def kubernetes_cluster(tools: Tools, context: str | None, minimum: str) -> list[Check]:
    """kubectl, the context `pulumi up` will use, and the server's version against the program's minimum."""
    targets = ("kubernetes",)
    fix = "install kubectl: https://kubernetes.io/docs/tasks/tools/#kubectl"
    client = tools.run(["kubectl", "version", "--client", "-o", "json"])
    if client is None or client.code != 0:
        why = "not on PATH" if client is None else f"does not run: {client.text}"
        return [
            Check("kubectl", Status.missing, why, fix, targets),
            Check("kubernetes-cluster", Status.skip, "no kubectl to ask", fix, targets),
        ]
    doc = _json(client.out)
    found = doc.get("clientVersion") if isinstance(doc, dict) else None
    version = found.get("gitVersion", "?") if isinstance(found, dict) else "?"
    out = [Check("kubectl", Status.ok, f"client {version}", targets=targets)]
    ctx_args = ["--context", context] if context else []
    if context is None:
        current = tools.run(["kubectl", "config", "current-context"])
        if current is None or current.code != 0 or not current.out.strip():
            out.append(
                Check(
                    "kubernetes-cluster",
                    Status.missing,
                    f"no current kubeconfig context: {current.text if current else ''}".strip(),
                    "kubectl config use-context <name> (or pulumi config set switchyard:kubeContext <name>)",
                    targets,
                )
            )
            return out
        context = current.out.strip()
    server = tools.run(["kubectl", *ctx_args, "version", "-o", "json", "--request-timeout=10s"])
    doc = _json(server.out) if server else None
    found = _minor(doc.get("serverVersion", {})) if isinstance(doc, dict) else None
    if found is None:
        return [
            *out,
            Check(
                "kubernetes-cluster",
                Status.missing,
                f"context {context}: the API server does not answer: {server.text if server else ''}".strip(),
                "check the kubeconfig (kubectl cluster-info), the VPN or the API server's address",
                targets,
                {"context": context},
            ),
        ]
    need = tuple(int(x) for x in minimum.split("."))
    have = f"{found[0]}.{found[1]}"
    facts = {"context": context, "server_version": have, "minimum": minimum}
    if found < need:
        out.append(
            Check(
                "kubernetes-cluster",
                Status.missing,
                f"context {context}: server {have} is older than {minimum}, the oldest the program supports "
                "(minKubernetesVersion: preStop sleep, ValidatingAdmissionPolicy v1)",
                f"upgrade the cluster to {minimum} or later",
                targets,
                facts,
            )
        )
    else:
        out.append(
            Check(
                "kubernetes-cluster",
                Status.ok,
                f"context {context}: server {have} (>= {minimum})",
                targets=targets,
                facts=facts,
            )
        )
    return out


def mirror_tools(tools: Tools, *, images: bool, charts: bool) -> list[Check]:
    """What `switchyard publish` copies to the stack's mirrors with (stacks/k8s/mirrors.py)."""
    targets = ("kubernetes",)
    out = []
    if images:
        found = next((t for t in ("crane", "skopeo") if tools.which(t)), None)
        imagetools = tools.run(["docker", "buildx", "imagetools", "--help"]) if found is None else None
        if found is None and imagetools is not None and imagetools.code == 0:
            found = "docker buildx imagetools"
        out.append(
            Check("image-copier", Status.ok, f"{found} (copies images to imageMirror)", targets=targets)
            if found
            else Check(
                "image-copier",
                Status.missing,
                "imageMirror is set, and neither crane, skopeo nor docker buildx imagetools is on PATH",
                "install crane (https://github.com/google/go-containerregistry/tree/main/cmd/crane) or skopeo "
                "(apt-get install skopeo)",
                targets,
            )
        )
    if charts:
        helm = tools.run(["helm", "version", "--short"])
        out.append(
            Check("helm", Status.ok, f"{helm.out.strip()} (pushes the charts to the oci:// mirror)", targets=targets)
            if helm is not None and helm.code == 0
            else Check(
                "helm",
                Status.missing,
                "an oci:// chart mirror is set, and helm is not on PATH",
                "install Helm 3.8+: https://helm.sh/docs/intro/install/",
                targets,
            )
        )
    return out


def stale_compile_cache(env: dict[str, str]) -> list[Check]:
    """The Node.js compile cache earlier releases kept in the user's cache folder, if it is there.

    jsii loads aws-cdk-lib from a new temporary folder in every process (symlinks it keeps), so the
    cache never had a hit and grew by ~830 files (~12 MB) with every synth: 600,000 files (7.9 GB)
    after a day of running the test suite. Nothing reads it any more; a warning says how to remove it.
    """
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path(env.get("HOME", "~")) / ".cache"
    old = base.expanduser() / "switchyard" / "node-compile-cache"
    try:
        if not old.is_dir():
            return []
    except OSError:  # a cache folder this user may not enter (sudo keeping HOME): not ours to judge
        return []
    return [
        Check(
            "old-compile-cache",
            Status.warn,
            f"{old}: Node.js code an earlier switchyard cached and never read back; it only takes space",
            fix=f"rm -rf {shlex.quote(str(old))}",
        )
    ]
