"""`switchyard synth`: the main job. Validate, decide, package, synthesize both targets, summarise."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from stacks.commands.endpoints_aws import stack_name as aws_stack
from stacks.commands.outputs import (
    check_outputs,
    cluster_settings,
    keep_others,
    produce,
    stacks_that_differ,
    staged,
    swap,
)
from stacks.commands.report import exit_code, print_failures
from stacks.targets.serverless.installation import platform_stack
from stacks.workloads import DEFAULT_PROFILES, buildable, load_all

CDK_OUT = Path("cdk.out")


def _next_step(k8s_out: Path, pulumi_stack: str | None, settings) -> str:
    """What to do with k8s.out/: deploy it only when it shows what `pulumi up` would create."""
    if pulumi_stack:
        return (
            f"\nkubernetes: review {k8s_out}/ (rendered from Pulumi.{pulumi_stack}.yaml), then "
            f"`pulumi up --stack {pulumi_stack}` (Pulumi.yaml runs the same program with the same settings)"
        )
    differ = stacks_that_differ(settings)
    if not differ:
        return f"\nkubernetes: review {k8s_out}/, then `pulumi up` (Pulumi.yaml runs the same program)"
    lines = [
        f"\nkubernetes: {k8s_out}/ was rendered from built-in cluster defaults, not from a Pulumi stack: "
        "it is not what `pulumi up` deploys there, so review the stack's own render first:"
    ]
    for stack, keys in differ.items():
        why = keys if isinstance(keys, str) else "differs in " + ", ".join(keys)
        lines.append(
            f"    Pulumi.{stack}.yaml {why}: `switchyard synth --pulumi-stack {stack}` (make synth STACK={stack})"
        )
    return "\n".join(lines)


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
    """Make cdk.out/, k8s.out/ and build/ match the profiles: each written whole or not at all.

    With whole directories as input, outputs of workloads that were removed or moved to the
    other target are removed too. With single files, the other workloads' outputs are kept.
    """
    paths = paths or [DEFAULT_PROFILES]
    complete = all(p.is_dir() for p in paths)
    progress = Progress(4)
    progress(f"validating and deciding profiles in {', '.join(map(str, paths))}")
    batch = buildable(load_all(paths))
    serverless, kubernetes = batch.by_target("serverless"), batch.by_target("kubernetes")
    serverless += batch.by_target("managed-instances")  # the CDK app builds both Lambda targets
    hybrid = batch.by_target("hybrid")
    outputs: dict[str, str] = {}
    written = not batch.failures and bool(batch.workloads)

    if written:
        check_outputs(
            {"--cdk-out": ("cdk", cdk_out), "--k8s-out": ("k8s", k8s_out), "--build": ("build", build_root)}, paths
        )
        settings, secrets = cluster_settings(pulumi_stack)
        profiles_dir = paths[0] if paths[0].is_dir() else paths[0].parent
        names = {w.name for w in batch.workloads}
        with staged(cdk_out, k8s_out, build_root) as (cdk_stage, k8s_stage, build_stage):
            produced = produce(
                batch,
                profiles_dir=profiles_dir,
                cdk_out=cdk_stage,
                build_root=build_stage,
                cluster_settings=settings,
                secrets=secrets,
                progress=progress,
                pulumi_stack=pulumi_stack,
            )
            from stacks.k8s import mocks  # pulumi: only when there is something to write

            mocks.write(produced.k8s_objects, k8s_stage)
            if not complete:
                keep_others(k8s_out, k8s_stage, names)
                keep_others(build_root, build_stage, names)
            # The previous cdk.out is one app's assembly: always replaced whole.
            for stage, final in ((cdk_stage, cdk_out), (k8s_stage, k8s_out), (build_stage, build_root)):
                swap(stage, final)
        for w in serverless:
            outputs[w.name] = f"{cdk_out}/{aws_stack(w)}.template.json, {build_root}/{w.name}/"
        for w in kubernetes:
            outputs[w.name] = f"{k8s_out}/{w.name}.yaml, {build_root}/{w.name}/"
        for w in hybrid:
            outputs[w.name] = f"{cdk_out}/{aws_stack(w)}.template.json, {k8s_out}/{w.name}.yaml, {build_root}/{w.name}/"
    else:
        progress("synthesizing the CDK app: skipped")
        progress("running the Pulumi program under mocks: skipped")

    progress("done" if written else "nothing written")
    rows = [("WORKLOAD", "TARGET", "COST/MONTH", "OUTPUT")]
    for w in batch.workloads:
        cost = w.decision.chosen.bill.total
        rows.append((w.name, w.target.value, f"${cost:,.2f}", outputs.get(w.name, "-")))
    for f in batch.failures:
        rows.append((f.file.stem, "FAILED", "-", str(f.file)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(widths[i]) if i < 3 else c for i, c in enumerate(r)).rstrip())
    if written and (kubernetes or hybrid):
        print(_next_step(k8s_out, pulumi_stack, settings))
    if written and (serverless or hybrid):
        installation = (serverless or hybrid)[0].settings.platform.installation  # platform-wide: one per app
        names_ = " ".join(aws_stack(w) for w in [*serverless, *hybrid])
        label = "/".join(sorted({w.target.value for w in [*serverless, *hybrid]}))
        print(f"{label}: `npx cdk deploy {platform_stack(installation)} {names_}` (cdk.json runs the same app)")
    if written and hybrid:
        print(
            "hybrid: deploy the CDK stacks first, then set each front's outputs and its IAM users' keys as stack "
            "config before `pulumi up`: switchyard:hybridFronts.<name>.{queueUrl,region,resultsBucket} and "
            "switchyard:hybridCredentials.<name>.* (secret); k8s.out/ shows placeholders naming each output"
        )
    print_failures(batch.failures)
    if batch.failures:
        print(
            f"error: nothing written: {cdk_out}/, {k8s_out}/ and {build_root}/ are unchanged until every profile "
            "is valid (outputs always match the profiles)",
            file=sys.stderr,
        )
    if not batch.workloads and not batch.failures:
        print(f"error: no profiles (*.yaml) found in {', '.join(map(str, paths))}", file=sys.stderr)
    return exit_code(batch)
