"""Shared fixtures, and how to keep the suite fast (`make test` <= 120 s on 2 cores).

`make test` runs pytest in 4 processes on 2 cores (pytest-xdist, `--dist loadgroup`: about half
the suite's time is servers waited on); `pytest` alone runs in one. Each worker is a fresh
interpreter that collects every test module (~4 s of CPU), so:

- Share expensive set-up with a session fixture here: it is built once per worker, on first
  use (`s3_endpoint`, moto, is an example); one that costs seconds of CPU is built once per run
  for all workers with tests.run_once.once (`cdk_cli` and `serverless_assembly`: the real CDK
  CLI's synth of the fixture profiles, cdk-nag on). Treat what they return as read only. A
  server fixture binds its own port (`port=0`) or takes one from `tests.ports.free_port()`,
  never a fixed number, and keeps its files under `tmp_path_factory`.
- Run the CLI in-process (`tests.cli_helpers.switchyard`), not in a subprocess: a fresh
  interpreter pays ~7 s of aws-cdk-lib/Pulumi imports and jsii start-up before its first synth.
- Import aws-cdk-lib, cdk-nag and stacks.aws.* inside the tests and fixtures that use them, never
  at a test module's top (annotations under TYPE_CHECKING): every worker collects every module, and
  that import costs ~1.4 s of CPU with jsii's Node.js, which only the `cdk` group's worker needs.
  Names the tests share have light homes (stacks.profile.names, stacks.targets.serverless.*).
- A test that synthesizes the CDK app in-process (build_app, tests.cdk_helpers.synth, the CLI's
  synth/snapshot/outputs of serverless workloads) is marked `IN_PROCESS_CDK`: one worker warms
  jsii's Node.js once instead of every worker paying ~4.5 s of CPU for it.
- Tests that must not run at the same time as others (they write a shared place such as the
  checkout's build/), or that share one costly module fixture, get the same group and so one
  worker: `@pytest.mark.xdist_group("name")` on a test, or in a module's `pytestmark` (pytest
  9.2 breaks the groups of pytest-xdist 3.8: pyproject.toml keeps pytest below it).
- Mark a test that runs a server, a subprocess or waits `@pytest.mark.slow`: slow tests are dealt
  to the workers first (see pytest_collection_modifyitems).
- Wait for events (`tests.runtime_helpers.wait_for`, a log line, a readiness probe), never a
  fixed sleep; bound the work of a test by CPU time, not wall time (the machine is shared).
- Temporary files go to a RAM file system (/dev/shm) when there is one with room and TMPDIR is
  unset (_temporary_files_in_memory): file creation is most of the suite's system CPU on a disk.

bench/suite_time.py times `make test`'s phases.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from tests.run_once import once

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
# The project's tests run on this fixture set (a copy of the shipped examples, with their model),
# never on profiles/: that directory is the user's, and adding, removing or switching a profile
# there must not break the suite. The user's own profiles are checked by `switchyard snapshot`.
PROFILES = FIXTURES / "profiles"
SCHEMA = ROOT / "profiles" / "schema.json"  # generated and committed for editors (`switchyard schema`)
# Upstream schemas and chart values the conformance tests check against, vendored with their
# provenance and license (tests/fixtures/upstream/PROVENANCE.md).
UPSTREAM = FIXTURES / "upstream"
SHARED_UPSTREAM = UPSTREAM  # the former name, kept for tests written against it

# aws-cdk-lib needs `node` on PATH even to import; prefer the pinned Node.js from package.json.
_node_bin = ROOT / "node_modules" / ".bin"
if _node_bin.is_dir() and str(_node_bin) not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = f"{_node_bin}{os.pathsep}{os.environ.get('PATH', '')}"


def _temporary_files_in_memory(shm: Path = Path("/dev/shm"), room: int = 4 * 2**30) -> None:
    """TMPDIR on a RAM file system (tmpfs) when the machine has one with room and the user set none.

    The suite writes thousands of files (build contexts, copies of profiles, cloud assemblies, weights
    copies, servers' logs): creating one costs ~160 us of CPU on this project's CI disk (ext4) and
    ~25 us on tmpfs. A container's small /dev/shm (Docker's 64 MB) or a missing one keeps the default.
    The folder is the user's own (not a link, 0755 so an unprivileged UID can reach the image tests'
    roots); everything in it is made by mkdtemp or pytest, private to the user."""
    if "TMPDIR" in os.environ:
        return
    try:
        mounts = Path("/proc/self/mounts").read_text(encoding="utf-8").split("\n")
        if not any(line.split()[1:3] == [str(shm), "tmpfs"] for line in mounts if line.strip()):
            return
        free = os.statvfs(shm)
        if free.f_bavail * free.f_frsize < room:
            return
        folder = shm / f"switchyard-tests-{os.getuid()}"
        folder.mkdir(mode=0o755, exist_ok=True)
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return
    except OSError:
        return
    os.environ["TMPDIR"] = str(folder)  # this process's tempfile, pytest's tmp_path, and every subprocess
    tempfile.tempdir = None


_temporary_files_in_memory()

# CDK's built-in CloudFormation template validation (a WASM rule engine: ~2 s of CPU to start in each
# process, ~0.12 s a synth) only warns, on stderr, unless the app opts in to failing on it. The
# suite's ~60 in-process synths of profile variants skip it (CDK_VALIDATION=false, read once by jsii's
# Node.js when aws-cdk-lib loads); cfn-lint and cdk-nag still check those templates. Where it is what
# a user runs, it stays on: the real CDK CLI's synth of the fixture profiles (tests.cdk_helpers.
# cdk_cli_synth; test_cdk_cli asserts its report holds no finding, warnings included).
os.environ.setdefault("CDK_VALIDATION", "false")


# Tests that synthesize the CDK app in this process share one xdist worker (`--dist loadgroup`):
# a process's first synth costs ~4.5 s more CPU than later ones (jsii's Node.js loads and compiles
# aws-cdk-lib), paid again by every worker that synthesizes. Mark a test or module with it.
IN_PROCESS_CDK = pytest.mark.xdist_group("cdk")

VALID = """\
# yaml-language-server: $schema=./schema.json
name: demo-api
target: auto
model:
  preset: custom
  entrypoint: model.py
  weights: s3://acme-models/demo/v1/
  weights_gb: 0.5
  memory_gb: 2
  gpu: none
sla:
  p99_latency_ms: 300
  cold_start_budget_ms: 10000
  mode: sync
  timeout_s: 30
utilization:
  avg_rps: 2
  peak_rps: 20
  active_hours_per_day: 10
  inference_ms: 80
"""


MODEL = """\
def load(weights_dir):
    return None


def predict(model, inputs):
    return [0 for _ in inputs]
"""


@pytest.fixture
def write_profile(tmp_path: Path):
    """Write a profile text into a fresh directory and return its path."""

    def write(text: str, name: str = "demo.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        model = tmp_path / "model.py"  # VALID's entrypoint: validation checks that it defines both functions
        if not model.exists():
            model.write_text(MODEL, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def node_available() -> bool:
    return shutil.which("node") is not None


def copy_profiles(dest: Path, *, edit: dict[str, tuple[str, str]] | None = None, drop: tuple[str, ...] = ()) -> Path:
    """The fixture profiles (and their model) under dest/profiles, with `edit` (name -> (old, new)) applied."""
    profiles = dest / "profiles"
    shutil.copytree(PROFILES, profiles)
    for name in drop:
        (profiles / f"{name}.yaml").unlink()
    for name, (old, new) in (edit or {}).items():
        path = profiles / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{name}: {old!r} not in the example"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return profiles


def pytest_collection_modifyitems(items):
    """Tests marked `slow` (servers, subprocesses, waits) first, the rest in their order after; the
    tests that read the real CDK CLI's assembly (`serverless_assembly`) last of all.

    xdist hands tests out in collection order; a long test dealt last keeps one worker busy while
    the others have nothing left. Dealt first, the short ones fill in around them. The CLI's synth
    (tests/test_cdk_cli.py, slow, no group) runs on one worker from the start while the `cdk`
    group's worker does its in-process synths; by the time that worker reaches the tests that read
    the CLI's output, the output is there rather than waited for.
    """
    items.sort(key=lambda item: ("serverless_assembly" in item.fixturenames, item.get_closest_marker("slow") is None))


def pytest_configure(config):
    """An xdist worker ends without the interpreter's teardown (`_end_worker_now`); `--snapshot-update`
    with -x (or --maxfail) is refused: it deletes every snapshot the early stop left unused."""
    if hasattr(config, "workerinput"):  # an xdist worker (not a pytest that a test runs with its env)
        atexit.register(_end_worker_now)
    if config.getoption("update_snapshots", default=False) and config.getoption("maxfail", default=0):
        raise pytest.UsageError(
            "--snapshot-update with -x/--maxfail would delete the snapshots of the tests it did not run; "
            "update without stopping early, or name the test file"
        )


def _end_worker_now() -> None:
    """An xdist worker whose results are sent ends without the interpreter's teardown: four workers
    freeing their modules and heaps at once on two cores held the run's end for ~3 s. Registered at
    configure, before jsii starts its Node.js: the atexit hooks registered later (jsii stopping it,
    servers' clean-ups) still run first. execnet ignores a worker's exit status."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@pytest.fixture(scope="session")
def cdk_cli(tmp_path_factory):
    """The real CDK CLI's `cdk synth` of the fixture profiles through cdk.json, run once for the
    whole run and shared by the xdist workers (about 10 s of CPU: the CLI, a fresh interpreter,
    its jsii Node.js and the synth with cdk-nag). A tests.cdk_helpers.CliSynth; read only."""
    from tests.cdk_helpers import CliSynth, cdk_cli_synth

    def build(directory: Path) -> None:
        r = cdk_cli_synth(PROFILES, directory)
        (directory / "result.json").write_text(json.dumps({"returncode": r.returncode, "output": r.output}))

    directory = once(tmp_path_factory, "cdk-cli-synth", build)
    result = json.loads((directory / "result.json").read_text())
    return CliSynth(result["returncode"], result["output"], directory / "out")


@pytest.fixture(scope="session")
def serverless_assembly(cdk_cli):
    """The CDK app of the fixture profiles (cdk-nag on: any finding fails the synth), the cloud
    assembly `cdk_cli` wrote: byte for byte what build_app(...).synth() makes. Read only."""
    from aws_cdk import cx_api  # aws-cdk-lib: imported by the tests that need it

    assert cdk_cli.returncode == 0, cdk_cli.output[-3000:]
    return cx_api.CloudAssembly(str(cdk_cli.out))


@pytest.fixture(scope="session")
def kubernetes_objects(tmp_path_factory):
    """The Pulumi program of the fixture profiles under mocks (tests.k8s_helpers.CLUSTER), once per
    session: workload name -> its objects. Read only."""
    from tests.k8s_helpers import CLUSTER, manifests

    return manifests(PROFILES, tmp_path_factory.mktemp("k8s-build"), CLUSTER)


@pytest.fixture(scope="session")
def s3_endpoint():
    """A local S3-compatible server (moto's server mode) for real boto3/awscli clients."""
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_admin(monkeypatch, s3_endpoint):
    """A boto3 S3 client on the local server; the environment points every new client there too."""
    boto3 = pytest.importorskip("boto3")
    for key, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    return boto3.client("s3")
