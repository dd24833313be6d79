"""The import graph of stacks/ runs one way: commands -> targets -> decision -> profile -> price book.

Read from the source with ast (nothing is imported), so a new cycle or an upward import fails
here with the modules named, before it turns into an import deferred into a function to dodge it.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import stacks

pytestmark = pytest.mark.xdist_group("layering")  # one worker parses stacks/ (graph())
ROOT = Path(stacks.__file__).resolve().parent
# Optional libraries heavy enough to load only when a command needs them (a plan must not start
# jsii's Node.js process or Pulumi's runtime); boto3 only exists in the Lambda runtime.
HEAVY = {"aws_cdk", "constructs", "cdk_nag", "pulumi", "pulumi_kubernetes", "matplotlib", "boto3", "botocore"}
CLI = "stacks.cli"  # its lazy dispatch imports one command's module when that command runs


@dataclass
class Module:
    name: str
    path: Path
    imports: set[str] = field(default_factory=set)  # stacks modules, wherever the import statement is
    top_heavy: bool = False  # imports a heavy library at module level
    deferred: list[tuple[int, str, bool]] = field(default_factory=list)  # (line, import, commented)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _targets(node: ast.Import | ast.ImportFrom, module: str, known: set[str]) -> list[str]:
    """The stacks modules an import statement loads (`from stacks.k8s import naming` is stacks.k8s.naming)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")[: -node.level] if not module.endswith("__init__") else module.split(".")
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    out = []
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            out.append(name)
    return out


def _commented(lines: list[str], block: ast.AST, node: ast.stmt) -> bool:
    """A comment on the import's run of consecutive imports, on the line just above it, or on the line
    opening its block (`try:  # matplotlib is optional`)."""
    body: list[ast.stmt] = block.body  # type: ignore[attr-defined]
    if not isinstance(block, ast.FunctionDef | ast.AsyncFunctionDef) and "#" in lines[block.lineno - 1]:  # type: ignore[attr-defined]
        return True
    i = body.index(node)
    first = i
    while first > 0 and isinstance(body[first - 1], ast.Import | ast.ImportFrom):
        first -= 1
    last = i
    while last + 1 < len(body) and isinstance(body[last + 1], ast.Import | ast.ImportFrom):
        last += 1
    span = lines[body[first].lineno - 2 : (body[last].end_lineno or body[last].lineno)]
    return any("#" in line for line in span)


def _graph() -> dict[str, Module]:
    paths = sorted(ROOT.rglob("*.py"))
    known = {_module_name(p) for p in paths}
    modules: dict[str, Module] = {}
    for path in paths:
        name = _module_name(path)
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source, filename=str(path))
        m = Module(name, path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                m.imports.update(t for t in _targets(node, name, known) if t != name)
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                roots = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                m.top_heavy |= any(r.split(".")[0] in HEAVY for r in roots)
        for fn in _functions(tree):
            for block in ast.walk(fn):
                for stmt in getattr(block, "body", []) if isinstance(getattr(block, "body", None), list) else []:
                    if isinstance(stmt, ast.Import | ast.ImportFrom):
                        m.deferred.append((stmt.lineno, ast.unparse(stmt), _commented(lines, block, stmt)))
        m.deferred = sorted(set(m.deferred))
        modules[name] = m
    return modules


@functools.cache
def graph() -> dict[str, Module]:
    """Built on first use, not at import: every xdist worker imports this module to collect it, and
    parsing all of stacks/ costs ~1.7 s of CPU. The module's tests share one worker (pytestmark)."""
    return _graph()


def _heavy(name: str, seen: set[str] | None = None) -> bool:
    """Whether importing `name` loads a heavy library (through its module-level imports)."""
    seen = seen if seen is not None else set()
    if name in seen:
        return False
    seen.add(name)
    m = graph()[name]
    return m.top_heavy or any(_heavy(t, seen) for t in _top_imports(m))


def _top_imports(m: Module) -> set[str]:
    tree = ast.parse(m.path.read_text(encoding="utf-8"))
    known = set(graph())
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.update(t for t in _targets(node, m.name, known) if t != m.name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _in(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_graph_is_read_from_the_real_package():
    # The checks below mean nothing if the walk misses the layers.
    for layer in ("stacks.profile.loader", "stacks.decision.decide", "stacks.targets", "stacks.commands.plan"):
        assert layer in graph()
    assert "stacks.decision.decide" in graph()["stacks.targets"].imports or any(
        _in(t, "stacks.decision") for t in graph()["stacks.targets"].imports
    )


def test_no_import_cycle_among_the_modules():
    # Every import counts, also one inside a function or under `if TYPE_CHECKING:`.
    cycles = _cycles({name: m.imports for name, m in graph().items()})
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_imports_are_deferred_only_for_the_cli_dispatch_and_heavy_libraries():
    wrong = []
    for name, m in graph().items():
        for line, text, commented in m.deferred:
            node = ast.parse(text).body[0]
            loaded = _targets(node, name, set(graph()))  # type: ignore[arg-type]
            if name == CLI and loaded and all(_in(t, "stacks.commands") for t in loaded):
                continue
            roots = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            heavy = any(r.split(".")[0] in HEAVY for r in roots) or (loaded and all(_heavy(t) for t in loaded))
            if heavy and commented:
                continue
            why = "no comment says why" if heavy else "not a heavy optional library: import it at the top"
            wrong.append(f"{m.path.relative_to(ROOT.parent)}:{line}: {text} ({why})")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("stacks.profile", ("stacks.decision", "stacks.targets", "stacks.commands", "stacks.aws", "stacks.k8s")),
        ("stacks.decision", ("stacks.targets", "stacks.commands", "stacks.aws", "stacks.k8s", "stacks.cli")),
        ("stacks.pricebook", ("stacks.profile", "stacks.decision", "stacks.targets", "stacks.commands")),
    ],
)
def test_layers_import_only_downwards(layer, forbidden):
    upward = sorted(
        f"{name} imports {t}"
        for name, m in graph().items()
        if _in(name, layer)
        for t in m.imports
        if _in(t, *forbidden)
    )
    assert upward == []


def test_loading_a_profile_reaches_neither_the_decision_nor_a_target():
    # Transitively, not only directly: validation must stay cheap and target-agnostic.
    reached: set[str] = set()
    todo = ["stacks.profile.loader"]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        todo += graph()[name].imports
    assert sorted(n for n in reached if _in(n, "stacks.decision", "stacks.targets", "stacks.aws", "stacks.k8s")) == []


CDK = {"aws_cdk", "constructs", "cdk_nag"}


def test_no_test_module_loads_aws_cdk_lib_when_it_is_collected():
    """Every xdist worker collects every test module, and only the `cdk` group's worker synthesizes: a
    test module importing aws-cdk-lib at its top (itself, or through a stacks module or a test helper
    whose top does) makes every worker start jsii's Node.js and load the library, ~1.4 s of CPU each.
    Imports under `if TYPE_CHECKING:` and inside functions are not run at collection. Read from the
    source like the rest of this module: an import under another `if`/`try` at a module's top, or
    importlib/importorskip, is not seen."""
    tests = Path(__file__).resolve().parent
    paths = {**{n: m.path for n, m in graph().items()}, **{f"tests.{p.stem}": p for p in tests.glob("*.py")}}
    known = set(paths)

    @functools.cache
    def top(name: str) -> tuple[frozenset[str], bool]:
        """(project modules, whether aws-cdk-lib) a module's top-level imports load."""
        tree = ast.parse(paths[name].read_text(encoding="utf-8"))
        project: set[str] = set()
        cdk = False
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                roots = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                cdk |= any(r.split(".")[0] in CDK for r in roots)
                project.update(t for t in _targets(node, name, known) if t != name)
        return frozenset(project), cdk

    def chain(name: str, seen: tuple[str, ...] = ()) -> tuple[str, ...] | None:
        """The import path by which loading `name` loads aws-cdk-lib, or None."""
        if name in seen:
            return None
        project, cdk = top(name)
        if cdk:
            return (*seen, name)
        for t in sorted(project):
            found = chain(t, (*seen, name))
            if found:
                return found
        return None

    assert chain("stacks.aws.app"), "the check must see aws-cdk-lib behind stacks.aws.app"
    loading = {p.stem: chain(f"tests.{p.stem}") for p in sorted(tests.glob("test_*.py"))}
    wrong = {name: " -> ".join(c) for name, c in loading.items() if c}
    assert wrong == {}, "import aws-cdk-lib inside the tests that use it (tests/conftest.py): " + "; ".join(
        f"{k}: {v}" for k, v in wrong.items()
    )
