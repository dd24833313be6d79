"""No input crashes or stalls the loader: hostile files as regression tests, then a property test.

Each run goes through the real CLI entry point (`stacks.cli.main`) in-process, so a traceback
would fail the test, and every run is bounded in time and memory.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks import cli
from stacks.cli import ExitCode, main
from tests.conftest import MODEL, PROFILES, VALID

DOCUMENTED_EXITS = {int(c) for c in ExitCode}
SECONDS = 5.0
MEGABYTES = 150
# "error: FILE:LINE: PATH: message" or "FILE:LINE: message" for a document-level problem
PROBLEM_HEAD = re.compile(r"^(error: )?(?P<file>[^\s:]+\.ya?ml):(?P<line>\d+): ")


def _no_constants(name: str):
    raise ValueError(f"{name} in --json output")


def run_cli(*args: str) -> tuple[int, str, str, float, float]:
    out, err = io.StringIO(), io.StringIO()
    tracemalloc.start()
    # CPU time, not wall time: the bound is on the work an input causes, which other processes on a
    # busy machine (or the other xdist worker) must not be able to push over it; a hang is the timeout's.
    started = time.process_time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    elapsed = time.process_time() - started
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return code, out.getvalue(), err.getvalue(), elapsed, peak


def check_run(directory: Path) -> tuple[int, str]:
    """plan --json on a directory: the properties every input must keep."""
    code, out, err, elapsed, peak = run_cli("plan", "--json", str(directory))
    assert code in DOCUMENTED_EXITS, (code, err[-500:])
    assert elapsed < SECONDS, f"{elapsed:.1f} s"
    assert peak < MEGABYTES, f"{peak:.0f} MB"
    assert "Traceback" not in err
    doc = json.loads(out, parse_constant=_no_constants)  # valid JSON, never NaN or Infinity
    assert len(err) < 20_000 and len(out) < 2_000_000, "bounded output"
    if code != 0:
        assert err.strip() or doc["errors"], "a failure always says why"
    for error in doc["errors"]:
        if error["exit_code"] == 2:
            heads = [line for line in error["message"].splitlines() if not line.startswith(" ")]
            for head in heads:
                if "more problems" in head:
                    continue
                assert PROBLEM_HEAD.match(head) or head.startswith(error["file"] + ": "), head
    return code, err + "\n".join(e["message"] for e in doc["errors"])


@pytest.fixture
def project(tmp_path):
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    return tmp_path


def edit(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)
)

HOSTILE = {
    "billion laughs": (LAUGHS, "more than 20,000 values once aliases are expanded"),
    "deep nesting": ("name: " + "[" * 995 + "]" * 995 + "\n", "nesting is deeper than 32 levels"),
    "alias inside itself": ("a: &a [*a]\n", "an alias refers to a block that contains it"),
    # Refused with the character named, whichever PyYAML build parses it (libyaml's takes it: safe_yaml).
    "tab before a value": (edit("memory_gb: 2", "memory_gb:\t2"), ":9: YAML syntax error: found character '\\t'"),
    "NUL byte": (edit("name: demo-api", "name: demo\x00api"), ":2: control character U+0000 at column 11"),
    "escaped NUL": (edit("name: demo-api", 'name: "demo\\0api"'), ":2: name: control character U+0000"),
    "infinity": (edit("memory_gb: 2", "memory_gb: .inf"), "model.memory_gb: must be a finite number"),
    "overflow to infinity": (edit("avg_rps: 2", "avg_rps: 1e400"), "utilization.avg_rps: must be a finite number"),
    "NaN": (edit("weights_gb: 0.5", "weights_gb: .nan"), "model.weights_gb: must be a finite number"),
    "tiny": (edit("inference_ms: 80", "inference_ms: 1e-300"), "must be greater than or equal to 0.01"),
    "yes as a number": (edit("memory_gb: 2", "memory_gb: yes"), "model.memory_gb: must be a valid number (got 'yes')"),
    "boolean as a number": (edit("memory_gb: 2", "memory_gb: true"), "(true/false is not a number) (got True)"),
    "quoted number": (edit("timeout_s: 30", 'timeout_s: "30"'), "a quoted number is text: remove the quotes"),
    "5000-digit number": (edit("memory_gb: 2", "memory_gb: " + "9" * 5000), "not an integer, or too long"),
    "requirement with a newline": (
        edit("  gpu: none", '  gpu: none\n  requirements: ["numpy\\n--index-url http://x"]'),
        "model.requirements[0]: control character U+000A",
    ),
    "requirement with template syntax": (
        edit("  gpu: none", '  gpu: none\n  requirements: ["numpy{{ evil }}"]'),
        "template syntax",
    ),
    "not PEP 508": (edit("  gpu: none", '  gpu: none\n  requirements: ["numpy>=="]'), "not a PEP 508 requirement"),
    "ftp weights": (edit("weights: s3://acme-models/demo/v1/", "weights: ftp://host/m"), "a URL other than s3://"),
    "weights outside": (edit("weights: s3://acme-models/demo/v1/", "weights: ../../../../etc/passwd"), "'..'"),
    "absolute entrypoint": (edit("entrypoint: model.py", "entrypoint: /etc/passwd.py"), "not an absolute path"),
    "missing local weights": (edit("weights: s3://acme-models/demo/v1/", "weights: wieghts/"), "do not exist"),
    "MB typed as GB": (
        edit("memory_gb: 2", "memory_gb: 2048").replace("target: auto", "target: kubernetes"),
        "2048 GB per replica does not fit on a CPU node: a node has 64 GB",
    ),
    "10 MB string": (edit("name: demo-api", "name: " + "a" * 10_000_000), "may be at most 262,144 bytes"),
    "platform-wide override": (VALID + "overrides:\n  platform:\n    region: eu-west-1\n", "cannot be overridden"),
    "GPU price overflow": (
        edit("  gpu: none", "  gpu: required\n  accelerator: A100-80GB:1")
        + "overrides:\n  prices:\n    gpu_node_hour_usd: {A100-80GB: 1e308}\n",
        "overrides.prices.gpu_node_hour_usd.A100-80GB: must be less than or equal to 1000000000",
    ),
    "divisor underflow": (
        VALID + "overrides:\n  platform:\n    efs_read_mb_per_s: 1e-300\n",
        "overrides.platform.efs_read_mb_per_s: must be greater than or equal to 0.000000001 (got 1e-300)",
    ),
    "multi-document": (VALID + "---\n" + VALID, "YAML syntax error: but found another document"),
    "binary tag": (edit("name: demo-api", "name: !!binary aGk="), "unsupported YAML tag"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_profile_is_a_located_error(project, case):
    text, expected = HOSTILE[case]
    (project / "p.yaml").write_text(text, encoding="utf-8")
    code, err = check_run(project)
    assert code == 2, err
    assert expected in err


def test_symlinked_entrypoint_out_of_the_directory_is_refused(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "model.py"
    outside.write_text(MODEL)
    (project / "model.py").unlink()
    (project / "model.py").symlink_to(outside)
    (project / "p.yaml").write_text(VALID)
    code, err = check_run(project)
    assert code == 2 and "leaves the profile's directory" in err


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "100 MB", "invalid UTF-8", "dangling link"])
def test_files_that_are_not_profiles(project, kind):
    path = project / "p.yaml"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would wait for a writer forever
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")  # reading it would never end
    elif kind == "100 MB":
        with path.open("wb") as fh:
            fh.truncate(100 * 1024 * 1024)
    elif kind == "invalid UTF-8":
        path.write_bytes(VALID.encode().replace(b"demo-api", b"demo-\xff"))
    else:
        path.symlink_to(project / "gone.yaml")
    code, err = check_run(project)
    assert code == 2
    expected = {
        "fifo": "is a FIFO, not a regular file",
        "dev-zero": "is a device or special file, not a regular file",
        "100 MB": "is 104,857,600 bytes; a file may be at most 262,144 bytes",
        "invalid UTF-8": ":2: is not UTF-8 text",
        "dangling link": "p.yaml: no such file",
    }[kind]
    assert expected in err


def test_a_bad_platform_file_is_reported_once(project):
    for name in ("a", "b", "c"):
        (project / f"{name}.yaml").write_text(VALID.replace("demo-api", f"demo-{name}"))
    (project / "platform.yaml").write_text("platform:\n  efs_read_mb_per_s: .inf\n")
    code, err = check_run(project)
    assert code == 2
    assert err.count("efs_read_mb_per_s: must be a finite number") == 1
    assert f"{project / 'platform.yaml'}:2: platform.efs_read_mb_per_s" in err


@pytest.mark.parametrize(
    "lock",
    [
        "{",
        "[]",
        '{"version": 1, "workloads": {"x": {"target": "moon"}}}',
        '{"version": 1, "workloads": {"x": {"target": "serverless", "monthly_cost_usd": {"serverless": NaN}}}}',
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["truncated", "a list", "bad target", "NaN", "deep"],
)
def test_a_corrupted_plan_lock_is_a_clear_error(tmp_path, lock):
    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES, profiles)
    (profiles / "plan.lock.json").write_text(lock)
    code, _out, err, _, _ = run_cli("plan", str(profiles))
    assert code == 1
    assert err.startswith(f"error: {profiles / 'plan.lock.json'}: not ")
    assert "regenerate it with `switchyard plan --write-lock`" in err
    assert len(err.splitlines()) == 1


# --------------------------------------------------------------------------- property test

KEYS = [
    "name",
    "target",
    "  preset",
    "  entrypoint",
    "  weights",
    "  weights_gb",
    "  memory_gb",
    "  gpu",
    "  p99_latency_ms",
    "  cold_start_budget_ms",
    "  mode",
    "  timeout_s",
    "  avg_rps",
    "  peak_rps",
    "  active_hours_per_day",
    "  inference_ms",
]
SCALARS = st.one_of(
    st.sampled_from(
        [
            ".inf",
            "-.inf",
            ".nan",
            "1e400",
            "1e-300",
            "-1",
            "0",
            "yes",
            "no",
            "on",
            "true",
            "null",
            "~",
            "''",
            "0x10",
            "0o7",
            "0777",
            "1:20",
            "2024-01-01",
            "[]",
            "{}",
            "&a [*a]",
            "*nope",
            "!!binary aGk=",
            "!!python/object:os.system x",
            "'{{ x }}'",
            '"\\0"',
            '"\\u2028"',
            "|\n    two\n    lines",
            "../../../../etc/passwd",
            "ftp://h/m",
            "s3://",
            "s3://A/",
            "/abs/path",
            "9" * 400,
        ]
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40).map(json.dumps),
)
EXTRA = st.sampled_from(
    [
        "",
        "overrides:\n  platform:\n    efs_read_mb_per_s: .inf\n",
        "overrides:\n  prices:\n    gpu_node_hour_usd: {A100-80GB: 1e308}\n",
        "overrides:\n  platform:\n    efs_read_mb_per_s: 1e-300\n    local_cache_read_mb_per_s: 1e-300\n",
        "overrides:\n  platform:\n    region: x\n",
        "overrides:\n  platform:\n    cpu_node_memory_gb: 1e-300\n",
        "x: &x [a, a, a, a, a, a, a, a]\ny: &y [*x, *x, *x, *x, *x, *x, *x, *x]\nz: [*y, *y, *y, *y, *y, *y, *y, *y]\n",
        "deep: " + "[" * 60 + "]" * 60 + "\n",
    ]
)


@st.composite
def hostile_profiles(draw) -> str:
    lines = VALID.splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        key = draw(st.sampled_from(KEYS))
        index = next(i for i, line in enumerate(lines) if line.startswith(key + ":"))
        lines[index] = f"{key}: {draw(SCALARS)}"
    text = "\n".join(lines) + "\n" + draw(EXTRA)
    if draw(st.booleans()):  # raw damage: a control character or a stray byte sequence somewhere
        at = draw(st.integers(min_value=0, max_value=len(text)))
        text = (
            text[:at] + draw(st.sampled_from(["\x00", "\x1b", "\x7f", "\u2029", "\t", "\r", ": :", "- "])) + text[at:]
        )
    return text


@settings(
    max_examples=60,
    deadline=None,  # the time bound is asserted per run, with a margin for a loaded CI machine
    derandomize=True,  # the same corpus on every run: a failure reproduces
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=hostile_profiles())
def test_no_generated_profile_crashes_hangs_or_breaks_json(project, text):
    (project / "p.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    check_run(project)


def test_a_decision_that_overflows_is_a_located_error_not_invalid_json(project, monkeypatch):
    """The last net behind the bounds: any non-finite figure stops that workload, with its file."""
    import dataclasses

    from stacks import workloads

    real = workloads.decide

    def overflowing(loaded):
        w = real(loaded)
        return dataclasses.replace(w, decision=w.decision.model_copy(update={"utilization": float("inf")}))

    monkeypatch.setattr(workloads, "decide", overflowing)
    (project / "p.yaml").write_text(VALID)
    code, err = check_run(project)
    assert code == 1
    assert "p.yaml:1: the numbers of this profile and its overrides make utilization overflow" in err


@pytest.mark.parametrize("where", ["weights", "code"])
def test_a_link_out_of_the_directory_inside_weights_or_code_is_refused(project, tmp_path_factory, where):
    secret = tmp_path_factory.mktemp("outside") / "secret.txt"
    secret.write_text("do not ship me")
    weights = project / "weights"
    weights.mkdir()
    (weights / "real.bin").write_bytes(b"\0")
    if where == "weights":
        (weights / "more.bin").symlink_to(secret)
    else:
        (project / "helpers.py").symlink_to(secret)  # every .py beside the entrypoint goes into the image
    (project / "p.yaml").write_text(edit("weights: s3://acme-models/demo/v1/", "weights: weights/"))
    code, err = check_run(project)
    assert code == 2
    assert ("more.bin" if where == "weights" else "helpers.py") in err
    assert "leads outside the profile's directory" in err


def test_a_link_out_of_the_directory_past_ten_thousand_files_is_still_refused(project, tmp_path_factory):
    """The walk used to stop after 10,000 entries and call the rest fine: an outside secret deeper in a
    large weights directory was copied into build/ and uploaded by `publish`."""
    secret = tmp_path_factory.mktemp("outside") / "secret.txt"
    secret.write_text("do not ship me")
    weights = project / "weights"
    (weights / "shards").mkdir(parents=True)
    for i in range(10_050):  # os.walk lists these before it descends into shards/
        (weights / f"part-{i:05d}.bin").write_bytes(b"\0")
    (weights / "shards" / "zz.bin").symlink_to(secret)
    (project / "p.yaml").write_text(edit("weights: s3://acme-models/demo/v1/", "weights: weights/"))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["validate", str(project)])
    assert code == 2, err.getvalue()
    assert "zz.bin" in err.getvalue() and "leads outside the profile's directory" in err.getvalue()


@pytest.mark.parametrize("name", ["helpers.py", "pkg"])
def test_a_fifo_among_the_code_copied_into_the_image_is_refused_not_waited_on(project, name):
    """Every .py beside the entrypoint (and in its packages) is copied into the build context: a FIFO
    there validated, then hung `render`/`synth` for ever on the copy."""
    if name == "pkg":
        (project / "pkg").mkdir()
        (project / "pkg" / "__init__.py").write_text("")
        os.mkfifo(project / "pkg" / "tables.py")
        shown = "tables.py"
    else:
        os.mkfifo(project / name)
        shown = name
    (project / "p.yaml").write_text(VALID)
    code, err = check_run(project)
    assert code == 2 and shown in err and "not a regular file" in err, err
    build = project.parent / f"{project.name}-build"
    code, _, err, _, _ = run_cli("render", str(project / "p.yaml"), "--out", str(build))
    assert code != 0 and shown in err and "Traceback" not in err, err
