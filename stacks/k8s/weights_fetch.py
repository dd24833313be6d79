"""The init container that fills the shared model cache: one complete copy per weights version.

Every replica runs it, possibly many at once on a ReadWriteMany volume. Each copies into its own
temporary directory and renames it into place; the rename is atomic and fails when another
replica won, so a version directory is always complete (it holds the marker) and nobody ever
serves a partial copy. Afterwards it removes what nobody needs: temporary directories nothing
has written to for STALE_MINUTES (a killed copy) and complete versions beyond the newest KEEP
(the previous one stays for pods of the rollout still running it). A version is renamed to a
temporary directory before it is removed, so a removal killed part-way never leaves a half
version under its name (one left by an older script is moved aside and fetched again).
"""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s

from stacks.k8s.vendor import AWS_CLI_IMAGE
from stacks.packaging import K8S_WEIGHTS_DIR

MARKER = ".switchyard-complete"
RUNTIME_CACHE = ".runtime"  # HF / vLLM / compile caches, written by the server (a subPath of the volume)
STALE_MINUTES = 30
KEEP_VERSIONS = 2

FETCH_SCRIPT = f"""set -eu
dest="$CACHE/$VERSION"
tmp="$CACHE/.tmp-$VERSION-$HOSTNAME"
mkdir -p "$CACHE/{RUNTIME_CACHE}"
if [ -f "$dest/{MARKER}" ]; then
  echo "weights $VERSION already cached"
  touch "$dest/{MARKER}"  # in use: the newest version is kept by every collection
else
  if [ -d "$dest" ]; then
    # No marker: what a removal killed part-way left. It never completes, so move it out of the
    # way (a complete copy another replica put in place meanwhile is put back).
    junk="$tmp-junk"
    rm -rf "$junk"
    if mv -T "$dest" "$junk" 2>/dev/null; then
      if [ -f "$junk/{MARKER}" ]; then mv -T "$junk" "$dest" 2>/dev/null || true; fi
      rm -rf "$junk" && echo "removed incomplete $dest"
    fi
  fi
  rm -rf "$tmp"
  mkdir -p "$tmp"
  aws s3 sync "$SOURCE" "$tmp" --only-show-errors --no-progress
  if [ -z "$(ls -A "$tmp")" ]; then echo "no weights at $SOURCE" >&2; rm -rf "$tmp"; exit 1; fi
  echo "$SOURCE" > "$tmp/{MARKER}"
  # Atomic: fails when another replica's complete copy is already in place; then ours is dropped.
  if mv -T "$tmp" "$dest" 2>/dev/null; then echo "weights $VERSION cached"; else rm -rf "$tmp"; fi
  test -f "$dest/{MARKER}"
fi
# A temporary directory nothing wrote to for STALE_MINUTES belongs to a killed copy.
for d in "$CACHE"/.tmp-*; do
  [ -d "$d" ] || continue
  if [ -z "$(find "$d" -mmin -"${{STALE_MINUTES:-{STALE_MINUTES}}}" -print 2>/dev/null | head -n 1)" ]; then
    rm -rf "$d" && echo "removed stale $d"
  fi
done
# Complete versions, newest first: keep ours and the newest others up to KEEP_VERSIONS.
kept=1
for m in $(ls -1t "$CACHE"/*/{MARKER} 2>/dev/null); do
  v="$(dirname "$m")"
  [ "$v" = "$dest" ] && continue
  if [ "$kept" -lt "${{KEEP_VERSIONS:-{KEEP_VERSIONS}}}" ]; then kept=$((kept + 1)); continue; fi
  # Renamed first: a removal killed part-way leaves a temporary directory, never a half version.
  gone="$CACHE/.tmp-gc-$(basename "$v")-$HOSTNAME"
  if mv -T "$v" "$gone" 2>/dev/null; then rm -rf "$gone" && echo "removed old version $(basename "$v")"; fi
done
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
