"""`switchyard snapshot`: reviewed snapshots of everything the profiles produce, checked in CI.

For a profiles directory, `profiles/__snapshots__/` holds one normalized file per workload and
output, plus the shared ones:

    <name>.plan.json                  the decision: target, rules with their numbers, costs, sizing
    <name>.cloudformation.json        serverless: the workload's CloudFormation template
    <name>.kubernetes.yaml            kubernetes: the workload's objects
    _platform.cloudformation.json     the platform stack shared by the serverless workloads
    _cluster-addons.kubernetes.yaml   the cluster add-ons (Helm releases and their values)

and `plan.lock.json` beside the profiles is the reviewed plan. `--check` (the default) produces
everything afresh and compares: a difference prints a unified diff and the update command and
exits 6. `--update` rewrites the folder whole (new workloads get files, removed or moved ones
lose theirs) and the lock, for review in the pull request.

Normalized: content hashes (asset hashes, image tags from the build context) are replaced by
placeholders, so editing model code changes the build context, not the infrastructure snapshot.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from stacks.commands import lock
from stacks.commands.outputs import cluster_settings, produce, staged, swap
from stacks.commands.plan import to_json
from stacks.commands.report import exit_code, print_failures, print_no_profiles
from stacks.errors import SwitchyardError
from stacks.k8s.naming import PLAN_LABEL
from stacks.profile.loader import load_settings
from stacks.targets.serverless.installation import platform_stack, workload_stack
from stacks.workloads import buildable, load_all

SNAPSHOT_DIR = "__snapshots__"
SNAPSHOTS_CHANGED = 6  # ExitCode.SNAPSHOTS_CHANGED, without importing the CLI
DIFF_LINES_PER_FILE = 80
PLATFORM = "_platform.cloudformation.json"
ADDONS = "_cluster-addons.kubernetes.yaml"

ASSET_HASH = re.compile(r"[0-9a-f]{64}")
VERSION_ID = re.compile(r"(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}")
IMAGE_TAG = re.compile(r"(/[a-z0-9-]+):[0-9a-f]{16}$")
PLAN_REVISION = PLAN_LABEL  # a label, annotation and AWS tag holding the plan's hash


def _plan_revision_out(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("Key") == PLAN_REVISION and "Value" in node:
            return {**node, "Value": "PLANREVISION"}
        return {k: ("PLANREVISION" if k == PLAN_REVISION else _plan_revision_out(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_plan_revision_out(v) for v in node]
    return node


def normalised_template(template: dict[str, Any]) -> dict[str, Any]:
    """Asset hashes, version-hash logical IDs and the plan-revision tag out, so a code edit or a
    changed plan does not churn snapshots (the plan snapshot shows what changed)."""
    text = json.dumps(_plan_revision_out(template), indent=1, sort_keys=True)
    text = VERSION_ID.sub(r"\1VERSIONHASH", text)
    return json.loads(ASSET_HASH.sub("ASSETHASH", text))


def normalised_objects(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Image tags (the build context's hash) and plan revisions (the plan's hash) out, so a code or
    price edit does not churn them: the plan snapshot shows what changed."""

    def walk(v: Any, key: str | None = None) -> Any:
        if key == PLAN_REVISION:
            return "PLANREVISION"
        if isinstance(v, dict):
            return {k: walk(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            return IMAGE_TAG.sub(r"\1:CONTEXTHASH", v)
        return v

    return walk(docs)


def _json(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n"


def _yaml(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=True, default_flow_style=False, width=100)


def _plan(w) -> dict[str, Any]:
    doc = to_json(w)
    doc.pop("file")  # where the checkout is: not part of the plan
    return doc


def render_snapshots(profiles_dir: Path, *, pulumi_stack: str | None = None) -> tuple[dict[str, str], str, Any]:
    """Every snapshot file's text, the lock text, and the batch. Raises nothing for bad profiles:
    the caller reports batch.failures."""
    batch = buildable(load_all([profiles_dir]))
    if batch.failures or not batch.workloads:
        return {}, "", batch
    files: dict[str, str] = {f"{w.name}.plan.json": _json(_plan(w)) for w in batch.workloads}
    settings, secrets = cluster_settings(pulumi_stack)
    with tempfile.TemporaryDirectory(prefix="switchyard-snapshot-") as tmp:
        produced = produce(
            batch,
            profiles_dir=profiles_dir,
            cdk_out=Path(tmp) / "cdk.out",
            build_root=Path(tmp) / "build",
            cluster_settings=settings,
            secrets=secrets,
            # The snapshots are the templates; CDK's warn-only template validation (~6 s of CPU on the
            # examples) is `synth`'s and `cdk synth`'s to show. cdk-nag still fails a bad template here.
            template_validation=False,
        )
        if produced.cdk_out is not None:
            installation = load_settings(profiles_dir).platform.installation
            stacks = [(PLATFORM, platform_stack(installation))]
            stacks += [
                (f"{w.name}.cloudformation.json", workload_stack(w.name, installation))
                for w in batch.by_target("serverless")
            ]
            for file, stack in stacks:
                template = json.loads((produced.cdk_out / f"{stack}.template.json").read_text(encoding="utf-8"))
                files[file] = _json(normalised_template(template))
    for name, docs in produced.k8s_objects.items():
        file = ADDONS if name == "cluster-addons" else f"{name}.kubernetes.yaml"
        files[file] = _yaml(normalised_objects(docs))
    return files, lock.render(batch.workloads), batch


def _committed(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            out[path.name] = path.read_text(encoding="utf-8", errors="replace")
    return out


def _diff(name: str, old: str, new: str, folder: Path) -> list[str]:
    lines = list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), f"{folder / name} (reviewed)", f"{folder / name} (now)", lineterm=""
        )
    )
    if len(lines) > DIFF_LINES_PER_FILE:
        lines = [*lines[:DIFF_LINES_PER_FILE], f"... {len(lines) - DIFF_LINES_PER_FILE} more diff lines"]
    return lines


def run(paths: list[Path], *, update: bool, pulumi_stack: str | None = None) -> int:
    if len(paths) > 1 or (paths and not paths[0].is_dir()):
        raise SwitchyardError(
            "snapshot takes one profiles directory (snapshots cover every workload in it): "
            f"got {', '.join(map(str, paths))}"
        )
    profiles_dir = paths[0] if paths else Path("profiles")
    folder = profiles_dir / SNAPSHOT_DIR
    lock_file = profiles_dir / lock.LOCK_FILE
    files, lock_text, batch = render_snapshots(profiles_dir, pulumi_stack=pulumi_stack)
    if batch.failures or not batch.workloads:
        print_failures(batch.failures)
        print_no_profiles(batch, [profiles_dir])
        if batch.failures:
            print(f"error: snapshots not {'written' if update else 'checked'}: fix the profiles first", file=sys.stderr)
        return exit_code(batch)

    committed = _committed(folder)
    added = sorted(set(files) - set(committed))
    removed = sorted(set(committed) - set(files))
    changed = sorted(n for n in set(files) & set(committed) if files[n] != committed[n])
    old_lock = lock_file.read_text(encoding="utf-8", errors="replace") if lock_file.is_file() else None
    lock_changed = old_lock != lock_text

    if update:
        with staged(folder) as (stage,):
            for name, text in sorted(files.items()):
                (stage / name).write_text(text, encoding="utf-8")
            swap(stage, folder)
        if lock_changed:
            lock.write(lock_file, batch.workloads)
        summary = f"{len(added)} added, {len(removed)} removed, {len(changed)} changed"
        print(f"wrote {folder}/ ({len(files)} files: {summary}){' and ' + str(lock_file) if lock_changed else ''}")
        if added or removed or changed or lock_changed:
            print(f"review the diff, then commit: git add {folder} {lock_file}")
        return 0

    out: list[str] = []
    for name in changed:
        out += _diff(name, committed[name], files[name], folder)
    for name in added:
        out.append(f"new: {folder / name} (no reviewed snapshot yet)")
    for name in removed:
        out.append(f"stale: {folder / name} (its workload was removed or moved to the other target)")
    if lock_changed:
        out.append(
            f"{lock_file}: "
            + ("missing" if old_lock is None else "differs from the plan (`switchyard plan` lists how)")
        )
    if not out:
        print(f"ok: {len(files)} snapshots in {folder}/ and {lock_file} match the profiles")
        return 0
    print("\n".join(out))
    count = len(added) + len(removed) + len(changed) + int(lock_changed)
    print(
        f"error: {count} snapshot(s) differ from what the profiles in {profiles_dir} produce. "
        f"If the change is intended, run `switchyard snapshot --update {profiles_dir}`, review and commit "
        f"{folder}/ and {lock_file}",
        file=sys.stderr,
    )
    return SNAPSHOTS_CHANGED
