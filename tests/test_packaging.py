"""Rendering build contexts: templates, determinism, atomic writes, entrypoint checks, golden Dockerfiles."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jinja2
import pytest

from stacks.errors import ProfileError, RenderError
from stacks.packaging import ENV, IMAGES, render, spec_for
from stacks.profile import Target
from tests.conftest import PROFILES
from tests.packaging_helpers import SLOW_PROFILE, workload


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sentiment():
    return workload(PROFILES / "sentiment-api.yaml")


@pytest.mark.parametrize("target", [Target.serverless, Target.kubernetes])
def test_render_is_deterministic(sentiment, tmp_path, target):
    first = tree(render(sentiment, tmp_path / "a", target))
    second = tree(render(sentiment, tmp_path / "b", target))
    assert first == second
    again = tree(render(sentiment, tmp_path / "a", target))  # re-render over an existing context
    assert again == first


def test_contexts_hold_code_and_weights_only_when_baked_into_a_lambda_image(sentiment, tmp_path):
    lam = tree(render(sentiment, tmp_path, Target.serverless))
    assert {
        "Dockerfile",
        ".dockerignore",
        "requirements.txt",
        "app/handler.py",
        "app/serving_core.py",
        "app/user_model/model.py",
    } <= set(lam)
    # sentiment-api's 0.4 GB of local weights are baked into its Lambda image (the decision's
    # coldstart.weights_in_image): exactly its weight files, under weights/, never in app/
    assert sentiment.decision.option(Target.serverless).sizing.weights_in_image
    source = PROFILES / "models" / "sentiment" / "weights"
    assert {p: b for p, b in lam.items() if p.startswith("weights/")} == {
        f"weights/{k}": v for k, v in tree(source).items()
    }
    assert not [p for p in lam if p.startswith("app/") and ("weights" in p.split("/") or p.endswith(".npz"))]
    dockerfile = lam["Dockerfile"].decode()
    assert "COPY weights/ /opt/switchyard/weights/" in dockerfile
    dockerignore = lam[".dockerignore"].decode()
    assert "**/weights/" in dockerignore and "!weights/**" in dockerignore
    # Kubernetes (and Lambda with weights on EFS) never carry weights
    k8s = tree(render(sentiment, tmp_path / "k", Target.kubernetes))
    assert "app/server.py" in k8s and "app/handler.py" not in k8s
    assert not [p for p in k8s if "weights" in p.split("/") or p.endswith((".npz", ".json"))]
    dockerignore = k8s[".dockerignore"].decode()
    assert "**/weights/" in dockerignore and "**/*.safetensors" in dockerignore and "!weights" not in dockerignore


def test_vllm_context_is_the_server_with_the_profiles_arguments(tmp_path):
    llm = workload(PROFILES / "llm-chat.yaml")
    files = tree(render(llm, tmp_path))
    assert set(files) == {"Dockerfile", ".dockerignore"}
    dockerfile = files["Dockerfile"].decode()
    assert "FROM vllm/vllm-openai:v0.33.0\n" in dockerfile  # drains in-flight requests (--shutdown-timeout)
    assert 'ENTRYPOINT ["vllm", "serve"]' in dockerfile
    assert (
        'CMD ["--model", "/models", "--served-model-name", "meta-llama/Llama-3.1-8B-Instruct", '
        '"--host", "0.0.0.0", "--port", "8000", "--gpu-memory-utilization", "0.90", '
        '"--shutdown-timeout", "120", "--max-model-len", "8192"]'
    ) in dockerfile
    assert "USER=switchyard" in dockerfile and "LOGNAME=switchyard" in dockerfile  # getpass.getuser() works
    assert "HF_HUB_OFFLINE=1" in dockerfile  # the weights come from the cache volume, not a hub


def test_failed_render_leaves_the_previous_context_and_no_debris(tmp_path, write_profile):
    good = SLOW_PROFILE.read_text()
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (model_dir / "model.py").write_text(
        "def load(weights_dir):\n    return 1\n\ndef predict(model, inputs):\n    return inputs\n"
    )
    (model_dir / "weights").mkdir()
    (model_dir / "weights" / "scale.txt").write_text("1\n")
    profile = model_dir / "p.yaml"
    profile.write_text(good)
    out = tmp_path / "build"
    w = workload(profile)
    first = tree(render(w, out))
    (model_dir / "model.py").write_text("def load(weights_dir):\n    return 1\n")  # broken after validation
    with pytest.raises(RenderError):
        render(w, out)
    assert tree(out / "slow-model") == first
    assert sorted(p.name for p in out.iterdir()) == ["slow-model"]


def _slow_copy(tmp_path: Path, model: str | None) -> Path:
    shutil.copytree(SLOW_PROFILE.parent / "weights", tmp_path / "weights")
    if model is not None:
        (tmp_path / "model.py").write_text(model)
    profile = tmp_path / "p.yaml"
    profile.write_text(SLOW_PROFILE.read_text())
    return profile


def test_missing_entrypoint_is_a_validation_error_and_render_writes_nothing(tmp_path):
    profile = _slow_copy(tmp_path, None)
    with pytest.raises(ProfileError) as info:
        workload(profile)
    assert str(info.value) == (
        f"{profile}:4: model.entrypoint: {tmp_path / 'model.py'} does not exist\n"
        "    allowed: a Python file defining load(weights_dir) and predict(model, inputs)"
    )
    (tmp_path / "model.py").write_text(
        "def load(weights_dir):\n    return 1\n\ndef predict(model, inputs):\n    return inputs\n"
    )
    w = workload(profile)
    (tmp_path / "model.py").unlink()  # gone between validation and render
    with pytest.raises(RenderError) as info:
        render(w, tmp_path / "build")
    assert str(info.value).startswith(f"{profile}: model.entrypoint: {tmp_path / 'model.py'} does not exist\n")
    assert not (tmp_path / "build" / "slow-model").exists()


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("def load(weights_dir):\n    return 1\n", "does not define predict(model, inputs)"),
        (
            "def load():\n    return 1\n\ndef predict(model, inputs):\n    return inputs\n",
            "defines load at line 1 with the wrong arguments: expected load(weights_dir)",
        ),
        ("def load(weights_dir)\n", "syntax error"),
    ],
)
def test_entrypoint_must_define_both_functions(tmp_path, source, problem):
    profile = _slow_copy(tmp_path, source)
    with pytest.raises(ProfileError) as info:  # `validate` and `plan` say so, before any render
        workload(profile)
    assert problem in str(info.value)
    assert str(info.value).startswith(f"{profile}:4: model.entrypoint: {tmp_path / 'model.py'}")


def test_misspelt_template_variable_fails_instead_of_rendering_empty(sentiment):
    spec = spec_for(sentiment)
    with pytest.raises(jinja2.UndefinedError):
        ENV.from_string("FROM {{ spec.base_imgae }}").render(spec=spec)
    assert ENV.undefined is jinja2.StrictUndefined


def test_every_base_image_is_pinned():
    for flavor, image in IMAGES.items():
        assert ":latest" not in image and ":" in image.split("/")[-1], flavor
        tag = image.split("@")[0].rsplit(":", 1)[1]
        assert re.fullmatch(r"v?\d+(\.\d+)+.*", tag) or "@sha256:" in image, f"{flavor}: {image} is not pinned"


FLAVORS = {
    "lambda": (PROFILES / "sentiment-api.yaml", Target.serverless),  # weights baked into the image
    "lambda-efs": (PROFILES / "nightly-embeddings.yaml", Target.serverless),  # weights on EFS
    "cpu": (PROFILES / "sentiment-api.yaml", Target.kubernetes),
    "gpu": (PROFILES / "nightly-embeddings.yaml", Target.kubernetes),
    "vllm": (PROFILES / "llm-chat.yaml", Target.kubernetes),
}


@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_dockerfile_golden(flavor, tmp_path, snapshot):
    profile, target = FLAVORS[flavor]
    w = workload(profile)
    if flavor == "gpu":  # nightly-embeddings is gpu: optional; give it an accelerator for the GPU image
        text = profile.read_text().replace("  gpu: optional", "  gpu: optional\n  accelerator: L4:1")
        shutil.copytree(PROFILES / "models", tmp_path / "models")
        copy = tmp_path / "gpu.yaml"
        copy.write_text(text)
        w = workload(copy)
    image = flavor.removesuffix("-efs")
    assert spec_for(w, target).flavor == image
    dockerfile = (render(w, tmp_path, target) / "Dockerfile").read_text()
    assert dockerfile == snapshot
    assert f"FROM {IMAGES[image]}\n" in dockerfile
    if image != "lambda":  # Lambda runs functions as its own non-root user and ignores USER
        assert "USER 10001:10001" in dockerfile
        assert "HEALTHCHECK" in dockerfile
