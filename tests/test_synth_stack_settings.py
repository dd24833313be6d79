"""What is reviewed is what deploys: `synth` renders k8s.out/ from the Pulumi stack's settings, reads
the stack file as carefully as a profile, and never suggests `pulumi up` for a render that differs."""

from __future__ import annotations

import contextlib
import io
import os
import time

import pytest
import yaml

from stacks import cli
from tests.conftest import copy_profiles

pytestmark = pytest.mark.timeout(120)
STACK = """\
config:
  switchyard:modelStorageClass: cephfs
  switchyard:weightsEndpointUrl: http://rook-ceph-rgw-store.rook-ceph.svc
  switchyard:kubeContext: gpu-cluster
"""


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def project(tmp_path, monkeypatch):
    copy_profiles(tmp_path, drop=("nightly-embeddings", "sentiment-api"))  # kubernetes only: no CDK
    (tmp_path / "Pulumi.dev.yaml").write_text(STACK, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _pvc(project) -> dict:
    docs = list(yaml.safe_load_all((project / "k8s.out" / "fraud-scoring.yaml").read_text()))
    return next(d for d in docs if d["kind"] == "PersistentVolumeClaim")


def test_a_render_from_defaults_never_suggests_pulumi_up_when_the_stack_differs(project):
    code, out, err = _run("synth", "profiles")
    assert code == 0, err
    assert "then `pulumi up`" not in out
    assert "Pulumi.dev.yaml differs in modelStorageClass, weightsEndpointUrl:" in out  # kubeContext changes nothing
    assert "switchyard synth --pulumi-stack dev" in out


def test_a_render_from_the_stack_is_what_pulumi_up_deploys_and_says_which_stack(project):
    code, out, err = _run("synth", "profiles", "--pulumi-stack", "dev")
    assert code == 0, err
    assert _pvc(project)["spec"]["storageClassName"] == "cephfs"
    assert "`pulumi up --stack dev`" in out


def test_a_stack_file_equal_to_the_defaults_keeps_the_plain_suggestion(project):
    (project / "Pulumi.dev.yaml").write_text("config:\n  switchyard:kubeContext: lab\n", encoding="utf-8")
    code, out, _ = _run("synth", "profiles")
    assert code == 0 and "then `pulumi up`" in out


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize("command", [["synth", "profiles"], ["publish", "profiles", "--dry-run"]])
def test_a_billion_laughs_stack_file_is_refused_at_once(project, command):
    (project / "Pulumi.evil.yaml").write_text("config:\n  switchyard:x: 1\n" + LAUGHS, encoding="utf-8")
    started = time.monotonic()
    code, _, err = _run(*command, "--pulumi-stack", "evil")
    assert time.monotonic() - started < 10
    assert code != 0 and "Traceback" not in err
    assert "Pulumi.evil.yaml" in err and "aliases" in err, err


@pytest.mark.parametrize("command", [["synth", "profiles"], ["publish", "profiles", "--dry-run"]])
def test_a_fifo_as_the_stack_file_is_refused_not_waited_on(project, command):
    os.mkfifo(project / "Pulumi.pipe.yaml")
    code, _, err = _run(*command, "--pulumi-stack", "pipe")
    assert code != 0 and "Pulumi.pipe.yaml" in err and "FIFO" in err, err


def test_the_render_of_a_kept_queue_names_the_stack_pulumi_up_runs_as(tmp_path, monkeypatch):
    from tests.runtime_helpers import slow_profile

    profiles = slow_profile(tmp_path / "p", {"name: slow-model\n": "name: slow-model\ntarget: kubernetes\n"}).parent
    (tmp_path / "Pulumi.prod.yaml").write_text(STACK, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, _, err = _run("synth", str(profiles), "--pulumi-stack", "prod")
    assert code == 0, err
    docs = list(yaml.safe_load_all((tmp_path / "k8s.out" / "slow-model.yaml").read_text()))
    namespace = next(d for d in docs if d["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["switchyard.dev/stack"] == "switchyard.prod"
