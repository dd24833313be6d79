"""The weights-sync custom resource handler, run for real against a local directory.

The S3 client is an in-memory stand-in with boto3's method shapes (list_objects_v2 paginator,
download_file); everything else (staging, atomic rename, marker, skip, prune, zip) is the code
that runs on Lambda.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tempfile
import zipfile

import pytest

from stacks.aws.runtime import weights_sync


class MemoryS3:
    def __init__(self, objects: dict[tuple[str, str], bytes]):
        self.objects = objects
        self.downloads = 0

    def get_paginator(self, name):
        assert name == "list_objects_v2"
        s3 = self

        class Paginator:
            def paginate(self, Bucket, Prefix):
                keys = sorted(k for b, k in s3.objects if b == Bucket and k.startswith(Prefix))
                yield {"Contents": [{"Key": k} for k in keys[:2]]}
                yield {"Contents": [{"Key": k} for k in keys[2:]]}

        return Paginator()

    def download_file(self, bucket, key, dest):
        self.downloads += 1
        with open(dest, "wb") as fh:
            fh.write(self.objects[(bucket, key)])


def test_copies_a_prefix_once_and_skips_when_complete(tmp_path):
    s3 = MemoryS3(
        {
            ("acme", "m/v1/config.json"): b"{}",
            ("acme", "m/v1/shards/a.bin"): b"A",
            ("acme", "m/v1/shards/b.bin"): b"B",
            ("acme", "m/v2/other.bin"): b"X",
        }
    )
    path = weights_sync.sync("s3://acme/m/v1/", "ver1", mount=str(tmp_path), s3=s3)
    assert sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs) == [
        ".switchyard-complete",
        "config.json",
        "shards/a.bin",
        "shards/b.bin",
    ]
    assert s3.downloads == 3
    weights_sync.sync("s3://acme/m/v1/", "ver1", mount=str(tmp_path), s3=s3)
    assert s3.downloads == 3  # already complete: nothing downloaded again
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []  # no staging debris


def test_extracts_a_zip_asset(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("vocab.json", "[]")
    s3 = MemoryS3({("assets", "abc.zip"): buf.getvalue()})
    path = weights_sync.sync("s3://assets/abc.zip", "v", mount=str(tmp_path), s3=s3)
    assert sorted(os.listdir(path)) == [".switchyard-complete", "vocab.json"]


def test_empty_prefix_fails_and_publishes_nothing(tmp_path):
    with pytest.raises(ValueError, match="no objects under s3://acme/missing/"):
        weights_sync.sync("s3://acme/missing/", "v", mount=str(tmp_path), s3=MemoryS3({}))
    assert os.listdir(tmp_path) == []


def test_update_keeps_the_previous_version_and_prunes_older(tmp_path, monkeypatch):
    for v in ("old", "previous"):
        (tmp_path / "api" / v).mkdir(parents=True)
    (tmp_path / "other" / "v1").mkdir(parents=True)  # another workload's weights are not touched
    monkeypatch.setattr(weights_sync, "MOUNT", str(tmp_path))
    monkeypatch.setattr(weights_sync, "_s3", lambda: MemoryS3({("acme", "m/v3/w.bin"): b"W"}))
    props = {"Workload": "api", "Source": "s3://acme/m/v3/", "Version": "new"}
    reply = weights_sync.on_event(
        {"RequestType": "Update", "PhysicalResourceId": "previous", "ResourceProperties": props}
    )
    assert reply == {"PhysicalResourceId": "new", "Data": {"Directory": "new"}}
    assert sorted(os.listdir(tmp_path / "api")) == ["new", "previous"]
    assert os.listdir(tmp_path / "other") == ["v1"]


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_a_copy_killed_at_the_timeout_leaves_no_staging_directory_behind(tmp_path, monkeypatch, request_type):
    """Lambda kills the sync at its 15-minute timeout without running its cleanup: the partial
    copy (gigabytes on EFS, billed monthly) must go with the next successful run."""
    stale = tmp_path / "api" / ".new.k1ll3d"
    stale.mkdir(parents=True)
    (stale / "half.bin").write_bytes(b"x" * 1024)
    monkeypatch.setattr(weights_sync, "MOUNT", str(tmp_path))
    monkeypatch.setattr(weights_sync, "_s3", lambda: MemoryS3({("acme", "m/v3/w.bin"): b"W"}))
    props = {"Workload": "api", "Source": "s3://acme/m/v3/", "Version": "new"}
    event = {"RequestType": request_type, "ResourceProperties": props}
    if request_type == "Update":
        event["PhysicalResourceId"] = "previous"
    weights_sync.on_event(event)
    assert sorted(os.listdir(tmp_path / "api")) == ["new"]


def test_a_workload_name_cannot_escape_its_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(weights_sync, "MOUNT", str(tmp_path))
    props = {"Workload": "../etc", "Source": "s3://acme/m/", "Version": "v"}
    with pytest.raises(ValueError, match="invalid workload name"):
        weights_sync.on_event({"RequestType": "Create", "ResourceProperties": props})


def test_copies_a_version_from_a_real_s3_api(tmp_path, monkeypatch, s3_admin):
    admin = s3_admin
    admin.create_bucket(Bucket="acme-models")
    admin.put_object(Bucket="acme-models", Key="m/v1/", Body=b"")  # a console "folder" marker: skipped
    for i in range(30):
        admin.put_object(Bucket="acme-models", Key=f"m/v1/shards/{i:04d}.bin", Body=str(i).encode())
    admin.put_object(Bucket="acme-models", Key="m/v2/other.bin", Body=b"X")
    monkeypatch.setattr(weights_sync, "MOUNT", str(tmp_path))
    props = {"Workload": "api", "Source": "s3://acme-models/m/v1/", "Version": "ver1"}
    reply = weights_sync.on_event({"RequestType": "Create", "ResourceProperties": props})
    assert reply == {"PhysicalResourceId": "ver1", "Data": {"Directory": "ver1"}}
    shards = sorted(os.listdir(tmp_path / "api" / "ver1" / "shards"))
    assert len(shards) == 30 and (tmp_path / "api" / "ver1" / "shards" / "0029.bin").read_text() == "29"
    assert (tmp_path / "api" / "ver1" / weights_sync.MARKER).exists()
    assert not (tmp_path / "api" / "ver1" / "other.bin").exists()


def _read_all_as(uid: int, root: str) -> subprocess.CompletedProcess:
    """Read every file under root as another user, the way a serving function does through its access point
    (find and cat: any user can run them, unlike an interpreter in a private home)."""
    return subprocess.run(
        ["find", root, "-type", "f", "-exec", "cat", "{}", "+"],
        user=uid,
        group=uid,
        capture_output=True,
        check=False,
    )


@pytest.mark.parametrize("kind", ["prefix", "zip"])
def test_weights_are_readable_by_the_serving_user_under_a_strict_umask(tmp_path, kind):
    from stacks.aws.weights import READER_UID

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("tokenizer/vocab.txt", "a b")
        zf.writestr("model.bin", b"W")
    s3 = MemoryS3(
        {("acme", "m/v1/config.json"): b"{}", ("acme", "m/v1/shards/a.bin"): b"A", ("acme", "w.zip"): buf.getvalue()}
    )
    source = "s3://acme/m/v1/" if kind == "prefix" else "s3://acme/w.zip"
    # A mount point other users can traverse (pytest's own temp root is private to its user).
    mount_root = tempfile.mkdtemp(prefix="switchyard-efs-")
    os.chmod(mount_root, 0o755)
    workload = os.path.join(mount_root, "demo")
    old = os.umask(0o077)
    try:
        path = weights_sync.sync(source, "ver1", mount=workload, s3=s3)
    finally:
        os.umask(old)
    try:
        for d, _, files in os.walk(workload):
            assert stat.S_IMODE(os.stat(d).st_mode) == 0o755, d
            for f in files:
                assert stat.S_IMODE(os.stat(os.path.join(d, f)).st_mode) == 0o644, os.path.join(d, f)
        if os.geteuid() == 0:  # as root, also read for real as the serving functions' UID
            reader = _read_all_as(READER_UID, path)
            assert reader.returncode == 0, reader.stderr
            assert reader.stdout.count(b"acme") == 1  # the marker, read with the rest
    finally:
        shutil.rmtree(mount_root)
