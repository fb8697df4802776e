"""lab/'s architecture, checked from its source: every import of every module (at the top and inside functions,
read with ast) runs down the layer order of lab/__init__.py's module map, never back up and never in a circle;
and no function is longer than a screen. Each check is also run on a small package written here with the fault
planted, to show it catches it."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from repo_paths import REPO

# From the bottom up: a module may import from its own layer (without a cycle) or a lower one, never a higher one.
LAB_LAYERS: tuple[tuple[str, ...], ...] = (
    ("lab", "lab.errors", "lab.conditions", "lab.model"),
    ("lab.topology", "lab.config", "lab.state", "lab.links"),
    ("lab.plumbing",),
    ("lab.images", "lab.outputs"),
    ("lab.providers", "lab.ops"),
    ("lab.provision", "lab.pytest_hosts", "lab.ansible_plugins"),
    ("lab.driver",),
    ("lab.cli", "lab.__main__"),
)
MAX_FUNCTION_LINES = 60

Graph = dict[str, set[str]]


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package in `root` (its directory) by dotted name; a package by its own name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _known(name: str, modules: Iterable[str]) -> str | None:
    """The module `name` is, or the nearest package above it that is one of `modules`."""
    known = set(modules)
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imported_modules(name: str, path: Path, modules: Iterable[str]) -> set[str]:
    """The package's modules that `name` imports anywhere in its file (top level, functions, TYPE_CHECKING)."""
    modules = set(modules)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from lab.ops import capture` imports the module lab.ops.capture; `from lab.model import Host`, lab.model
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(t for t in (_known(target, modules) for target in targets) if t is not None and t != name)
    return found


def import_graph(root: Path, package: str) -> Graph:
    modules = module_files(root, package)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def cycles(graph: Graph) -> list[list[str]]:
    """Each import cycle once, as the modules along it (the first one repeated at the end)."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target in path:
                cycle = [*path[path.index(target):], target]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    found.append(cycle)
            elif target not in done:
                visit(target, [*path, target])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    return found


def layer_of(module: str, layers: tuple[tuple[str, ...], ...]) -> int | None:
    """The layer of the longest prefix naming the module or a package above it (a layer's bare package name, like
    'lab', stands for itself only)."""
    best: tuple[int, int] | None = None
    root = layers[0][0]
    for index, prefixes in enumerate(layers):
        for prefix in prefixes:
            matches = module == prefix or (prefix != root and module.startswith(f"{prefix}."))
            if matches and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return None if best is None else best[0]


def layer_problems(graph: Graph, layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Every module without a layer, and every import that runs back up the layers."""
    problems = [f"{module}: in no layer (add it to the layer order)" for module in sorted(graph)
                if layer_of(module, layers) is None]
    for module, targets in sorted(graph.items()):
        source = layer_of(module, layers)
        for target in sorted(targets):
            wanted = layer_of(target, layers)
            if source is not None and wanted is not None and wanted > source:
                problems.append(f"{module} (layer {source + 1}) imports {target} (layer {wanted + 1}): upward")
    return problems


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    long = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > limit:
                    long.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {lines} lines")
    return long


# ---- lab/ itself --------------------------------------------------------------------------------------------------
LAB = REPO / "lab"


def test_lab_has_no_import_cycle() -> None:
    assert cycles(import_graph(LAB, "lab")) == []


def test_every_lab_import_runs_down_the_layers() -> None:
    assert layer_problems(import_graph(LAB, "lab"), LAB_LAYERS) == []


def test_the_walk_sees_imports_inside_functions_and_submodules_named_in_from_imports() -> None:
    """The registry loads its providers inside make_provider (plugin loading): the graph still has that edge;
    `from lab.ops import capture` is an edge to lab.ops.capture, not to the package."""
    graph = import_graph(LAB, "lab")
    assert {"lab.providers.nspawn.provider", "lab.providers.libvirt.provider"} <= graph["lab.providers"]
    assert {"lab.ops.capture", "lab.ops.remote", "lab.ops.snapshot"} <= graph["lab.cli"]


def test_the_errors_import_nothing_of_the_project_and_the_model_only_the_errors() -> None:
    graph = import_graph(LAB, "lab")
    assert graph["lab.errors"] == set()
    assert graph["lab.conditions"] == set()  # link conditions: pure data the model holds
    assert graph["lab.model"] <= {"lab.errors", "lab.conditions"}


def only_a_docstring(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return len(body) == 1 and isinstance(body[0], ast.Expr)


def test_every_lab_module_is_in_the_module_map() -> None:
    """Every module with code in it (a package with only its docstring is a folder's label) has its line."""
    module_map = (LAB / "__init__.py").read_text()
    missing = [name for name, path in module_files(LAB, "lab").items() if name != "lab"
               and not only_a_docstring(path) and f"``{name.removeprefix('lab.')}``" not in module_map]
    assert missing == []


def callers_of(root: Path, package: str, function: str) -> set[str]:
    """The modules that call `function` (by its bare name or as an attribute)."""
    callers = set()
    for name, path in module_files(root, package).items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if called == function:
                    callers.add(name)
    return callers


def test_only_the_driver_writes_the_lab_record() -> None:
    assert callers_of(LAB, "lab", "save_state") == {"lab.driver"}


def test_no_lab_function_is_longer_than_a_screen() -> None:
    assert long_functions(LAB) == []


# ---- the checks catch what they claim: a package with the faults planted ---------------------------------------------
PLANTED_LAYERS = (("pkg", "pkg.base"), ("pkg.middle",), ("pkg.top",))


def planted(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_planted_cycle_through_a_late_import_is_found(tmp_path: Path) -> None:
    root = planted(tmp_path, {
        "base.py": "",
        "middle.py": "from pkg.base import x\n\ndef late():\n    from pkg import top\n    return top\n",
        "top.py": "import pkg.middle\n",
    })
    graph = import_graph(root, "pkg")
    assert graph["pkg.middle"] == {"pkg.base", "pkg.top"}
    assert cycles(graph) == [["pkg.middle", "pkg.top", "pkg.middle"]]
    assert layer_problems(graph, PLANTED_LAYERS) == ["pkg.middle (layer 2) imports pkg.top (layer 3): upward"]


def test_a_planted_upward_edge_under_type_checking_and_a_relative_import_are_found(tmp_path: Path) -> None:
    root = planted(tmp_path, {
        "base.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg.middle import M\n",
        "middle.py": "",
        "top.py": "from . import middle\nfrom .sub.deep import y\n",
        "sub/__init__.py": "",
        "sub/deep.py": "from .. import base\n",
    })
    graph = import_graph(root, "pkg")
    assert graph["pkg.top"] == {"pkg.middle", "pkg.sub.deep"}
    assert graph["pkg.sub.deep"] == {"pkg.base"}
    assert cycles(graph) == []
    assert layer_problems(graph, PLANTED_LAYERS) == [
        "pkg.sub: in no layer (add it to the layer order)",
        "pkg.sub.deep: in no layer (add it to the layer order)",
        "pkg.base (layer 1) imports pkg.middle (layer 2): upward",
    ]


def test_a_planted_long_function_is_found(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 1))
    root = planted(tmp_path, {"base.py": f"def fits():\n{body}\n\ndef too_long():\n{body}    return 0\n"})
    assert long_functions(root) == [f"base.py:{MAX_FUNCTION_LINES + 3} too_long: {MAX_FUNCTION_LINES + 1} lines"]
