"""Packaging: one Jinja environment renders a build context per workload and target.

    build/<name>/Dockerfile, .dockerignore, requirements.txt, app/...

Templates take a `PackageSpec` made from a validated Workload, never raw dicts. Rendering is
deterministic (same workload, byte-identical files) and atomic (the context is built beside the
old one and swapped in, so a failure leaves the previous context, or nothing, never half of one).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2

from stacks.decision.workload import Workload
from stacks.errors import RenderError
from stacks.profile import Mode, Preset, Target
from stacks.profile.files import ENTRYPOINT_ALLOWED, entrypoint_problems
from stacks.profile.vllm_args import VLLM_IMAGE, gpu_memory_utilization, utilization_arg
from stacks.profile.vllm_args import render as vllm_flags
from stacks.targets.hybrid.keda import WORKER_LONG_POLL_S
from stacks.targets.kubernetes import kubernetes_sizing
from stacks.targets.kubernetes.sizing import GPU_MEMORY_GB, gpu_memory_gb
from stacks.targets.serverless import serverless_sizing

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
BUILD_ROOT = Path("build")

# Base images, pinned. Renovate-style bumps happen here and nowhere else.
IMAGES = {
    "lambda": "public.ecr.aws/lambda/python:3.12@sha256:92c88c1adc374b073b07b12bd4045497af7da68230d47c2b330423115c5850dc",
    # Lambda Managed Instances runs Python 3.13 or later only. Pinned by tag: no digest could be
    # verified from here (no registry access to public.ecr.aws); add @sha256:<digest> once one is.
    "lambda-managed": "public.ecr.aws/lambda/python:3.13",
    "cpu": "python:3.12.8-slim-bookworm",
    "gpu": "nvidia/cuda:12.4.1-runtime-ubuntu22.04",
    "vllm": VLLM_IMAGE,
}
# The versions the runtime tests run against (tests/test_runtime_*.py).
RUNTIME_REQUIREMENTS = {
    "kubernetes": ["prometheus-client==0.26.0", "uvicorn==0.54.0", "httptools==0.9.0", "uvloop==0.23.0"],
    "serverless": ["aws-lambda-powertools==3.37.0"],
    "managed-instances": ["aws-lambda-powertools==3.37.0"],
    # The hybrid SQS worker (templates/hybrid/sqs_worker.py): its metrics, and SQS/S3 on AWS.
    "hybrid": ["prometheus-client==0.26.0", "boto3==1.44.8"],
}
QUEUE_REQUIREMENTS = ["redis==8.1.0"]  # the Kubernetes queue worker (async and both modes)
# A message is taken over from a silent holder this long after its timeout: a quarter more, at least 2 s.
CLAIM_MARGIN = 0.25
CLAIM_MARGIN_MIN_MS = 2000
LAMBDA_WEIGHTS_DIR = "/mnt/models"  # the EFS access point's mount path (must be under /mnt)
LAMBDA_IMAGE_WEIGHTS_DIR = "/opt/switchyard/weights"  # small local weights baked into the image
K8S_WEIGHTS_DIR = "/models"  # the model cache volume's mount path
SERVER_PORT = 8080
# The custom server's probe port: the kubelet's probes never compete with callers' connections.
HEALTH_PORT = 8081
VLLM_PORT = 8000
RUN_AS_UID = 10001
RUN_AS_USER = "switchyard"  # USER/LOGNAME for a UID the image's passwd may not know (getpass.getuser())
RUNTIME_CACHE_DIR = "/var/cache/switchyard"  # HF, vLLM, torch compile caches: writable, on the model cache volume
MAX_BATCH = 64
HYBRID = "hybrid"
HYBRID_WORKER = TEMPLATES / "hybrid" / "sqs_worker.py"
HYBRID_POLL_WAIT_S = WORKER_LONG_POLL_S  # the SQS long poll (the hybrid bill counts its empty receives)
USER_PACKAGE = "user_model"
_WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".onnx", ".npz", ".npy", ".gguf", ".ckpt"}


@dataclass(frozen=True)
class PackageSpec:
    """Everything a template may use. A misspelt attribute fails the render (StrictUndefined)."""

    name: str
    target: str  # serverless | kubernetes | managed-instances | hybrid (the SQS worker on the cluster)
    flavor: str  # lambda | lambda-managed | cpu | gpu | vllm
    base_image: str
    weights_dir: str
    user_module: str | None
    requirements: tuple[str, ...]
    runtime_requirements: tuple[str, ...]
    port: int
    health_port: int  # the kubelet's probes (custom server only; vLLM answers them on port)
    uid: int
    max_batch: int
    healthcheck_start_s: int
    vllm_argv: tuple[str, ...]
    concurrency: int  # predictions a replica runs at once (the sizing's replica_concurrency)
    queue_depth: int  # requests that may wait for a slot before the server answers 503
    timeout_s: int  # sla.timeout_s: a longer prediction answers 504
    p99_latency_ms: float  # sla.p99_latency_ms: Lambda starts a queued message only with this much time left
    drain_s: int  # SIGTERM: longest the server waits for in-flight requests
    batch_max_size: int  # 1: no dynamic batching
    batch_max_wait_ms: float
    claim_idle_ms: int  # queue: idle time after which another replica takes a message over
    queue_worker: bool  # async and both modes: the server also works the Redis stream
    weights_in_image: bool = False  # serverless: the build context holds weights/ and the image copies it
    queue: bool = False  # async or both: the handler takes SQS batches
    serves_http: bool = True  # sync and both: callers wait on HTTP, which a queue outage must not stop
    message_max_bytes: int = 262_144  # platform.async_message_max_kb: larger messages get 413 / an error result
    result_ttl_s: int = 86_400  # Kubernetes: results live this long in Redis (the sizing's QueueSizing)
    dead_letter_bytes: int = 64 * 1024**2  # Kubernetes: the dead-letter stream is trimmed to this


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Dockerfiles and Python, not HTML
    )


ENV = _env()


def entrypoint_path(w: Workload) -> Path | None:
    ep = w.profile.model.entrypoint
    return (w.file.parent / ep).resolve() if ep else None


def check_entrypoint(w: Workload) -> Path:
    """The entrypoint exists and defines load(weights_dir) and predict(model, inputs).

    Validation checks the same (stacks/profile/files.py); this catches a file changed since.
    """
    path = entrypoint_path(w)
    assert path is not None  # validation requires an entrypoint for preset custom
    problems = entrypoint_problems(path)
    if problems:
        raise RenderError(f"{w.file}: model.entrypoint: {problems[0]}\n    allowed: {ENTRYPOINT_ALLOWED}")
    return path


def spec_for(w: Workload, target: Target | None = None) -> PackageSpec:
    target = target or w.target
    p = w.profile
    vllm = p.model.preset is Preset.vllm
    baked = target is Target.serverless and serverless_sizing(w).weights_in_image
    if target is Target.serverless:
        flavor, weights_dir, port = "lambda", LAMBDA_IMAGE_WEIGHTS_DIR if baked else LAMBDA_WEIGHTS_DIR, SERVER_PORT
    elif target is Target.managed_instances:
        # No EFS on managed instances: the weights are always in the image (its limit.weights
        # refuses s3:// weights), and the handler is the serverless one on a Python 3.13 base.
        baked = True
        flavor, weights_dir, port = "lambda-managed", LAMBDA_IMAGE_WEIGHTS_DIR, SERVER_PORT
    else:
        flavor = "vllm" if vllm else ("gpu" if p.model.uses_gpu else "cpu")
        weights_dir, port = K8S_WEIGHTS_DIR, VLLM_PORT if vllm else SERVER_PORT
    argv: list[str] = []
    if vllm:
        argv = [
            "--model",
            weights_dir,
            "--served-model-name",
            str(p.model.args["model"]),
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ]
        if p.model.accelerator_count > 1:
            argv += ["--tensor-parallel-size", str(p.model.accelerator_count)]
        argv += [
            "--gpu-memory-utilization",
            utilization_arg(vllm_memory_utilization(w)),
            # Drain in-flight requests on SIGTERM for as long as one may take (0 would abort them).
            "--shutdown-timeout",
            str(p.sla.timeout_s),
        ]
        argv += vllm_flags(dict(p.model.args))
    ep = entrypoint_path(w)
    k = kubernetes_sizing(w)
    batching = p.model.batching
    return PackageSpec(
        name=p.name,
        target=target.value,
        flavor=flavor,
        base_image=IMAGES[flavor],
        weights_dir=weights_dir,
        user_module=f"{USER_PACKAGE}.{ep.stem}" if ep else None,
        requirements=tuple(p.model.requirements),
        runtime_requirements=tuple(
            RUNTIME_REQUIREMENTS[target.value]
            + (QUEUE_REQUIREMENTS if target is Target.kubernetes and p.sla.mode is not Mode.sync else [])
        ),
        port=port,
        health_port=HEALTH_PORT,
        uid=RUN_AS_UID,
        max_batch=MAX_BATCH,
        healthcheck_start_s=max(30, int(k.pod_start_ms / 1000 * 2)),
        vllm_argv=tuple(argv),
        concurrency=k.replica_concurrency,
        queue_depth=queue_depth(p.sla.p99_latency_ms, p.utilization.inference_ms, k.replica_concurrency),
        timeout_s=p.sla.timeout_s,
        p99_latency_ms=p.sla.p99_latency_ms,
        drain_s=p.sla.timeout_s,
        batch_max_size=batching.max_size if batching else 1,
        batch_max_wait_ms=batching.max_wait_ms if batching else 0,
        claim_idle_ms=claim_idle_ms(p.sla.timeout_s),
        queue_worker=target is Target.kubernetes and not vllm and p.sla.mode is not Mode.sync,
        weights_in_image=baked,
        queue=p.sla.mode is not Mode.sync,
        serves_http=p.sla.mode is not Mode.async_,
        message_max_bytes=w.settings.platform.async_message_max_kb * 1024,
        **(
            {"result_ttl_s": k.queue.result_ttl_s, "dead_letter_bytes": k.queue.dead_letter_bytes}
            if k.queue is not None
            else {}
        ),
    )


def claim_idle_ms(timeout_s: int) -> int:
    """Idle time after which a pending queue message is taken over from its (dead) holder: an attempt
    lasts at most timeout_s and a live holder re-claims between attempts. KEDA's cooldown outlasts it."""
    return timeout_s * 1000 + max(CLAIM_MARGIN_MIN_MS, int(timeout_s * 1000 * CLAIM_MARGIN))


def queue_depth(p99_latency_ms: float, inference_ms: float, concurrency: int) -> int:
    """Requests that may wait for a slot: as many as finish within the p99 target, at least one per slot.

    A request queued behind more than that misses the target anyway; a fast 503 lets the caller
    retry on another replica while KEDA adds one.
    """
    return max(concurrency, math.floor(p99_latency_ms / inference_ms * concurrency))


def vllm_memory_utilization(w: Workload) -> float:
    """The GPU memory fraction vLLM may take: enough for the model within its share under time-slicing
    (the replicas sharing a GPU share its memory, unisolated); a MIG slice or a whole GPU is the
    process's own device. The plan refused a share that cannot hold the model (rule gpu.share)."""
    k = kubernetes_sizing(w)
    share = k.gpu_share if k.gpu_sharing == "time-slicing" else 1.0
    found = gpu_memory_utilization(
        share, GPU_MEMORY_GB.get(k.gpu_type or ""), gpu_memory_gb(w.profile, w.settings.platform)
    )
    if found is None:  # the decision refuses this; a workload built by hand must not get a silent OOM
        raise RenderError(f"{w.file}: the time-sliced GPU share cannot hold the model (see `switchyard plan`)")
    return found


def hybrid_worker_spec(w: Workload) -> PackageSpec:
    """The hybrid target's image: the Kubernetes image (same base, user, caches, model cache path)
    running the SQS worker instead of the HTTP server."""
    if w.profile.model.preset is Preset.vllm:
        raise RenderError(
            f"{w.file}: model.preset: vllm has no SQS worker; the hybrid target runs preset custom models\n"
            "    allowed: target kubernetes for a vLLM model (its HTTP server), or preset custom"
        )
    spec = spec_for(w, Target.kubernetes)
    return dataclasses.replace(
        spec,
        target=HYBRID,
        runtime_requirements=tuple(RUNTIME_REQUIREMENTS[HYBRID]),
        queue_worker=False,
        queue=True,
        serves_http=False,
    )


def hybrid_worker_config(spec: PackageSpec) -> dict[str, object]:
    """app/worker_config.json: the sizing's figures; the Deployment's environment adds the queue and
    bucket (and may override any key by its upper-case name)."""
    return {
        "concurrency": spec.concurrency,  # messages worked at once: the predictions the sizing costed
        "timeout_s": spec.timeout_s,
        "stuck_after_s": spec.timeout_s,  # an abandoned prediction this much past its timeout: exit 1
        "drain_s": spec.drain_s,
        "wait_s": HYBRID_POLL_WAIT_S,
        "backoff_max_s": 5,
        "retry_base_s": 2,  # a transient failure comes back after 2, 4, 8 ... s (capped at the visibility)
        "visibility_timeout_s": 0,  # 0: the queue's own (the CDK side sets it)
        "max_receive_count": 0,  # 0: the queue's redrive policy
        "health_port": spec.health_port,
        "queue_url": "",
        "results_uri": "",
    }


def _files(w: Workload, spec: PackageSpec) -> dict[str, str]:
    """Relative path -> rendered text, for everything rendered from templates."""

    def render(template: str) -> str:
        return ENV.get_template(template).render(spec=spec)

    files = {".dockerignore": render("shared/dockerignore.jinja")}
    if spec.flavor == "vllm":
        files["Dockerfile"] = render("vllm/Dockerfile.jinja")
        return files
    files["requirements.txt"] = render("shared/requirements.txt.jinja")
    files["app/serving_core.py"] = render("shared/serving_core.py.jinja")
    if spec.target == HYBRID:
        files["Dockerfile"] = render("kubernetes/Dockerfile.jinja")
        files["app/sqs_worker.py"] = HYBRID_WORKER.read_text(encoding="utf-8")  # a plain module, not a template
        files["app/worker_config.json"] = json.dumps(hybrid_worker_config(spec), indent=2, sort_keys=True) + "\n"
    elif spec.target == Target.serverless.value:
        files["Dockerfile"] = render("serverless/Dockerfile.jinja")
        files["app/handler.py"] = render("serverless/handler.py.jinja")
    elif spec.target == Target.managed_instances.value:
        files["Dockerfile"] = render("managed_instances/Dockerfile.jinja")
        files["app/handler.py"] = render("serverless/handler.py.jinja")
    else:
        files["Dockerfile"] = render("kubernetes/Dockerfile.jinja")
        files["app/server.py"] = render("kubernetes/server.py.jinja")
        if spec.queue_worker:
            files["app/queue_worker.py"] = render("kubernetes/queue_worker.py.jinja")
            files["app/queue_api.py"] = render("kubernetes/queue_api.py.jinja")
    return files


def _user_code(entrypoint: Path) -> dict[str, Path]:
    """The entrypoint's directory: its .py files and Python subpackages, never weights."""
    root = entrypoint.parent
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts or any(part == "weights" for part in rel.parts):
            continue
        # a subdirectory is taken only when it is a package (has __init__.py all the way down)
        if all((root.joinpath(*rel.parts[: i + 1]) / "__init__.py").exists() for i in range(len(rel.parts) - 1)):
            found[f"app/{USER_PACKAGE}/{rel.as_posix()}"] = path
    return found


def render(
    w: Workload, out_root: Path = BUILD_ROOT, target: Target | None = None, spec: PackageSpec | None = None
) -> Path:
    """Write build/<name>/ for the workload's target (or the one given, or the spec given). Returns its path."""
    spec = spec or spec_for(w, target)
    user_files = _user_code(check_entrypoint(w)) if spec.flavor != "vllm" else {}
    weight_files: dict[str, Path] = {}
    if spec.weights_in_image:
        root = (w.file.parent / w.profile.model.weights).resolve()
        weight_files = {f"weights/{p.relative_to(root).as_posix()}": p for p in sorted(root.rglob("*")) if p.is_file()}
    try:
        texts = _files(w, spec)
    except jinja2.UndefinedError as exc:  # a template bug, but name the workload
        raise RenderError(f"{w.file}: template error rendering {w.name}: {exc}") from exc
    final = out_root / w.name
    if final.is_symlink() or (final.exists() and not (final / "Dockerfile").is_file()):
        # The whole folder is replaced: only one that holds a build context (one render wrote) may be.
        raise RenderError(
            f"{w.file}: {final} exists and is not a build context Switchyard wrote (no Dockerfile); "
            "move it or choose another --out (nothing was written)"
        )
    out_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{w.name}.", dir=out_root))
    try:
        for rel, text in sorted(texts.items()):
            dest = staging / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8")
        for rel, src in sorted(user_files.items()):
            if src.suffix in _WEIGHT_SUFFIXES:
                continue
            dest = staging / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read_bytes())
        for rel, src in weight_files.items():
            dest = staging / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read_bytes())
        os.chmod(staging, 0o755)
        old = None
        if final.exists():
            old = out_root / f".{w.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        staging.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final
