"""The shape of the code, read from the source with :mod:`ast`: no import cycle between
planner modules, no private name imported from another module, no giant function or class.

These are the "clean seams" of issue 13.  The import graph counts every ``import`` a module
can execute, at module level *and* inside functions (an import moved into a function to dodge
a cycle still makes one); only ``if TYPE_CHECKING:`` blocks are left out, since they never
run (annotations are strings under ``from __future__ import annotations``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "planner"

MAX_FUNCTION_LINES = 120
MAX_CLASS_LINES = 400

OVERSIZE_ALLOWED: dict[str, str] = {}
"""Functions and classes allowed over the limits for now, each with the reason."""


def module_name(path: Path) -> str:
    """``planner.x.y`` for ``planner/x/y.py`` (a package's ``__init__.py`` is the package)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def planner_modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def type_checking_nodes(tree: ast.AST) -> set[int]:
    """Ids of the nodes inside ``if TYPE_CHECKING:`` blocks (never executed)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in {
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        }:
            for stmt in node.body:
                skip.update(id(n) for n in ast.walk(stmt))
    return skip


@dataclass(frozen=True)
class ImportRef:
    """One imported name: the module it comes from (a planner module) and the line."""

    importer: str
    module: str
    name: str | None
    line: int


@cache
def lazy_names() -> dict[str, str]:
    """Names ``planner/__init__.py`` loads on first use (its ``_LAZY`` table): name -> module."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "_LAZY":
            return dict(ast.literal_eval(node.value))
    return {}


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The planner module ``name`` refers to (``planner.x.attr`` -> ``planner.x``; a name the
    package loads lazily -> the module that defines it), if any."""
    package, _, attr = name.rpartition(".")
    if package == "planner" and attr in lazy_names():
        return lazy_names()[attr]
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[ImportRef]:
    """Every executable import of a planner module in ``module``, with the names it takes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    refs: list[ImportRef] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = resolve(alias.name, modules)
                if target is not None:
                    refs.append(ImportRef(module, target, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = resolve(f"{base}.{alias.name}", modules)
                if sub is not None and sub == f"{base}.{alias.name}":
                    refs.append(ImportRef(module, sub, None, node.lineno))  # a submodule
                    continue
                if sub is not None and base == "planner" and alias.name in lazy_names():
                    refs.append(ImportRef(module, sub, alias.name, node.lineno))  # loaded lazily
                    continue
                target = resolve(base, modules)
                if target is not None:
                    refs.append(ImportRef(module, target, alias.name, node.lineno))
    return refs


@cache
def import_graph() -> dict[str, dict[str, int]]:
    """Planner module -> planner modules it imports (other than itself), with a line."""
    modules = planner_modules()
    graph: dict[str, dict[str, int]] = {m: {} for m in modules}
    for m, path in modules.items():
        for ref in imports_of(m, path, modules):
            if ref.module != m:
                graph[m].setdefault(ref.module, ref.line)
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (depth-first search, sorted order)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*stack[stack.index(n) :], n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    """``a (line 12) -> b (line 40) -> a`` for a failure message."""
    steps = [f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)]
    return " -> ".join([*steps, cycle[-1]])


def test_find_cycle_reports_a_cycle():
    graph = {"a": {"b": 3}, "b": {"c": 7}, "c": {"a": 9}, "d": {"a": 1}}
    cycle = find_cycle(graph)
    assert cycle == ["a", "b", "c", "a"]
    assert describe(cycle, graph) == "a (line 3) -> b (line 7) -> c (line 9) -> a"
    assert find_cycle({"a": {"b": 1}, "b": {}}) is None


def test_function_level_and_lazy_imports_are_in_the_graph(tmp_path):
    modules = planner_modules()
    assert resolve("planner.plan_evacuation", modules) == "planner.evacuation"
    source = "def f():\n    from planner import plan_evacuation, __version__\n"
    fake = tmp_path / "fake.py"
    fake.write_text(source, encoding="utf-8")
    refs = imports_of("planner.fake", fake, modules)
    assert {(r.module, r.name) for r in refs} == {
        ("planner.evacuation", "plan_evacuation"),
        ("planner", "__version__"),
    }
    graph = import_graph()
    assert "planner.evacuation" in graph["planner.replan"]  # imported inside replan()
    assert "planner.scenario" not in graph["planner.timeline"]  # only under TYPE_CHECKING


def test_no_import_cycle():
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + describe(cycle, graph)


def test_no_private_name_from_another_module():
    modules = planner_modules()
    found = []
    for m, path in modules.items():
        for ref in imports_of(m, path, modules):
            if (
                ref.module != m
                and ref.name
                and ref.name.startswith("_")
                and not ref.name.startswith("__")
            ):
                found.append(f"{m} line {ref.line}: from {ref.module} import {ref.name}")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                owner = resolve(ast.unparse(node.value), modules)
                if owner is not None and owner != m and ast.unparse(node.value) == owner:
                    found.append(f"{m} line {node.lineno}: {owner}.{node.attr}")
    assert not found, "private names used across modules:\n" + "\n".join(found)


@cache
def sizes() -> dict[str, tuple[str, int]]:
    """``planner.module.Qual.name`` -> (kind, lines) of every function, method and class."""
    out: dict[str, tuple[str, int]] = {}
    for m, path in planner_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def walk(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}.{child.name}"
                    kind = "class" if isinstance(child, ast.ClassDef) else "function"
                    assert child.end_lineno is not None
                    out[name] = (kind, child.end_lineno - child.lineno + 1)
                    walk(child, name)
                else:
                    walk(child, prefix)

        walk(tree, m)
    return out


def test_no_giant_function_or_class():
    over = []
    for name, (kind, lines) in sorted(sizes().items()):
        limit = MAX_CLASS_LINES if kind == "class" else MAX_FUNCTION_LINES
        if lines > limit and name not in OVERSIZE_ALLOWED:
            over.append(f"{name}: {kind} of {lines} lines (limit {limit})")
    assert not over, (
        "split these (or list them, with the reason, in OVERSIZE_ALLOWED):\n" + "\n".join(over)
    )


def test_every_exception_is_still_needed():
    stale = []
    for name in sorted(OVERSIZE_ALLOWED):
        kind, lines = sizes().get(name, ("gone", 0))
        limit = MAX_CLASS_LINES if kind == "class" else MAX_FUNCTION_LINES
        if lines <= limit:
            stale.append(f"{name} is now {lines} lines")
    assert not stale, "remove from OVERSIZE_ALLOWED:\n" + "\n".join(stale)


def test_every_planner_error_is_raised_somewhere():
    tree = ast.parse((PACKAGE / "errors.py").read_text(encoding="utf-8"))
    defined = {n.name for n in tree.body if isinstance(n, ast.ClassDef)} - {"PlannerError"}
    raised: set[str] = set()
    for path in planner_modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                call = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                raised.add(ast.unparse(call).rpartition(".")[2])
    assert defined <= raised, f"defined in errors.py but never raised: {sorted(defined - raised)}"


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    import planner

    assert planner.__version__ == version("corridor-planner")
