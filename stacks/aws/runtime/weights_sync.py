"""Custom resource handler: put one exact weights version on EFS before traffic reaches it.

Runs in the VPC with the EFS writer access point (/workloads, as the owner of the weights)
mounted at MOUNT. Copies s3://bucket/prefix/ (every object) or s3://bucket/key.zip (extracted)
into MOUNT/<workload>/<version>/, through a temporary directory renamed into place, then writes a
marker. A version that is already complete is skipped, so re-running is free. On update the
previous version is kept (old function versions may still read it) and older ones are removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile

MOUNT = os.environ.get("MOUNT", "/mnt/weights")
MARKER = ".switchyard-complete"


def _s3():
    import boto3  # in the Lambda runtime
    from botocore.config import Config

    # Bounded waits: an unreachable endpoint fails the deploy in seconds with the error, instead of
    # hanging the custom resource until the function's 15-minute timeout. (Weights in another
    # region are refused at plan time: limit.weights_region.)
    return boto3.client(
        "s3", config=Config(connect_timeout=10, read_timeout=60, retries={"mode": "standard", "max_attempts": 5})
    )


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"Source must be an s3:// URI, got {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


DIR_MODE = 0o755
FILE_MODE = 0o644


def readable(root: str) -> None:
    """Every directory 0755 and file 0644 under root (root too), whatever the umask was.

    The serving functions read as another user (READER_UID through their access point); files
    created by download_file, extractall and makedirs get the process umask's modes, so under a
    strict umask (0077) the copy would be complete and unreadable.
    """
    os.chmod(root, DIR_MODE)
    for parent, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(parent, name), DIR_MODE)
        for name in files:
            os.chmod(os.path.join(parent, name), FILE_MODE)


def sync(source: str, version: str, mount: str, s3=None) -> str:
    """Copy `source` into mount/<version>/ (mount is the workload's own directory)."""
    s3 = s3 or _s3()
    os.makedirs(mount, mode=DIR_MODE, exist_ok=True)
    os.chmod(mount, DIR_MODE)
    final = os.path.join(mount, version)
    if os.path.exists(os.path.join(final, MARKER)):
        # Also repairs a version copied by an earlier release under a strict umask.
        readable(final)
        return final
    bucket, key = _split(source)
    staging = tempfile.mkdtemp(prefix=f".{version}.", dir=mount)
    try:
        if key.endswith(".zip"):
            archive = os.path.join(staging, ".weights.zip")
            s3.download_file(bucket, key, archive)
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(staging)
            os.remove(archive)
        else:
            prefix = key if key.endswith("/") or not key else key + "/"
            count = 0
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    rel = obj["Key"][len(prefix) :]
                    if not rel or rel.endswith("/"):
                        continue
                    dest = os.path.join(staging, rel)
                    if not os.path.realpath(dest).startswith(os.path.realpath(staging) + os.sep):
                        raise ValueError(f"object key {obj['Key']!r} escapes the weights directory")
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    s3.download_file(bucket, obj["Key"], dest)
                    count += 1
            if count == 0:
                raise ValueError(f"no objects under {source}: refusing to publish an empty weights version")
        with open(os.path.join(staging, MARKER), "w") as fh:
            fh.write(source + "\n")
        readable(staging)
        if os.path.exists(final):  # an incomplete earlier attempt
            shutil.rmtree(final)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def prune(mount: str, keep: set[str]) -> list[str]:
    removed = []
    for name in sorted(os.listdir(mount)):
        if name not in keep and not name.startswith("."):
            shutil.rmtree(os.path.join(mount, name), ignore_errors=True)
            removed.append(name)
    return removed


def remove_stale_staging(mount: str) -> list[str]:
    """Staging directories (.<version>.<random>) of copies Lambda killed at its timeout: the
    handler's own cleanup never ran. CloudFormation runs one request per resource at a time, so
    none of them is in use once this run's copy is in place."""
    stale = [n for n in sorted(os.listdir(mount)) if n.startswith(".") and os.path.isdir(os.path.join(mount, n))]
    for name in stale:
        shutil.rmtree(os.path.join(mount, name), ignore_errors=True)
    return stale


def on_event(event, context=None):
    props = event["ResourceProperties"]
    version = props["Version"]
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", version)}  # keep weights: cheap, and safe
    workload = props["Workload"]
    if not workload or "/" in workload or workload.startswith("."):
        raise ValueError(f"invalid workload name {workload!r}")
    directory = os.path.join(MOUNT, workload)
    sync(props["Source"], version, directory)
    remove_stale_staging(directory)
    if event["RequestType"] == "Update":
        prune(directory, {version, event.get("PhysicalResourceId", version)})
    return {"PhysicalResourceId": version, "Data": {"Directory": version}}
