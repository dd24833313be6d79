"""Regenerate flags-<version>.json: the `vllm serve` flags of one vLLM release, read from its wheel.

    pip download vllm==0.33.0 --no-deps -d /tmp/vllm && python templates/vllm/extract_flags.py /tmp/vllm/vllm-*.whl

The wheel is read, never imported (importing vLLM needs torch and a GPU stack). The flags are
what `vllm serve` registers: every `add_argument("--...")` in vllm/engine/arg_utils.py and
vllm/entrypoints/common/cli_args.py, and one `--field-name` per field of the frontend
dataclasses (BaseFrontendArgs, FrontendArgs). A flag is boolean when argparse gets
BooleanOptionalAction (vLLM does that for every `bool` config field: `--x` / `--no-x`) or
store_true (`--x` only).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

ENGINE = "vllm/engine/arg_utils.py"
FRONTEND = "vllm/entrypoints/common/cli_args.py"
FRONTEND_CLASSES = ("BaseFrontendArgs", "FrontendArgs")


def _fields(tree: ast.Module) -> dict[str, dict[str, str]]:
    """class name -> field name -> annotation source, for every class in a module."""
    out: dict[str, dict[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            out[node.name] = {
                s.target.id: ast.unparse(s.annotation)
                for s in node.body
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
            }
    return out


def _kind(annotation: str) -> str:
    parts = {p.strip() for p in re.split(r"[|\[\],]", annotation.replace("Optional", "")) if p.strip()}
    if "bool" in parts and "str" not in parts:
        return "boolean"  # BooleanOptionalAction: --x / --no-x
    return "value"


def extract(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as z:
        sources = {name: z.read(name).decode() for name in z.namelist() if name.endswith(".py")}
    classes: dict[str, dict[str, str]] = {}
    for name, text in sources.items():
        if name.startswith("vllm/config/") or name in (ENGINE, FRONTEND):
            for cls, fields in _fields(ast.parse(text)).items():
                classes.setdefault(cls, fields)
    flags: dict[str, str] = {}
    for module in (ENGINE, FRONTEND):
        tree = ast.parse(sources[module])
        kwarg_class: dict[str, str] = {}  # model_kwargs = get_kwargs(ModelConfig)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "get_kwargs"
                and node.value.args
                and isinstance(node.value.args[0], ast.Name)
                and isinstance(node.targets[0], ast.Name)
            ):
                kwarg_class[node.targets[0].id] = node.value.args[0].id
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument"):
                continue
            names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            long = [n for n in names if n.startswith("--")]
            if not long:
                continue
            kind = "value"
            for kw in node.keywords:
                src = ast.unparse(kw.value)
                if kw.arg == "action" and ("BooleanOptionalAction" in src or "store_true" in src):
                    kind = "boolean" if "BooleanOptionalAction" in src else "switch"
                if kw.arg is None:  # **model_kwargs["field"] or **{**model_kwargs["field"], ...}
                    subs = [kw.value] if isinstance(kw.value, ast.Subscript) else []
                    if isinstance(kw.value, ast.Dict):
                        subs = [v for k, v in zip(kw.value.keys, kw.value.values, strict=True) if k is None]
                    for sub in subs:
                        var, key = ast.unparse(sub.value), sub.slice
                        if isinstance(key, ast.Constant) and var in kwarg_class:
                            annotation = classes.get(kwarg_class[var], {}).get(key.value, "")
                            kind = _kind(annotation) if annotation else kind
            for flag in long:
                flags[flag] = kind
    for cls in FRONTEND_CLASSES:
        for field, annotation in classes.get(cls, {}).items():
            if not field.startswith("_"):
                flags[f"--{field.replace('_', '-')}"] = _kind(annotation)
    version = re.search(r"version_tuple = \((\d+), (\d+), (\d+)", sources["vllm/_version.py"])
    return {
        "vllm_version": ".".join(version.groups()) if version else "unknown",
        "provenance": {
            "wheel": wheel.name,
            "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            "source": f"{ENGINE}, {FRONTEND} ({', '.join(FRONTEND_CLASSES)})",
            "how": "templates/vllm/extract_flags.py (static read of the wheel; vLLM is Apache-2.0)",
        },
        "kinds": {
            "boolean": "--flag / --no-flag",
            "switch": "--flag only (store_true)",
            "value": "--flag VALUE",
        },
        "flags": dict(sorted(flags.items())),
    }


if __name__ == "__main__":
    doc = extract(Path(sys.argv[1]))
    out = Path(__file__).with_name(f"flags-{doc['vllm_version']}.json")
    out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(doc['flags'])} flags)")
