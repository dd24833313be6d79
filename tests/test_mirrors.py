"""Private-registry and air-gapped clusters: the mirror settings reach the objects the program creates
(images, charts, weights sources), and `publish` copies exactly what those objects will pull."""

from __future__ import annotations

import shlex

import pytest

from stacks.cli import main
from stacks.k8s import mirrors
from stacks.k8s.settings import from_stack_file
from stacks.k8s.vendor import AWS_CLI_IMAGE, REDIS_IMAGE
from stacks.packaging import render, spec_for
from stacks.profile import Target
from stacks.workloads import load_all
from tests.conftest import PROFILES, copy_profiles
from tests.k8s_helpers import find, manifests

STACK = """\
config:
  switchyard:modelStorageClass: cephfs
  switchyard:imageRegistry: registry.corp:5000/switchyard
  switchyard:imageMirror: registry.corp:5000/mirror
  switchyard:gpuOperatorChartRepo: oci://registry.corp:5000/charts
  switchyard:kedaChartRepo: https://charts.corp/keda/
  switchyard:weightsMirrorUri: s3://models-mirror/upstream
  switchyard:weightsEndpointUrl: https://minio.corp:9000
"""
ASYNC_ON_K8S = {"nightly-embeddings": ("target: auto", "target: kubernetes")}


@pytest.fixture
def air(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.air.yaml").write_text(STACK)
    return from_stack_file("Pulumi.air.yaml")


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_the_cluster_pulls_third_party_images_charts_and_s3_weights_from_the_mirrors(air, tmp_path):
    profiles = copy_profiles(tmp_path, edit=ASYNC_ON_K8S)
    groups = manifests(profiles, tmp_path / "build", air)
    fetch = find(groups["fraud-scoring"], "Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    assert fetch["image"] == "registry.corp:5000/mirror/amazon/aws-cli:2.27.50"
    assert env_of(fetch)["SOURCE"] == "s3://models-mirror/upstream/acme-models/fraud/2026-11/"
    assert env_of(fetch)["AWS_ENDPOINT_URL"] == "https://minio.corp:9000"
    redis = find(groups["nightly-embeddings"], "Deployment", "nightly-embeddings-redis")
    assert (
        redis["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.corp:5000/mirror/library/redis:7.4.2-bookworm"
    )
    releases = {r["helmRelease"]: r for r in groups["cluster-addons"] if "helmRelease" in r}
    # An OCI registry names the chart by URL and takes no repository; an https mirror is a Helm repository.
    assert releases["gpu-operator"]["chart"] == "oci://registry.corp:5000/charts/gpu-operator"
    assert releases["gpu-operator"]["repo"] is None and releases["gpu-operator"]["version"] == "v26.7.0"
    assert (releases["keda"]["chart"], releases["keda"]["repo"]) == ("keda", "https://charts.corp/keda")


def test_without_mirrors_every_source_is_the_public_one(tmp_path):
    groups = manifests(copy_profiles(tmp_path, edit=ASYNC_ON_K8S), tmp_path / "build")
    fetch = find(groups["fraud-scoring"], "Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    assert fetch["image"] == AWS_CLI_IMAGE and env_of(fetch)["SOURCE"] == "s3://acme-models/fraud/2026-11/"
    redis = find(groups["nightly-embeddings"], "Deployment", "nightly-embeddings-redis")
    assert redis["spec"]["template"]["spec"]["containers"][0]["image"] == REDIS_IMAGE


@pytest.mark.parametrize(
    ("image", "mirrored"),
    [
        ("redis:7.4.2-bookworm", "m.corp/x/library/redis:7.4.2-bookworm"),
        ("amazon/aws-cli:2.27.50", "m.corp/x/amazon/aws-cli:2.27.50"),
        ("nvidia/cuda:12.4.1-runtime-ubuntu22.04", "m.corp/x/nvidia/cuda:12.4.1-runtime-ubuntu22.04"),
        ("nvcr.io/nvidia/gpu-operator:v26.7.0", "m.corp/x/nvidia/gpu-operator:v26.7.0"),
        ("localhost:5000/a/b:1", "m.corp/x/a/b:1"),
    ],
)
def test_mirrored_names_follow_the_layout_crane_and_skopeo_produce(air, image, mirrored):
    assert mirrors.mirrored_image(image, air.model_copy(update={"image_mirror": "m.corp/x/"})) == mirrored


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("switchyard:imageMirror: https://registry.corp/mirror", "switchyard:imageMirror"),
        ("switchyard:kedaChartRepo: ftp://charts.corp", "switchyard:kedaChartRepo"),
        ("switchyard:weightsMirrorUri: https://minio/models", "switchyard:weightsMirrorUri"),
    ],
)
def test_a_malformed_mirror_setting_names_the_key(tmp_path, line, words, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.bad.yaml").write_text(f"config:\n  {line}\n")
    assert main(["publish", "--dry-run", "--pulumi-stack", "bad", str(PROFILES)]) == 1
    err = capsys.readouterr().err
    assert "Pulumi.bad.yaml" in err and words in err and "allowed:" in err


def published(capsys, *args: str) -> list[list[str]]:
    assert main(["publish", "--dry-run", *args]) == 0
    return [shlex.split(line) for line in capsys.readouterr().out.splitlines()]


def test_publish_copies_what_the_cluster_and_builder_will_pull_then_builds_from_the_mirror(air, tmp_path, capsys):
    profiles = copy_profiles(tmp_path, edit=ASYNC_ON_K8S)
    build = tmp_path / "build"
    commands = published(capsys, "--pulumi-stack", "air", "--build", str(build), "--copier", "crane", str(profiles))
    copies = {c[2]: c[3] for c in commands if c[:2] == ["crane", "copy"]}
    assert copies == {
        AWS_CLI_IMAGE: "registry.corp:5000/mirror/amazon/aws-cli:2.27.50",
        REDIS_IMAGE: "registry.corp:5000/mirror/library/redis:7.4.2-bookworm",
        "python:3.12.8-slim-bookworm": "registry.corp:5000/mirror/library/python:3.12.8-slim-bookworm",
        "vllm/vllm-openai:v0.33.0": "registry.corp:5000/mirror/vllm/vllm-openai:v0.33.0",
    }
    charts = [c for c in commands if c[0] == "helm"]
    assert charts[0][:2] == ["helm", "pull"] and "https://helm.ngc.nvidia.com/nvidia" in charts[0]
    assert charts[1] == [
        "helm",
        "push",
        str(build / ".mirror/charts/gpu-operator-v26.7.0.tgz"),
        "oci://registry.corp:5000/charts",
    ]
    assert len(charts) == 2  # KEDA's mirror is an https repository: nothing to push
    down = next(
        c for c in commands if c[:3] == ["env", "-u", "AWS_ENDPOINT_URL"] and "s3://acme-models/fraud/2026-11/" in c
    )
    up = commands[commands.index(down) + 1]
    assert up[:3] == ["aws", "s3", "sync"] and up[4] == "s3://models-mirror/upstream/acme-models/fraud/2026-11/"
    assert up[-2:] == ["--endpoint-url", "https://minio.corp:9000"]
    # Every copy comes before the first build; each build resolves its FROM through the mirror.
    first_build = next(i for i, c in enumerate(commands) if c[:3] == ["docker", "buildx", "build"])
    assert all(c[:3] != ["docker", "buildx", "build"] for c in commands[:first_build])
    batch = load_all([profiles])
    for w in batch.by_target("kubernetes"):
        dockerfile = (render(w, build, Target.kubernetes) / "Dockerfile").read_text()
        base = next(line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM "))
        assert base == spec_for(w, Target.kubernetes).base_image
        build_cmd = next(c for c in commands if c[:3] == ["docker", "buildx", "build"] and c[-1] == str(build / w.name))
        assert (
            build_cmd[build_cmd.index("--build-context") + 1]
            == f"{base}=docker-image://{mirrors.mirrored_image(base, air)}"
        )


def test_a_mirror_never_changes_the_image_tag_the_program_references(air, tmp_path, capsys, monkeypatch):
    profiles = copy_profiles(tmp_path)
    build = str(tmp_path / "build")
    with_mirror = published(capsys, "--pulumi-stack", "air", "--build", build, "--copier", "skopeo", str(profiles))
    (tmp_path / "Pulumi.plain.yaml").write_text("config:\n  switchyard:imageRegistry: registry.corp:5000/switchyard\n")
    plain = published(capsys, "--pulumi-stack", "plain", "--build", build, str(profiles))

    def tags(commands):
        return [c[c.index("--tag") + 1] for c in commands if c[:3] == ["docker", "buildx", "build"]]

    assert tags(with_mirror) == tags(plain) and tags(plain)
    assert any(c[:3] == ["skopeo", "copy", "--all"] and c[3].startswith("docker://") for c in with_mirror)
    assert not any(c[0] in ("skopeo", "crane", "helm", "env") for c in plain)
