"""`switchyard synth` replaces its output folders whole; a mistyped --build/--cdk-out/--k8s-out must
never make it replace the user's own files (their profiles, their source tree, the project)."""

from __future__ import annotations

import contextlib
import io
import os

import pytest

from stacks import cli
from tests.conftest import copy_profiles


def _synth(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["synth", *args])
    return code, err.getvalue()


def _tree(root) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts
    }


@pytest.mark.parametrize(
    ("flag", "target"),
    [
        ("--build", "src"),  # a folder of the user's, with their code in it
        ("--k8s-out", "profiles"),  # the profiles themselves
        ("--cdk-out", "."),  # the project
        ("--build", "profiles/models"),  # the models the profiles reference
    ],
)
def test_synth_refuses_to_replace_a_folder_it_did_not_write(tmp_path, monkeypatch, flag, target):
    profiles = copy_profiles(tmp_path, drop=("fraud-scoring", "llm-chat", "nightly-embeddings"))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('my service')\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)

    code, err = _synth(str(profiles.relative_to(tmp_path)), flag, target)

    assert code == 1
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and target.rstrip("/") in errors[0] and flag in errors[0], err
    assert _tree(tmp_path) == before  # nothing removed, nothing written
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith(".")) == []  # no staging debris


def test_synth_still_replaces_its_own_outputs(tmp_path, monkeypatch):
    """A folder holding only what synth writes (k8s.out: *.yaml; build: contexts with a Dockerfile) is replaced."""
    profiles = copy_profiles(tmp_path, drop=("fraud-scoring", "nightly-embeddings", "sentiment-api"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "objects").mkdir()
    # what an earlier synth wrote for a workload since removed: our objects, with our label
    (tmp_path / "objects" / "gone.yaml").write_text(
        "kind: ConfigMap\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: switchyard\n", encoding="utf-8"
    )
    (tmp_path / "ctx" / "gone").mkdir(parents=True)
    (tmp_path / "ctx" / "gone" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")

    code, err = _synth(str(profiles.relative_to(tmp_path)), "--k8s-out", "objects", "--build", "ctx")

    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "objects").iterdir()) == ["cluster-addons.yaml", "llm-chat.yaml"]
    assert sorted(p.name for p in (tmp_path / "ctx").iterdir()) == ["llm-chat"]


def test_render_refuses_to_replace_a_folder_that_is_not_a_build_context(tmp_path, monkeypatch):
    profiles = copy_profiles(tmp_path, drop=("fraud-scoring", "llm-chat", "nightly-embeddings"))
    mine = tmp_path / "out" / "sentiment-api"  # the user's folder that happens to bear the workload's name
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine\n", encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["render", str(profiles), "--out", str(tmp_path / "out")])
    assert code == 4, err.getvalue()
    assert "Traceback" not in err.getvalue() and str(mine) in err.getvalue()
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["sentiment-api"]  # no staging debris


def test_a_workload_named_like_the_add_ons_file_is_refused(write_profile):
    """k8s.out/cluster-addons.yaml holds the cluster's add-ons: a workload of that name would be merged into it."""
    from stacks.errors import ProfileError
    from stacks.profile.loader import load_profile
    from tests.conftest import VALID

    path = write_profile(VALID.replace("name: demo-api", "name: cluster-addons"))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(info.value).startswith(f"{path}:2: name: 'cluster-addons' "), str(info.value)


@pytest.mark.parametrize("hidden", [".git", ".gitignore", ".github"])
def test_synth_refuses_an_output_folder_holding_hidden_entries_it_did_not_write(tmp_path, monkeypatch, hidden):
    """A GitOps repository used as --k8s-out: its .git is not synth's to delete, whatever else it holds."""
    profiles = copy_profiles(tmp_path, drop=("fraud-scoring", "nightly-embeddings", "sentiment-api"))
    monkeypatch.chdir(tmp_path)
    repo = tmp_path / "gitops"
    repo.mkdir()
    (repo / "llm-chat.yaml").write_text("kind: ConfigMap\n", encoding="utf-8")
    if hidden == ".gitignore":
        (repo / hidden).write_text("*.tmp\n", encoding="utf-8")
    else:
        (repo / hidden / "refs").mkdir(parents=True)
        (repo / hidden / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    before = _tree(repo) | {p.name: b"" for p in repo.iterdir()}

    code, err = _synth(str(profiles.relative_to(tmp_path)), "--k8s-out", "gitops")

    assert code == 1, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--k8s-out gitops" in errors[0] and hidden in errors[0], err
    assert _tree(repo) | {p.name: b"" for p in repo.iterdir()} == before
    assert (repo / hidden).exists()


def test_what_a_killed_render_left_in_build_does_not_block_the_next_synth(tmp_path, monkeypatch):
    profiles = copy_profiles(tmp_path, drop=("fraud-scoring", "nightly-embeddings", "sentiment-api"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "build" / ".llm-chat.old").mkdir(parents=True)
    (tmp_path / "build" / ".llm-chat.k3x_9q2a").mkdir()
    code, err = _synth(str(profiles.relative_to(tmp_path)))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "build").iterdir()) == ["llm-chat"]


@pytest.mark.parametrize(
    ("flag", "files"),
    [
        # a GitOps overlay inside a repository: hand-written YAML only, .git one level up
        ("--k8s-out", {"kustomization.yaml": "resources: [llm-chat.yaml]\n", "replicas.yaml": "kind: Deployment\n"}),
        # a web app's public folder: a manifest.json that is not a cloud assembly's
        ("--cdk-out", {"manifest.json": '{"name": "my app", "icons": []}\n', "index.html": "<html></html>\n"}),
    ],
)
def test_synth_refuses_a_folder_of_the_users_files_that_merely_look_like_its_own(tmp_path, monkeypatch, flag, files):
    profiles = copy_profiles(tmp_path, drop=("fraud-scoring", "nightly-embeddings", "sentiment-api"))
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "repo" / "prod"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    before = _tree(folder)

    code, err = _synth(str(profiles.relative_to(tmp_path)), flag, "repo/prod")

    assert code == 1, err
    assert "repo/prod" in err and "did not write" in err, err
    assert _tree(folder) == before
