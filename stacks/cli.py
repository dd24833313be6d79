"""`switchyard` command line: parsing only; the work lives in stacks/commands/."""

from __future__ import annotations

import argparse
import os
import sys
from enum import IntEnum
from pathlib import Path

from stacks import __version__
from stacks.errors import SwitchyardError


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a user-fixable error without a more specific code
    INVALID_PROFILE = 2  # a profile or platform file failed validation
    IMPOSSIBLE_TARGET = 3  # an explicit target violates a hard limit
    RENDER_FAILED = 4  # packaging could not be rendered
    PLAN_CHANGED = 5  # `plan --check`: the plan differs from the committed lock
    SNAPSHOTS_CHANGED = 6  # `snapshot --check`: outputs differ from the reviewed snapshots
    USAGE = 64  # bad command line (sysexits EX_USAGE)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would exit 2, which means "invalid profile" here
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")


def _paths(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PROFILE|DIR",
        help="profile files or directories of them (default: profiles/)",
    )


def _add_plan(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="decide each workload's target and explain it with numbers")
    _paths(p)
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("--write-lock", action="store_true", help="record this plan in the lock file (review it, commit it)")
    p.add_argument("--check", action="store_true", help="exit 5 when the plan differs from the lock (for CI)")
    p.add_argument("--lock", type=Path, help="lock file (default: plan.lock.json beside the profiles)")
    p.add_argument(
        "--chart",
        type=Path,
        metavar="DIR",
        help="write one image per workload to DIR: monthly cost of both targets against traffic (needs matplotlib)",
    )
    p.add_argument("--chart-format", choices=["png", "svg"], default="png", help="image format (default: png)")
    p.add_argument(
        "--width",
        type=_columns,
        metavar="COLUMNS",
        help="wrap the report at COLUMNS (0: never); default: the terminal's width, no wrapping when not a terminal",
    )
    p.set_defaults(func=_cmd_plan)


def _columns(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of columns (0: no wrapping, or 40 and more)"
        ) from None
    from stacks.commands.wrap import MIN_WIDTH

    if value != 0 and value < MIN_WIDTH:
        raise argparse.ArgumentTypeError(
            f"{value} columns is too narrow to read (0: no wrapping, or {MIN_WIDTH} and more)"
        )
    return value


def _cmd_plan(args: argparse.Namespace) -> int:
    from stacks.commands.plan import run

    return run(
        args.paths,
        as_json=args.json,
        write_lock=args.write_lock,
        check=args.check,
        lock_file=args.lock,
        chart_dir=args.chart,
        chart_format=args.chart_format,
        width=args.width,
    )


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="the main job: decide, package and synthesize every workload")
    _paths(p)
    p.add_argument("--cdk-out", type=Path, default=Path("cdk.out"), help="CDK cloud assembly (default: cdk.out/)")
    p.add_argument("--k8s-out", type=Path, default=Path("k8s.out"), help="Kubernetes objects (default: k8s.out/)")
    p.add_argument("--build", type=Path, default=Path("build"), help="build contexts (default: build/)")
    p.add_argument(
        "--pulumi-stack",
        metavar="STACK",
        help="read cluster settings from Pulumi.STACK.yaml (default: built-in defaults)",
    )
    p.set_defaults(func=_cmd_synth)


def _cmd_synth(args: argparse.Namespace) -> int:
    from stacks.commands.synth import run

    return run(
        args.paths, cdk_out=args.cdk_out, k8s_out=args.k8s_out, build_root=args.build, pulumi_stack=args.pulumi_stack
    )


def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check profiles and report every problem with file:line")
    _paths(p)
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    from stacks.commands.validate import run

    return run(args.paths)


def _add_schema(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="write the profile JSON Schema (profiles/schema.json)")
    p.add_argument("--output", type=Path, default=Path("profiles/schema.json"), help="where to write it; - for stdout")
    p.set_defaults(func=_cmd_schema)


def _cmd_schema(args: argparse.Namespace) -> int:
    from stacks.commands.schema import run

    return run(args.output)


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render", help="write each workload's build context (Dockerfile, inference code) to build/<name>/"
    )
    _paths(p)
    p.add_argument(
        "--target", choices=["serverless", "kubernetes"], help="render for this target instead of the decided one"
    )
    p.add_argument("--out", type=Path, default=Path("build"), help="output root (default: build/)")
    p.set_defaults(func=_cmd_render)


def _cmd_render(args: argparse.Namespace) -> int:
    from stacks.commands.render import run

    return run(args.paths, target=args.target, out=args.out)


def _add_snapshot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "snapshot",
        help="check (default) or --update the reviewed snapshots of every output (DIR/__snapshots__, plan lock)",
    )
    p.add_argument("paths", nargs="*", type=Path, metavar="DIR", help="the profiles directory (default: profiles/)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 6 with a diff when outputs differ (the default)")
    mode.add_argument("--update", action="store_true", help="rewrite the snapshots and the plan lock for review")
    p.add_argument("--pulumi-stack", metavar="STACK", help="cluster settings from Pulumi.STACK.yaml")
    p.set_defaults(func=_cmd_snapshot)


def _cmd_snapshot(args: argparse.Namespace) -> int:
    from stacks.commands.snapshot import run

    return run(args.paths, update=args.update, pulumi_stack=args.pulumi_stack)


def use_pinned_node() -> None:
    """Put the project's pinned Node.js (package.json -> node_modules/.bin) first on PATH.

    aws-cdk-lib runs on Node.js through jsii; the system's node may be missing or past its end of
    life (jsii then prints a banner). Looked up from the working directory (a user's checkout)
    and from this package's checkout, so `.venv/bin/switchyard` works without `make`.
    """
    path = os.environ.get("PATH", "")
    for root in (Path.cwd(), Path(__file__).resolve().parent.parent):
        bin_dir = root / "node_modules" / ".bin"
        if (bin_dir / "node").exists():
            if str(bin_dir) not in path.split(os.pathsep):
                os.environ["PATH"] = f"{bin_dir}{os.pathsep}{path}"
            return


def _add_publish(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "publish", help="build and push the Kubernetes images and upload local weights, as the Pulumi program expects"
    )
    _paths(p)
    p.add_argument("--pulumi-stack", metavar="STACK", help="registry and weights store from Pulumi.STACK.yaml")
    p.add_argument(
        "--builder", choices=["auto", "docker", "podman"], default="auto", help="default: whichever is present"
    )
    p.add_argument("--build", type=Path, default=Path("build"), help="build contexts (default: build/)")
    p.add_argument("--dry-run", action="store_true", help="print the exact commands, run nothing")
    p.add_argument(
        "--copier",
        choices=["auto", "crane", "skopeo", "docker"],
        default="auto",
        help="copies images to imageMirror (default: the first of crane, skopeo, docker buildx imagetools present)",
    )
    p.set_defaults(func=_cmd_publish)


def _cmd_publish(args: argparse.Namespace) -> int:
    from stacks.commands.publish import run

    return run(
        args.paths,
        pulumi_stack=args.pulumi_stack,
        build_root=args.build,
        builder=args.builder,
        dry_run=args.dry_run,
        copier=args.copier,
    )


def _add_doctor(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor", help="check the tools, credentials, cluster and quotas deploying the profiles' targets needs"
    )
    _paths(p)
    p.add_argument("--pulumi-stack", metavar="STACK", help="kube context and minimum version from Pulumi.STACK.yaml")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(func=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from stacks.commands.doctor import run

    return run(args.paths, pulumi_stack=args.pulumi_stack, as_json=args.json)


def _deployed_outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cdk-outputs",
        type=Path,
        action="append",
        metavar="FILE",
        help="what `cdk deploy --outputs-file FILE` wrote (default: cdk-outputs.json when it exists); "
        "each deploy writes only its own stacks: repeat for several files, later ones win",
    )
    p.add_argument(
        "--pulumi-outputs",
        type=Path,
        metavar="FILE",
        help="`pulumi stack output --json` saved to FILE (default: ask the pulumi CLI when it is installed)",
    )
    p.add_argument("--pulumi-stack", metavar="STACK", help="the Pulumi stack (its settings, and its outputs)")


def _add_outputs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("outputs", help="each workload's endpoint, auth, queue and result location, deployed or planned")
    _paths(p)
    _deployed_outputs(p)
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(func=_cmd_outputs)


def _cmd_outputs(args: argparse.Namespace) -> int:
    from stacks.commands.endpoints import run

    return run(
        args.paths,
        cdk_outputs=args.cdk_outputs,
        pulumi_outputs=args.pulumi_outputs,
        pulumi_stack=args.pulumi_stack,
        as_json=args.json,
    )


def _add_smoke(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "smoke",
        help="send one request and one queued message to a deployed workload and check the answers",
        description="API key from SWITCHYARD_API_KEY (Kubernetes sync); Redis password from "
        "SWITCHYARD_REDIS_PASSWORD (Kubernetes async); AWS credentials as the aws CLI finds them.",
    )
    p.add_argument("workload", help="the workload's name")
    _paths(p)
    _deployed_outputs(p)
    p.add_argument("--input", dest="input_json", metavar="JSON", help="one input the model accepts, as JSON")
    p.add_argument("--url", help="call this base URL instead of the output's (e.g. a kubectl port-forward)")
    p.add_argument("--redis-url", help="reach the queue here instead of its in-cluster address (port-forward)")
    p.add_argument("--only", choices=["sync", "async"], help="test one interface of a `mode: both` workload")
    p.add_argument(
        "--timeout",
        type=_positive,
        metavar="SECONDS",
        help="how long to wait for each answer (default: the SLA's timeout + 10 s, + 120 s for a queue)",
    )
    p.set_defaults(func=_cmd_smoke)


def _cmd_smoke(args: argparse.Namespace) -> int:
    from stacks.commands.smoke import run

    return run(
        args.workload,
        args.paths,
        input_json=args.input_json,
        cdk_outputs=args.cdk_outputs,
        pulumi_outputs=args.pulumi_outputs,
        pulumi_stack=args.pulumi_stack,
        url=args.url,
        redis_url=args.redis_url,
        only=args.only,
        timeout_s=args.timeout,
    )


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number > 0")
    return value


def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="replay traffic against each target's scaling: cold starts, p99, refusals, queue age, cost from use",
    )
    _paths(p)
    p.add_argument(
        "--trace", type=Path, metavar="FILE", help="CSV of arrivals (TIMESTAMP column) instead of the profile's shape"
    )
    p.add_argument(
        "--target",
        choices=["auto", "serverless", "kubernetes", "all"],
        default="auto",
        help="auto: the decided target (default); all: both",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("--chart", type=Path, metavar="DIR", help="write load, capacity and latency over time to DIR")
    p.add_argument("--chart-format", choices=["png", "svg"], default="png", help="image format (default: png)")
    p.add_argument("--seed", type=int, default=0, help="seed of the burst model and service times (default: 0)")
    p.add_argument(
        "--window",
        choices=["day", "burst"],
        default="day",
        help="day: whole days of the profile's shape (default); burst: the one burst `switchyard plan` simulates",
    )
    p.add_argument(
        "--hours",
        type=_positive,
        help="simulate this many hours (default: whole days); a month repeats the span",
    )
    p.add_argument("--speed", type=_positive, help="replay the trace this many times faster (default: 1)")
    p.add_argument(
        "--service",
        choices=["fixed", "exponential"],
        default="fixed",
        help="service times: the profile's inference_ms each (default) or exponential with that mean",
    )
    cost = p.add_mutually_exclusive_group()
    cost.add_argument(
        "--inference-ms-column", metavar="COL", help="trace column with each request's inference time, ms"
    )
    cost.add_argument(
        "--inference-scale-column",
        metavar="COL",
        help="trace column each request's inference time is proportional to (e.g. GeneratedTokens); mean = inference_ms",
    )
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from stacks.commands.simulate import Options, run

    column = "--inference-ms-column" if args.inference_ms_column else "--inference-scale-column"
    if (args.inference_ms_column or args.inference_scale_column) and args.trace is None:
        raise SwitchyardError("--inference-ms-column and --inference-scale-column read a trace: add --trace FILE")
    if args.speed is not None and args.trace is None:
        raise SwitchyardError("--speed replays a trace faster: add --trace FILE (the profile's shape has no speed)")
    if (args.inference_ms_column or args.inference_scale_column) and args.service != "fixed":
        raise SwitchyardError(
            f"--service {args.service} draws service times; {column} takes them from the trace: use one of them"
        )
    options = Options(
        seed=args.seed,
        hours=args.hours,
        trace=args.trace,
        speed=args.speed or 1.0,
        inference_ms_column=args.inference_ms_column,
        inference_scale_column=args.inference_scale_column,
        service=args.service,
        window=args.window,
    )
    return run(
        args.paths,
        target=args.target,
        as_json=args.json,
        chart_dir=args.chart,
        chart_format=args.chart_format,
        options=options,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="switchyard", description="Decide, package and synthesize ML inference workloads.")
    parser.add_argument("--version", action="version", version=f"switchyard {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (
        _add_synth,
        _add_plan,
        _add_simulate,
        _add_validate,
        _add_snapshot,
        _add_render,
        _add_schema,
        _add_publish,
        _add_doctor,
        _add_outputs,
        _add_smoke,
    ):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_pinned_node()
    try:
        return int(args.func(args))
    except SwitchyardError as exc:  # the tool's own errors: no traceback. Bugs still raise.
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `switchyard plan | head`: the reader left, so the rest goes nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
