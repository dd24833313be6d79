"""`switchyard doctor` against a PATH of fake tools: small scripts that answer as the real ones do
(versions, JSON documents, failures), so every branch runs with no network and no cloud."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.commands import doctor_checks
from stacks.commands.doctor import run
from stacks.targets.serverless import serverless_sizing
from stacks.workloads import load_all
from tests.conftest import PROFILES, ROOT, copy_profiles

SERVERLESS = ("fraud-scoring", "llm-chat")  # drop these: only serverless workloads remain
KUBERNETES = ("nightly-embeddings", "sentiment-api")

IDENTITY = {"UserId": "AIDAEXAMPLE", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/deployer"}


def account(quota: int, unreserved: int) -> dict:
    return {
        "AccountLimit": {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": quota,
            "UnreservedConcurrentExecutions": unreserved,
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
    }


def kubectl_version(server: dict | None) -> dict:
    doc = {
        "clientVersion": {"major": "1", "minor": "31", "gitVersion": "v1.31.2", "platform": "linux/amd64"},
        "kustomizeVersion": "v5.4.2",
    }
    if server:
        doc["serverVersion"] = server
    return doc


PLUGINS = [
    {"name": "kubernetes", "kind": "resource", "version": "4.34.2", "size": 1},
    {"name": "random", "kind": "resource", "version": "4.21.4", "size": 1},
]


class FakeTools:
    """A bin/ directory of tools that answer fixed text per argument pattern (shell `case` globs)."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "calls.log"

    def tool(self, name: str, answers: dict[str, tuple[int, object]], directory: Path | None = None) -> None:
        lines = ["#!/bin/sh", f'echo "{name} $*" >> {shlex.quote(str(self.log))}', 'case "$*" in']
        for pattern, (code, output) in answers.items():
            text = output if isinstance(output, str) else json.dumps(output)
            stream = " >&2" if code else ""
            glob = "*".join(shlex.quote(part) if part else "" for part in pattern.split("*"))
            lines.append(f"  {glob}) printf '%s\\n' {shlex.quote(text)}{stream}; exit {code};;")
        lines += ['  *) echo "unexpected: $*" >&2; exit 99;;', "esac"]
        path = (directory or self.bin) / name
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o755)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def fake(tmp_path):
    return FakeTools(tmp_path)


@pytest.fixture
def project(tmp_path):
    """A checkout with package.json's pins and the pinned tools in node_modules/.bin."""
    root = tmp_path / "project"
    (root / "node_modules" / ".bin").mkdir(parents=True)
    (root / "package.json").write_text((ROOT / "package.json").read_text())
    return root


def pinned(fake: FakeTools, project: Path, node: str = "v22.23.3") -> None:
    bin_dir = project / "node_modules" / ".bin"
    fake.tool("node", {"--version": (0, node)}, bin_dir)
    fake.tool("cdk", {"--version": (0, "2.1148.1 (build fcf5e34)")}, bin_dir)


def healthy(fake: FakeTools, project: Path, *, quota=(1000, 1000), server=None, plugins=PLUGINS) -> None:
    pinned(fake, project)
    fake.tool(
        "docker",
        {
            "buildx version": (0, "github.com/docker/buildx v0.17.1 257815a"),
            "version --format*": (0, "27.3.1"),
        },
    )
    fake.tool(
        "aws",
        {
            "--version": (0, "aws-cli/2.17.20 Python/3.11.9 Linux/6.1 exe/x86_64.ubuntu.22"),
            "sts get-caller-identity*": (0, IDENTITY),
            "lambda get-account-settings --region us-east-1*": (0, account(*quota)),
        },
    )
    fake.tool("pulumi", {"version": (0, "v3.272.0"), "plugin ls --json": (0, plugins)})
    fake.tool(
        "kubectl",
        {
            "version --client -o json": (0, kubectl_version(None)),
            "config current-context": (0, "gpu-prod"),
            "version -o json*": (0, kubectl_version(server or {"major": "1", "minor": "31", "gitVersion": "v1.31.4"})),
        },
    )


def doctor(capsys, fake, project, profiles=PROFILES, *, env=None, stack=None) -> tuple[int, dict]:
    env = {"PATH": str(fake.bin), "HOME": str(project), **(env or {})}
    code = run([profiles], as_json=True, env=env, root=project, pulumi_stack=stack)
    doc = json.loads(capsys.readouterr().out)
    return code, doc


def checks(doc: dict) -> dict[str, dict]:
    return {c["name"]: c for c in doc["checks"]}


def plan_reserves() -> dict[str, int]:
    """What the fixture plan reserves per serverless workload (nightly-embeddings twice its peak, 40;
    sentiment-api twice its simulated burst's peak: tests/test_simulate_decision.py)."""
    return {
        w.name: serverless_sizing(w).reserved_concurrency
        for w in load_all([PROFILES]).workloads
        if w.target.value == "serverless"
    }


def test_a_ready_machine_passes_every_check_and_reads_the_account_and_cluster(capsys, fake, project):
    healthy(fake, project)
    code, doc = doctor(capsys, fake, project)
    assert code == 0 and doc["ready"] is True
    by = checks(doc)
    assert {c["status"] for c in doc["checks"]} == {"ok"}, doc["checks"]
    assert by["aws-credentials"]["facts"]["account"] == "123456789012"
    quota = by["lambda-quota (us-east-1)"]["facts"]
    reserves = plan_reserves()
    assert reserves["nightly-embeddings"] == 40 and quota["plan_reserves"] == sum(reserves.values())
    assert by["kubernetes-cluster"]["facts"] == {"context": "gpu-prod", "server_version": "1.31", "minimum": "1.30"}
    assert "lambda get-account-settings --region us-east-1 --output json" in " ".join(fake.calls())


def test_an_empty_machine_lists_what_is_missing_and_how_to_get_it(capsys, fake, project):
    assert run([PROFILES], env={"PATH": str(fake.bin)}, root=project) == 1
    text = capsys.readouterr().out
    for line in (
        "missing  node",
        "fix: cd " + str(project) + " && npm ci",
        "missing  builder",
        "https://docs.docker.com/engine/install/",
        "missing  aws-cli",
        "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html",
        "skip     aws-credentials",
        "missing  pulumi",
        "curl -fsSL https://get.pulumi.com | sh",
        "missing  kubectl",
        "https://kubernetes.io/docs/tasks/tools/#kubectl",
        "not ready: ",
    ):
        assert line in text, line
    # No quota check without credentials to read it with.
    assert "lambda-quota" not in text


def test_only_the_tools_of_targets_in_use_are_required(capsys, fake, project, tmp_path):
    serverless_only = copy_profiles(tmp_path / "s", drop=SERVERLESS)
    healthy(fake, project)
    (fake.bin / "pulumi").unlink()
    (fake.bin / "kubectl").unlink()
    code, doc = doctor(capsys, fake, project, serverless_only)
    assert code == 0 and doc["targets"]["kubernetes"] == []
    assert checks(doc)["pulumi"]["status"] == "missing" and checks(doc)["pulumi"]["required"] is False

    kubernetes_only = copy_profiles(tmp_path / "k", drop=KUBERNETES)
    (fake.bin / "aws").unlink()
    healthy_k8s = FakeTools(tmp_path / "k")
    healthy(healthy_k8s, project)
    (healthy_k8s.bin / "aws").unlink()
    code, doc = doctor(capsys, healthy_k8s, project, kubernetes_only)
    assert code == 0, doc
    assert checks(doc)["aws-cli"]["required"] is False  # s3:// weights: publish uploads nothing
    # A kubernetes workload with local weights makes publish run `aws s3 sync`: then aws is required.
    local = copy_profiles(
        tmp_path / "l",
        drop=KUBERNETES,
        edit={"fraud-scoring": ("s3://acme-models/fraud/2026-11/", "models/sentiment/weights/")},
    )
    code, doc = doctor(capsys, healthy_k8s, project, local)
    assert code == 1 and checks(doc)["aws-cli"]["required"] is True


def test_docker_without_buildx_is_missing_unless_podman_is_there(capsys, fake, project, tmp_path):
    healthy(fake, project)
    fake.tool("docker", {"buildx version": (1, "docker: 'buildx' is not a docker command.\nSee 'docker --help'")})
    code, doc = doctor(capsys, fake, project)
    builder = checks(doc)["builder"]
    assert code == 1 and builder["status"] == "missing"
    assert "docker: 'buildx' is not a docker command." in builder["detail"]
    assert "docker-buildx-plugin" in builder["fix"]

    fake.tool("podman", {"--version": (0, "podman version 5.2.2")})
    code, doc = doctor(capsys, fake, project)
    builder = checks(doc)["builder"]
    # publish runs podman; cdk deploy would still run `docker`.
    assert code == 0 and builder["status"] == "warn" and builder["fix"] == "export CDK_DOCKER=podman"
    code, doc = doctor(capsys, fake, project, env={"CDK_DOCKER": "podman"})
    assert checks(doc)["builder"]["status"] == "ok" and checks(doc)["builder"]["facts"]["tool"] == "podman"


def test_a_docker_engine_that_does_not_answer_is_missing(capsys, fake, project):
    healthy(fake, project)
    fake.tool(
        "docker",
        {
            "buildx version": (0, "github.com/docker/buildx v0.17.1 257815a"),
            "version --format*": (1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."),
        },
    )
    code, doc = doctor(capsys, fake, project)
    assert code == 1 and "Cannot connect to the Docker daemon" in checks(doc)["builder"]["detail"]


def test_expired_credentials_are_missing_and_skip_the_quota(capsys, fake, project):
    healthy(fake, project)
    fake.tool(
        "aws",
        {
            "--version": (0, "aws-cli/2.17.20 Python/3.11.9"),
            "sts get-caller-identity*": (
                255,
                "An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: "
                "The security token included in the request is expired",
            ),
        },
    )
    code, doc = doctor(capsys, fake, project)
    creds = checks(doc)["aws-credentials"]
    assert code == 1 and creds["status"] == "missing" and "ExpiredToken" in creds["detail"]
    assert not any(name.startswith("lambda-quota") for name in checks(doc))


@pytest.mark.parametrize(
    ("quota", "status", "words"),
    [
        ((140, 140), "missing", "the plan reserves {sum} ({each}) but the account's quota 140 leaves 40"),
        ((400, 120), "warn", "the plan assumed a quota of 1,000"),
        ((1000, 120), "warn", "only 120 is unreserved now (other functions reserve 880)"),
    ],
)
def test_the_lambda_quota_is_compared_with_the_plans_reservations(capsys, fake, project, quota, status, words):
    healthy(fake, project, quota=quota)
    code, doc = doctor(capsys, fake, project)
    check = checks(doc)["lambda-quota (us-east-1)"]
    reserves = plan_reserves()
    each = ", ".join(f"{name} {n}" for name, n in sorted(reserves.items()))
    words = words.format(sum=sum(reserves.values()), each=each)
    assert check["status"] == status and words in check["detail"], check
    assert code == (1 if status == "missing" else 0)
    if status == "missing":  # what the plan reserves + the 100 Lambda keeps unreserved
        assert f"--quota-code L-B99A9384 --desired-value {sum(reserves.values()) + 100}" in check["fix"]


def test_a_lambda_api_that_refuses_is_a_warning_not_a_guess(capsys, fake, project):
    healthy(fake, project)
    fake.tool(
        "aws",
        {
            "--version": (0, "aws-cli/2.17.20"),
            "sts get-caller-identity*": (0, IDENTITY),
            "lambda get-account-settings*": (254, "An error occurred (AccessDeniedException) ..."),
        },
    )
    code, doc = doctor(capsys, fake, project)
    check = checks(doc)["lambda-quota (us-east-1)"]
    assert code == 0 and check["status"] == "warn" and "AccessDeniedException" in check["detail"]


@pytest.mark.parametrize(
    ("server", "ok"),
    [
        ({"major": "1", "minor": "29+", "gitVersion": "v1.29.8-eks-a737599"}, False),  # EKS/GKE add a +
        ({"major": "1", "minor": "30+", "gitVersion": "v1.30.5-gke.1014001"}, True),
    ],
)
def test_the_cluster_must_be_at_least_the_supported_minimum(capsys, fake, project, server, ok):
    healthy(fake, project, server=server)
    code, doc = doctor(capsys, fake, project)
    cluster = checks(doc)["kubernetes-cluster"]
    assert (code, cluster["status"]) == ((0, "ok") if ok else (1, "missing"))
    if not ok:
        assert "server 1.29 is older than 1.30" in cluster["detail"]


def test_the_stacks_context_and_minimum_are_the_ones_checked(capsys, fake, project, tmp_path, monkeypatch):
    healthy(fake, project, server={"major": "1", "minor": "30", "gitVersion": "v1.30.1"})
    fake.tool(
        "kubectl",
        {
            "version --client -o json": (0, kubectl_version(None)),
            "--context lab version -o json*": (0, kubectl_version({"major": "1", "minor": "30"})),
        },
    )
    monkeypatch.chdir(tmp_path)
    Path("Pulumi.lab.yaml").write_text(
        "config:\n  switchyard:kubeContext: lab\n  switchyard:minKubernetesVersion: '1.31'\n"
    )
    code, doc = doctor(capsys, fake, project, stack="lab")
    cluster = checks(doc)["kubernetes-cluster"]
    assert code == 1 and cluster["facts"] == {"context": "lab", "server_version": "1.30", "minimum": "1.31"}


def test_an_unreachable_cluster_and_a_missing_context_are_missing(capsys, fake, project):
    healthy(fake, project)
    fake.tool(
        "kubectl",
        {
            "version --client -o json": (0, kubectl_version(None)),
            "config current-context": (0, "gpu-prod"),
            "version -o json*": (1, "Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout"),
        },
    )
    code, doc = doctor(capsys, fake, project)
    assert code == 1 and "i/o timeout" in checks(doc)["kubernetes-cluster"]["detail"]
    fake.tool(
        "kubectl",
        {
            "version --client -o json": (0, kubectl_version(None)),
            "config current-context": (1, "error: current-context is not set"),
        },
    )
    code, doc = doctor(capsys, fake, project)
    assert "current-context is not set" in checks(doc)["kubernetes-cluster"]["detail"]


def test_pulumi_plugins_missing_or_at_another_version_warn_with_the_install_command(capsys, fake, project):
    healthy(fake, project, plugins=[{"name": "kubernetes", "kind": "resource", "version": "4.18.0"}])
    code, doc = doctor(capsys, fake, project)
    by = checks(doc)
    assert code == 0
    assert by["pulumi-plugin kubernetes"]["status"] == "warn"
    assert by["pulumi-plugin kubernetes"]["fix"] == "pulumi plugin install resource kubernetes v4.34.2"
    assert "v4.18.0 installed" in by["pulumi-plugin kubernetes"]["detail"]
    assert by["pulumi-plugin random"]["status"] == "warn" and "air-gapped" in by["pulumi-plugin random"]["detail"]


def test_a_node_other_than_the_pinned_one_warns(capsys, fake, project):
    healthy(fake, project)
    pinned(fake, project, node="v18.19.0")
    code, doc = doctor(capsys, fake, project)
    node = checks(doc)["node"]
    assert code == 0 and node["status"] == "warn" and "package.json pins 22.23.3" in node["detail"]


def test_a_tool_that_hangs_is_reported_not_waited_for(capsys, fake, project, monkeypatch):
    healthy(fake, project)
    monkeypatch.setattr(doctor_checks, "TIMEOUT_S", 0.5)
    script = fake.bin / "aws"
    script.write_text(script.read_text().replace('case "$*" in', 'case "$*" in\n  sts*) exec /bin/sleep 30;;'))
    code, doc = doctor(capsys, fake, project)
    assert code == 1 and "no answer within 0.5 s" in checks(doc)["aws-credentials"]["detail"]


def test_the_cli_entry_point_runs_doctor(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "stacks.cli", "doctor", "--json", str(PROFILES)],
        env={"PATH": str(tmp_path), "HOME": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["ready"] is False and doc["targets"]["kubernetes"] == ["fraud-scoring", "llm-chat"]


def test_mirror_settings_require_a_copier_and_helm(capsys, fake, project, tmp_path, monkeypatch):
    healthy(fake, project)
    fake.tool(
        "docker",
        {
            "buildx version": (0, "github.com/docker/buildx v0.17.1"),
            "version --format*": (0, "27.3.1"),
            "buildx imagetools --help": (1, "unknown"),
        },
    )
    monkeypatch.chdir(tmp_path)
    Path("Pulumi.air.yaml").write_text(
        "config:\n  switchyard:imageMirror: registry.corp/mirror\n  switchyard:kedaChartRepo: oci://registry.corp/charts\n"
    )
    code, doc = doctor(capsys, fake, project, stack="air")
    by = checks(doc)
    assert code == 1 and by["image-copier"]["status"] == "missing" and "skopeo" in by["image-copier"]["fix"]
    assert by["helm"]["status"] == "missing" and "helm.sh" in by["helm"]["fix"]
    fake.tool("crane", {"*": (0, "")})
    fake.tool("helm", {"version --short": (0, "v3.16.2+g13654a5")})
    code, doc = doctor(capsys, fake, project, stack="air")
    assert code == 0 and checks(doc)["image-copier"]["detail"].startswith("crane")
    assert checks(doc)["helm"]["detail"].startswith("v3.16.2")


# Red team: tools that answer garbage, nothing, or the wrong shape become a status, never a traceback.


@pytest.mark.parametrize("answer", ["", "   "])
def test_an_aws_cli_that_prints_nothing_is_missing_not_a_crash(capsys, fake, project, answer):
    healthy(fake, project)
    fake.tool("aws", {"--version": (0, answer), "sts get-caller-identity*": (0, IDENTITY)})
    code, doc = doctor(capsys, fake, project)
    c = checks(doc)["aws-cli"]
    assert c["status"] == "missing" and "aws --version" in c["detail"] and c["fix"]
    assert code == 1


@pytest.mark.parametrize("client", [{"clientVersion": None}, {"clientVersion": "v1.31"}, ["v1.31"]])
def test_kubectl_client_json_of_another_shape_is_reported(capsys, fake, project, client):
    healthy(fake, project)
    fake.tool(
        "kubectl",
        {
            "version --client -o json": (0, client),
            "config current-context": (0, "gpu-prod"),
            "version -o json*": (0, kubectl_version({"major": "1", "minor": "31"})),
        },
    )
    _, doc = doctor(capsys, fake, project)
    assert checks(doc)["kubectl"]["status"] in ("ok", "warn")
    assert checks(doc)["kubernetes-cluster"]["status"] == "ok"


@pytest.mark.parametrize("server", [{"serverVersion": "v1.31"}, {"serverVersion": None}, "garbage"])
def test_kubectl_server_json_of_another_shape_is_unreachable_not_a_crash(capsys, fake, project, server):
    healthy(fake, project)
    fake.tool(
        "kubectl",
        {
            "version --client -o json": (0, kubectl_version(None)),
            "config current-context": (0, "gpu-prod"),
            "version -o json*": (0, server),
        },
    )
    code, doc = doctor(capsys, fake, project)
    assert checks(doc)["kubernetes-cluster"]["status"] == "missing"
    assert code == 1


def test_a_lambda_api_answer_with_a_non_numeric_unreserved_count_is_a_warning(capsys, fake, project):
    healthy(fake, project)
    settings = account(1000, 1000)
    settings["AccountLimit"]["UnreservedConcurrentExecutions"] = "lots"
    fake.tool(
        "aws",
        {
            "--version": (0, "aws-cli/2.17.20 Python/3.11.9"),
            "sts get-caller-identity*": (0, IDENTITY),
            "lambda get-account-settings*": (0, settings),
        },
    )
    _, doc = doctor(capsys, fake, project)
    quota = next(c for c in doc["checks"] if c["name"].startswith("lambda-quota"))
    assert quota["status"] in ("ok", "warn")


def test_a_pulumi_that_answers_nothing_to_version_is_missing(capsys, fake, project):
    healthy(fake, project)
    fake.tool("pulumi", {"version": (0, ""), "plugin ls --json": (0, "[]")})
    _, doc = doctor(capsys, fake, project)
    c = checks(doc)["pulumi"]
    assert c["status"] == "missing" and c["fix"]


def test_a_missing_stack_file_is_an_error_not_a_traceback(capsys, fake, project, tmp_path, monkeypatch):
    from stacks.errors import SwitchyardError

    healthy(fake, project)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SwitchyardError):
        doctor(capsys, fake, project, stack="nope")


def test_the_compile_cache_earlier_releases_left_is_a_warning_with_its_removal(capsys, fake, project, tmp_path):
    healthy(fake, project)
    code, doc = doctor(capsys, fake, project)
    assert "old-compile-cache" not in checks(doc)  # nothing left behind: nothing said
    old = tmp_path / "xdg" / "switchyard" / "node-compile-cache"
    (old / "v22.23.3-x64-3de5248b-0").mkdir(parents=True)
    code, doc = doctor(capsys, fake, project, env={"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    check = checks(doc)["old-compile-cache"]
    assert code == 0 and doc["ready"] is True  # space, not a deploy problem
    assert check["status"] == "warn" and check["fix"] == f"rm -rf {old}"
    (project / ".cache" / "switchyard" / "node-compile-cache").mkdir(parents=True)  # HOME/.cache without XDG
    _, doc = doctor(capsys, fake, project)
    assert (
        checks(doc)["old-compile-cache"]["fix"] == f"rm -rf {project / '.cache' / 'switchyard' / 'node-compile-cache'}"
    )
    run([PROFILES], as_json=False, env={"PATH": str(fake.bin), "HOME": str(project)}, root=project)
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("warn") and "old-compile-cache" in x)
    assert line.endswith("it only takes space"), line  # no "(not needed: ...)": it belongs to no target


def test_a_cache_folder_doctor_may_not_enter_is_passed_over(capsys, fake, project, monkeypatch):
    healthy(fake, project)
    denied = project / ".cache" / "switchyard" / "node-compile-cache"
    real_is_dir = Path.is_dir

    def is_dir(self):  # as a user without access to $HOME/.cache sees it (root here cannot be refused)
        if self == denied:
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_dir(self)

    monkeypatch.setattr(Path, "is_dir", is_dir)
    code, doc = doctor(capsys, fake, project)
    assert code == 0 and "old-compile-cache" not in checks(doc)
