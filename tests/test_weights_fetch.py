"""The init container's fetch script, run for real: awscli against a local S3-compatible server (moto)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stacks.k8s.weights_fetch import FETCH_SCRIPT, MARKER

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")
AWS = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.xdist_group("weights_fetch"),  # one worker: the loaded bucket (module fixture) is built once
    pytest.mark.skipif(AWS is None, reason="awscli is not installed (pip install awscli)"),
]
BUCKET = "weights"
FILES = 120


@pytest.fixture(scope="module")
def s3():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    client.create_bucket(Bucket=BUCKET)
    for version in ("v1", "v2", "v3", "v4"):
        for i in range(FILES):
            client.put_object(
                Bucket=BUCKET, Key=f"model/{version}/shard-{i:03d}.bin", Body=f"{version}:{i}".encode() * 4096
            )
    yield endpoint
    server.stop()


def fetch(endpoint: str, cache: Path, version: str, host: str, **extra: str) -> subprocess.Popen:
    env = {
        "PATH": f"{Path(AWS).parent}{os.pathsep}{os.environ['PATH']}",
        "SOURCE": f"s3://{BUCKET}/model/{version}/",
        "VERSION": version,
        "CACHE": str(cache),
        "HOSTNAME": host,
        "HOME": str(cache.parent),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "WAIT_SECONDS": "0.2",
        **extra,
    }
    return subprocess.Popen(
        ["/bin/sh", "-c", FETCH_SCRIPT],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def complete(cache: Path, version: str) -> bool:
    d = cache / version
    files = sorted(p.name for p in d.iterdir()) if d.is_dir() else []
    return MARKER in files and len(files) == FILES + 1


def test_two_replicas_at_once_leave_one_complete_copy_and_nobody_sees_a_partial_one(s3, tmp_path):
    cache = tmp_path / "models"
    cache.mkdir()
    seen_partial = []
    stop = threading.Event()

    def watch():  # what a server container would see at any moment: the version dir is whole or absent
        while not stop.is_set():
            d = cache / "v1"
            if d.exists() and not complete(cache, "v1"):
                seen_partial.append(sorted(p.name for p in d.iterdir()))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    procs = [fetch(s3, cache, "v1", host) for host in ("replica-a", "replica-b")]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    stop.set()
    watcher.join()
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert seen_partial == []
    assert complete(cache, "v1")
    assert (cache / "v1" / "shard-007.bin").read_bytes() == b"v1:7" * 4096
    assert sorted(p.name for p in cache.iterdir()) == [".runtime", "v1"]  # no temp directory left


def test_a_killed_copy_is_never_used_and_is_collected_with_old_versions(s3, tmp_path):
    cache = tmp_path / "models"
    cache.mkdir()
    assert fetch(s3, cache, "v1", "a").wait(timeout=120) == 0
    # a replica killed mid-copy (OOM, node loss) leaves its temporary directory behind
    slow = tmp_path / "aws-config"
    slow.write_text("[default]\ns3 =\n  max_concurrent_requests = 1\n")
    victim = fetch(s3, cache, "v2", "killed", AWS_CONFIG_FILE=str(slow))
    lock = cache / ".tmp-copy"
    deadline = time.monotonic() + 60
    while not ((lock / "data").is_dir() and len(list((lock / "data").iterdir())) >= 3) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert lock.is_dir() and not (cache / "v2").exists()  # partial, and never in place
    # the next replica waits for the copy (it may only be slow), never copies the version a second time
    waiting = fetch(s3, cache, "v2", "b")
    time.sleep(2)
    assert waiting.poll() is None and not (cache / "v2").exists()
    # nothing written to it for STALE_MINUTES: a killed copy, which the waiting replica replaces
    hour_ago = time.time() - 3600
    for p in [lock, *lock.rglob("*")]:
        os.utime(p, (hour_ago, hour_ago))
    out = waiting.communicate(timeout=120)[0].decode()
    assert waiting.returncode == 0, out
    assert "removed a killed copy of v2" in out and complete(cache, "v2") and not lock.exists()
    tmp = cache / ".tmp-gc-v0-gone"  # what a removal killed part-way leaves
    tmp.mkdir()
    (tmp / "shard-000.bin").write_bytes(b"half")
    # an hour later, a third version arrives; a live copy of another replica is in progress
    hour_ago = time.time() - 3600
    for p in [tmp, *tmp.rglob("*")]:
        os.utime(p, (hour_ago, hour_ago))
    for version, age in (("v1", 7200), ("v2", 3600)):
        os.utime(cache / version / MARKER, (time.time() - age, time.time() - age))
    live = cache / ".tmp-v3-other"
    live.mkdir()
    (live / "shard-000.bin").write_bytes(b"in progress")
    assert fetch(s3, cache, "v3", "c").wait(timeout=120) == 0
    names = sorted(p.name for p in cache.iterdir())
    # v3 (ours) and v2 (the previous rollout's pods still read it) stay; v1 and the dead removal go
    assert names == [".runtime", ".tmp-v3-other", "v2", "v3"]
    assert complete(cache, "v2") and complete(cache, "v3")


def test_an_empty_source_is_an_error_not_an_empty_version(s3, tmp_path):
    cache = tmp_path / "models"
    cache.mkdir()
    proc = fetch(s3, cache, "v9", "a")
    out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode != 0 and "no weights at s3://weights/model/v9/" in out
    assert not (cache / "v9").exists() and not list(cache.glob(".tmp-*"))


def test_a_version_half_removed_by_a_killed_collection_is_fetched_again_on_rollback(s3, tmp_path):
    """A collection killed mid-`rm -rf` (node loss, OOM) must not leave a version directory that
    blocks that version forever: rolling back to it later has to fetch it again and start."""
    cache = tmp_path / "models"
    cache.mkdir()
    assert fetch(s3, cache, "v1", "a").wait(timeout=120) == 0
    # what rm -rf leaves when killed part-way: readdir order is arbitrary, the marker may already be gone
    half = cache / "v1"
    (half / MARKER).unlink()
    for shard in sorted(half.iterdir())[: FILES // 2]:
        shard.unlink()
    proc = fetch(s3, cache, "v1", "rollback")
    out = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 0, out
    assert complete(cache, "v1")
    assert not list(cache.glob(".tmp-*"))


def test_collection_never_leaves_a_half_removed_version_in_place(s3, tmp_path):
    """An old version is renamed out of the way before it is removed: killed at any point, the
    collection leaves either a complete version or a temporary directory, never a half version."""
    cache = tmp_path / "models"
    cache.mkdir()
    for version, age in (("v1", 7200), ("v2", 3600)):
        assert fetch(s3, cache, version, "a").wait(timeout=120) == 0
        os.utime(cache / version / MARKER, (time.time() - age, time.time() - age))
    # an rm killed part-way (node loss): it has removed the marker and some files when it dies
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    started = tmp_path / "rm-started"
    (bin_dir / "rm").write_text(
        "#!/bin/sh\n"
        'for a; do last="$a"; done\n'
        'case "$(basename "$last")" in *v1*)\n'
        f'  /bin/rm -f "$last/{MARKER}" "$last"/shard-00*; touch {started}; sleep 60;;\n'
        "esac\n"
        'exec /bin/rm "$@"\n'
    )
    (bin_dir / "rm").chmod(0o755)
    proc = fetch(s3, cache, "v3", "c", PATH=f"{bin_dir}{os.pathsep}{Path(AWS).parent}{os.pathsep}{os.environ['PATH']}")
    deadline = time.monotonic() + 90
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert started.exists(), proc.communicate()[0].decode()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # v1 goes before v3 is copied (room for the copy): killed then, v3 is absent or whole, never half
    assert complete(cache, "v2")
    assert not (cache / "v3").exists() or complete(cache, "v3")
    assert not (cache / "v1").exists() or complete(cache, "v1")


def _version_bytes(version: str) -> int:
    return sum(len(f"{version}:{i}") * 4096 for i in range(FILES))


def _measuring_aws(tmp_path: Path) -> tuple[Path, Path]:
    """An `aws` that reports the cache's size when its copy ends: the moment the cache is fullest."""
    bin_dir, log = tmp_path / "measure-bin", tmp_path / "du.log"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(f'#!/bin/sh\n"{AWS}" "$@"; rc=$?\ndu -sb "$CACHE" | cut -f1 >> "{log}"\nexit $rc\n')
    (bin_dir / "aws").chmod(0o755)
    return bin_dir, log


def test_successive_weights_updates_never_need_more_than_the_current_and_the_new_version(s3, tmp_path):
    """Reported: 96 -> 191 -> 287 MB for 100 MB weights against a 220 MB claim (ENOSPC on the second
    update). Each update must fit the claim the plan bills: the version pods run now plus the new one
    (platform.model_cache_copies 2.2), however many replicas start at once."""
    cache = tmp_path / "models"
    cache.mkdir()
    bin_dir, log = _measuring_aws(tmp_path)
    path = f"{bin_dir}{os.pathsep}{Path(AWS).parent}{os.pathsep}{os.environ['PATH']}"
    peaks = []
    for n, version in enumerate(("v1", "v2", "v3", "v4")):
        hosts = ("a", "b") if version == "v4" else ("a",)  # the last update: two replicas start together
        procs = [fetch(s3, cache, version, f"{h}{n}", PATH=path) for h in hosts]
        outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
        assert [p.returncode for p in procs] == [0] * len(hosts), outputs
        peaks.append(max(int(x) for x in log.read_text().split()) / _version_bytes(version))
        log.unlink()
        time.sleep(1.1)  # markers' mtimes order the versions (one-second resolution on some file systems)
    assert [round(p, 1) for p in peaks] == [1.0, 2.0, 2.0, 2.0], peaks
    assert max(peaks) <= 2.2  # the claim's weights sizes
    assert sorted(p.name for p in cache.iterdir()) == [".runtime", "v3", "v4"]


def _kill_mid_copy(s3, cache: Path, version: str, tmp_path: Path, at_least: int) -> None:
    """A replica copying `version` kill -9'd once `at_least` files are in: a half copy stays behind."""
    slow = tmp_path / "aws-config"
    slow.write_text("[default]\ns3 =\n  max_concurrent_requests = 1\n")
    victim = fetch(s3, cache, version, f"killed-{version}", AWS_CONFIG_FILE=str(slow))
    deadline = time.monotonic() + 90

    def copied() -> int:
        return sum(1 for p in cache.glob(".tmp-*/data/shard-*") if not p.name.endswith(".tmp"))

    while copied() < at_least and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.01)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert not (cache / version).exists()


def _age(paths) -> None:
    hour_ago = time.time() - 3600
    for p in paths:
        os.utime(p, (hour_ago, hour_ago))


def test_an_update_after_a_killed_half_copy_of_another_version_stays_within_the_claim(s3, tmp_path):
    """v2's copier was kill -9'd half-way; the operator rolls out v3. The half v2 must not sit
    beside v1 and v3 (2.5 weights sizes against a claim of 2.2): v3 waits for the dead copy to be
    replaced, and the copy that replaces it makes room first."""
    cache = tmp_path / "models"
    cache.mkdir()
    bin_dir, log = _measuring_aws(tmp_path)
    path = f"{bin_dir}{os.pathsep}{Path(AWS).parent}{os.pathsep}{os.environ['PATH']}"
    assert fetch(s3, cache, "v1", "a", PATH=path).wait(timeout=120) == 0
    time.sleep(1.1)
    _kill_mid_copy(s3, cache, "v2", tmp_path, at_least=FILES // 2)
    log.unlink()
    proc = fetch(s3, cache, "v3", "b", PATH=path)
    time.sleep(2)
    assert proc.poll() is None and not log.exists()  # waiting on the (possibly live) copy: nothing copied
    _age([p for d in cache.glob(".tmp-*") for p in [d, *d.rglob("*")]])  # nothing written for an hour
    out = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 0, out
    peak = max(int(x) for x in log.read_text().split()) / _version_bytes("v3")
    assert peak <= 2.2, (peak, out)
    assert complete(cache, "v3") and not list(cache.glob(".tmp-*"))


def test_two_replicas_of_different_versions_at_once_copy_one_after_the_other(s3, tmp_path):
    """A rollout superseded mid-way: a v2 pod and a v3 pod start together beside running v1. Copied
    at the same time they need three weights sizes; one after the other, never more than two."""
    cache = tmp_path / "models"
    cache.mkdir()
    bin_dir, log = _measuring_aws(tmp_path)
    path = f"{bin_dir}{os.pathsep}{Path(AWS).parent}{os.pathsep}{os.environ['PATH']}"
    assert fetch(s3, cache, "v1", "a", PATH=path).wait(timeout=120) == 0
    log.unlink()
    time.sleep(1.1)
    procs = [fetch(s3, cache, v, f"pod-{v}", PATH=path) for v in ("v2", "v3")]
    outputs = [p.communicate(timeout=180)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    peak = max(int(x) for x in log.read_text().split()) / _version_bytes("v3")
    assert peak <= 2.2, (peak, outputs)
    assert complete(cache, "v3") and complete(cache, "v2")
