"""The init container that fills the shared model cache: one complete copy per weights version.

Every replica runs it, possibly many at once on a ReadWriteMany volume, and not always of one
version (a rollout superseded mid-way starts pods of two new versions beside the running one). The
first to create `.tmp-copy` (mkdir is atomic, on CephFS and NFS too) copies its version into it and
renames the copy into place; every other replica waits, whatever its version, so the cache holds at
most one copy in progress. A copy nothing has written to for STALE_MINUTES belongs to a killed
replica (kill -9, node loss): a waiting one removes it, then makes room and copies in its place.

The cache is bounded: before a copy and after it, only the version being fetched and the newest
other complete version are kept (KEEP_VERSIONS; "newest" is the last one a pod started on), so an
update needs room for the version pods run now plus the new one, which is what the claim holds
(platform.model_cache_copies >= 2: 2.2 by default). A version is renamed to a temporary directory
before it is removed, so a removal killed part-way never leaves a half version under its name
(one left by an older script is moved aside and fetched again).
"""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s

from stacks.k8s.vendor import AWS_CLI_IMAGE
from stacks.packaging import K8S_WEIGHTS_DIR

MARKER = ".switchyard-complete"
RUNTIME_CACHE = ".runtime"  # HF / vLLM / compile caches, written by the server (a subPath of the volume)
STALE_MINUTES = 30
KEEP_VERSIONS = 2  # the version pods run now and the one being rolled out

FETCH_SCRIPT = f"""set -eu
dest="$CACHE/$VERSION"
lock="$CACHE/.tmp-copy"  # one copy at a time on the cache, of any version
stale="${{STALE_MINUTES:-{STALE_MINUTES}}}"
mkdir -p "$CACHE/{RUNTIME_CACHE}"
quiet_for_stale() {{ [ -z "$(find "$1" -mmin -"$stale" -print 2>/dev/null | head -n 1)" ]; }}
collect() {{
  # A temporary directory nothing wrote to for $stale minutes belongs to a killed copy or removal
  # (the lock too: the holder has just written its owner file, so its own is never quiet).
  for d in "$CACHE"/.tmp-*; do
    [ -d "$d" ] || continue
    if quiet_for_stale "$d"; then rm -rf "$d" && echo "removed stale $d"; fi
  done
  # Complete versions, most recently used first: keep ours and the newest others up to KEEP_VERSIONS.
  kept=1
  for m in $(ls -1t "$CACHE"/*/{MARKER} 2>/dev/null); do
    v="$(dirname "$m")"
    [ "$v" = "$dest" ] && continue
    if [ "$kept" -lt "${{KEEP_VERSIONS:-{KEEP_VERSIONS}}}" ]; then kept=$((kept + 1)); continue; fi
    # Renamed first: a removal killed part-way leaves a temporary directory, never a half version.
    gone="$CACHE/.tmp-gc-$(basename "$v")-$HOSTNAME"
    if mv -T "$v" "$gone" 2>/dev/null; then rm -rf "$gone" && echo "removed old version $(basename "$v")"; fi
  done
}}
if [ -d "$dest" ] && [ ! -f "$dest/{MARKER}" ]; then
  # No marker: what a removal killed part-way left. It never completes, so move it out of the
  # way (a complete copy another replica put in place meanwhile is put back).
  junk="$CACHE/.tmp-junk-$VERSION-$HOSTNAME"
  rm -rf "$junk"
  if mv -T "$dest" "$junk" 2>/dev/null; then
    if [ -f "$junk/{MARKER}" ]; then mv -T "$junk" "$dest" 2>/dev/null || true; fi
    rm -rf "$junk" && echo "removed incomplete $dest"
  fi
fi
mine() {{ [ "$(cat "$lock/owner" 2>/dev/null)" = "$HOSTNAME $VERSION" ]; }}
held() {{ cut -d' ' -f2 "$lock/owner" 2>/dev/null || echo unknown; }}
while [ ! -f "$dest/{MARKER}" ]; do
  # The lock is ours when we create it, or when our own killed attempt (same pod) left it.
  if mkdir "$lock" 2>/dev/null || mine; then
    echo "$HOSTNAME $VERSION" > "$lock/owner"
    collect  # room for the copy: the version pods run now stays, older ones go first
    rm -rf "$lock/data"
    mkdir "$lock/data"
    aws s3 sync "$SOURCE" "$lock/data" --only-show-errors --no-progress || {{ mine && rm -rf "$lock"; exit 1; }}
    if [ -z "$(ls -A "$lock/data")" ]; then echo "no weights at $SOURCE" >&2; mine && rm -rf "$lock"; exit 1; fi
    # Taken over while stalled (nothing written for $stale minutes): the other replica's copy stands.
    mine || {{ echo "copy of $VERSION taken over by another replica" >&2; exit 1; }}
    echo "$SOURCE" > "$lock/data/{MARKER}"
    mv -T "$lock/data" "$dest"
    rm -rf "$lock"
    echo "weights $VERSION cached"
  elif quiet_for_stale "$lock"; then
    # The replica copying was killed: its half copy goes before anything else is copied.
    what="$(held)"
    dead="$CACHE/.tmp-dead-$HOSTNAME"
    if mv -T "$lock" "$dead" 2>/dev/null; then rm -rf "$dead" && echo "removed a killed copy of $what"; fi
  else
    echo "another replica is copying weights $(held): waiting"
    sleep "${{WAIT_SECONDS:-5}}"
  fi
done
touch "$dest/{MARKER}"  # in use: the newest version is kept by every collection
collect
"""


def fetch_container(
    *,
    source: str,
    version: str,
    credentials_secret: str | None,
    endpoint_url: str | None,
    region: str,
    security_context: Any,
    image: str = AWS_CLI_IMAGE,
) -> k8s.core.v1.ContainerArgs:
    env = [
        k8s.core.v1.EnvVarArgs(name="SOURCE", value=source),
        k8s.core.v1.EnvVarArgs(name="VERSION", value=version),
        k8s.core.v1.EnvVarArgs(name="CACHE", value=K8S_WEIGHTS_DIR),
        k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
        k8s.core.v1.EnvVarArgs(name="AWS_REGION", value=region),
        k8s.core.v1.EnvVarArgs(name="AWS_DEFAULT_REGION", value=region),
    ]
    if endpoint_url:
        env.append(k8s.core.v1.EnvVarArgs(name="AWS_ENDPOINT_URL", value=endpoint_url))
    return k8s.core.v1.ContainerArgs(
        name="fetch-weights",
        image=image,
        command=["/bin/sh", "-c", FETCH_SCRIPT],
        env=env,
        # The Secret the program creates from the stack's secret config, before the Deployment.
        env_from=[k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=credentials_secret))]
        if credentials_secret
        else None,
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "500m", "memory": "512Mi"}, limits={"cpu": "2", "memory": "1Gi"}
        ),
        security_context=security_context,
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="model-cache", mount_path=K8S_WEIGHTS_DIR),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
    )
