"""`switchyard synth`: the main job. Validate, decide, package, synthesize both targets, summarise."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from stacks.commands.report import exit_code, print_failures
from stacks.workloads import DEFAULT_PROFILES, load_all

CDK_OUT = Path("cdk.out")
K8S_OUT = Path("k8s.out")


class Progress:
    """One line per step on stderr, with its time: readable in a terminal and in CI logs."""

    def __init__(self, steps: int) -> None:
        self.steps, self.step, self.started = steps, 0, time.perf_counter()

    def __call__(self, text: str) -> None:
        self.step += 1
        print(
            f"[{self.step}/{self.steps}] {text} (+{time.perf_counter() - self.started:.1f}s)",
            file=sys.stderr,
            flush=True,
        )


def run(
    paths: list[Path],
    *,
    cdk_out: Path = CDK_OUT,
    k8s_out: Path = K8S_OUT,
    build_root: Path = Path("build"),
    pulumi_stack: str | None = None,
) -> int:
    paths = paths or [DEFAULT_PROFILES]
    progress = Progress(4)
    progress(f"validating and deciding profiles in {', '.join(map(str, paths))}")
    batch = load_all(paths)
    serverless, kubernetes = batch.by_target("serverless"), batch.by_target("kubernetes")
    outputs: dict[str, str] = {}

    progress(f"synthesizing the CDK app ({len(serverless)} serverless workload(s)) into {cdk_out}/")
    if serverless:
        from stacks.aws.app import build_app
        from stacks.aws.workload import stack_name

        profiles_dir = paths[0] if paths[0].is_dir() else paths[0].parent
        build_app(batch, profiles_dir=profiles_dir, outdir=str(cdk_out), build_root=build_root).synth()
        for w in serverless:
            outputs[w.name] = f"{cdk_out}/{stack_name(w.name)}.template.json, {build_root}/{w.name}/"

    progress(f"running the Pulumi program under mocks ({len(kubernetes)} kubernetes workload(s)) into {k8s_out}/")
    if kubernetes:
        from stacks.k8s import mocks
        from stacks.k8s.settings import ClusterSettings, from_stack_file, secrets_from_stack_file

        settings = from_stack_file(f"Pulumi.{pulumi_stack}.yaml") if pulumi_stack else ClusterSettings()
        secrets = secrets_from_stack_file(f"Pulumi.{pulumi_stack}.yaml") if pulumi_stack else None
        resources = mocks.run(batch, settings, build_root, secrets)
        for path in mocks.write(mocks.by_workload(resources, [w.name for w in kubernetes]), k8s_out):
            if path.stem in {w.name for w in kubernetes}:
                outputs[path.stem] = f"{path}, {build_root}/{path.stem}/"

    progress("done")
    rows = [("WORKLOAD", "TARGET", "COST/MONTH", "OUTPUT")]
    for w in batch.workloads:
        cost = w.decision.chosen_cost.total
        rows.append((w.name, w.target.value, f"${cost:,.2f}", outputs.get(w.name, "-")))
    for f in batch.failures:
        rows.append((f.file.stem, "FAILED", "-", str(f.file)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(widths[i]) if i < 3 else c for i, c in enumerate(r)).rstrip())
    if kubernetes:
        print(f"\nkubernetes: review {k8s_out}/, then `pulumi up` (Pulumi.yaml runs the same program)")
    if serverless:
        names = " ".join(f"Switchyard-{w.name}" for w in serverless)
        print(f"serverless: `npx cdk deploy Switchyard-Platform {names}` (cdk.json runs the same app)")
    print_failures(batch.failures)
    if not batch.workloads and not batch.failures:
        print(f"error: no profiles (*.yaml) found in {', '.join(map(str, paths))}", file=sys.stderr)
    return exit_code(batch)
