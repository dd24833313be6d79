"""`switchyard publish`: the images and weights the Pulumi program will reference, built, pushed and uploaded."""

from __future__ import annotations

import shlex

from stacks.cli import main
from tests.conftest import copy_profiles
from tests.k8s_helpers import find, manifests


def test_dry_run_prints_the_builds_pushes_and_uploads_the_program_expects(tmp_path, capsys, monkeypatch):
    profiles = copy_profiles(tmp_path, edit={"sentiment-api": ("target: auto", "target: kubernetes")})
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.edge.yaml").write_text(
        "config:\n  switchyard:imageRegistry: harbor.lab:8443/ml\n"
        "  switchyard:weightsBaseUri: s3://lab-models\n  switchyard:weightsEndpointUrl: http://minio.lab:9000\n"
    )
    for builder in ("docker", "podman"):
        code = main(["publish", "--dry-run", "--pulumi-stack", "edge", "--builder", builder, str(profiles)])
        assert code == 0
        lines = [shlex.split(line) for line in capsys.readouterr().out.splitlines()]
        images = {c[c.index("--tag") + 1] for c in lines if "--tag" in c}
        # every image reference the program puts in a Deployment, and nothing else
        from stacks.k8s.settings import from_stack_file

        objects = manifests(profiles, tmp_path / "build", from_stack_file("Pulumi.edge.yaml").model_copy(
            update={"model_storage_class": "cephfs"}))  # fmt: skip
        expected = {
            c["image"]
            for name in ("fraud-scoring", "llm-chat", "sentiment-api")
            for c in find(objects[name], "Deployment")["spec"]["template"]["spec"]["containers"]
        }
        assert images == expected and all(i.startswith("harbor.lab:8443/ml/") for i in images)
        if builder == "docker":
            assert all(c[:3] == ["docker", "buildx", "build"] and "--push" in c for c in lines if c[0] == "docker")
        else:
            assert {c[1] for c in lines if c[0] == "podman"} == {"build", "push"}
        (upload,) = [c for c in lines if c[0] == "aws"]
        fetch = find(objects["sentiment-api"], "Deployment")["spec"]["template"]["spec"]["initContainers"][0]
        source = next(e["value"] for e in fetch["env"] if e["name"] == "SOURCE")
        assert upload[:3] == ["aws", "s3", "sync"] and upload[4] == source  # where the init container reads
        assert upload[3].endswith("models/sentiment/weights/")
        assert upload[-2:] == ["--endpoint-url", "http://minio.lab:9000"]


def _tool(bin_dir, name: str, log, exit_code: int = 0) -> None:
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\nexit {exit_code}\n')
    path.chmod(0o755)


def test_publish_runs_the_commands_in_order_and_stops_at_the_first_failure(tmp_path, capsys, monkeypatch):
    profiles = copy_profiles(tmp_path, edit={"sentiment-api": ("target: auto", "target: kubernetes")})
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    _tool(bin_dir, "podman", log)
    _tool(bin_dir, "aws", log)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")  # podman present, docker absent: auto picks podman
    assert main(["publish", str(profiles)]) == 0
    calls = log.read_text().splitlines()
    printed = capsys.readouterr().out.splitlines()
    assert [c.split() for c in calls] == [shlex.split(p) for p in printed]  # what it printed is what it ran
    assert [c.split()[:2] for c in calls] == [
        ["podman", "build"], ["podman", "push"], ["podman", "build"], ["podman", "push"],
        ["podman", "build"], ["podman", "push"], ["aws", "s3"],
    ]  # fmt: skip
    log.unlink()
    _tool(bin_dir, "podman", log, exit_code=3)  # the registry refuses the first push
    assert main(["publish", str(profiles)]) == 1
    assert len(log.read_text().splitlines()) == 1  # nothing after the failure ran
    assert "failed (exit 3); nothing after it ran" in capsys.readouterr().err


def test_an_in_cluster_weights_endpoint_is_not_used_from_the_operators_machine(tmp_path, capsys, monkeypatch):
    """The example stack names MinIO by its in-cluster address (what the init container reaches);
    `switchyard publish` runs on a workstation or CI runner that cannot resolve it. It says so
    before building anything, and uploads through AWS_ENDPOINT_URL (awscli's own variable) when set."""
    profiles = copy_profiles(tmp_path, edit={"sentiment-api": ("target: auto", "target: kubernetes")})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n  switchyard:weightsEndpointUrl: http://minio.storage.svc:9000\n"
    )
    code = main(["publish", "--dry-run", "--pulumi-stack", "dev", "--builder", "docker", str(profiles)])
    out, err = capsys.readouterr()
    assert code != 0 and out == ""
    assert "minio.storage.svc" in err and "AWS_ENDPOINT_URL" in err and "Traceback" not in err
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")  # e.g. kubectl port-forward svc/minio 9000
    assert main(["publish", "--dry-run", "--pulumi-stack", "dev", "--builder", "docker", str(profiles)]) == 0
    (upload,) = [shlex.split(line) for line in capsys.readouterr().out.splitlines() if line.startswith("aws ")]
    assert upload[-2:] == ["--endpoint-url", "http://127.0.0.1:9000"]
