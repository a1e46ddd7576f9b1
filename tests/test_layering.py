"""The import graph of standin's modules: no cycle, no private name imported from another module,
and each folder importing only the folders its ``__init__`` docstring allows.

Every import counts, also one inside a function (a lazy import still ties two modules together).
``from package import name`` depends on the submodule ``package.name`` where there is one, else on
the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("search", "envs", "agents", "benchmarks")
ALLOWED = {  # folder -> the folders it may import (what each __init__ docstring says)
    "search": set(),
    "envs": {"search"},
    "agents": {"search", "envs"},
    "benchmarks": {"search", "envs", "agents"},
}


def modules() -> dict[str, Path]:
    found = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found["standin." + ".".join(parts)] = path
    return found


def imports(name: str, path: Path, known) -> list[tuple[str, list[str]]]:
    """``(module, names)`` for every import in the file, resolved to absolute module names."""
    out = []
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out.append((base, [alias.name for alias in node.names]))
    return out


def graph() -> tuple[dict[str, set[str]], list[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private = []
    for name, path in mods.items():
        for module, names in imports(name, path, mods):
            if not names:
                if module in mods:
                    edges[name].add(module)
                continue
            for imported in names:
                sub = f"{module}.{imported}"
                if sub in mods:
                    edges[name].add(sub)
                elif module in mods:
                    edges[name].add(module)
                    if imported.startswith("_") and module != name:
                        private.append(f"{name} imports {imported} from {module}")
        edges[name].discard(name)
    return edges, private


def folder(module: str) -> str:
    return module.split(".")[1]


def test_the_module_graph_has_no_cycle():
    edges, _ = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_no_module_imports_a_private_name_from_another():
    _, private = graph()
    assert private == []


def test_each_folder_imports_only_what_its_docstring_allows():
    edges, _ = graph()
    wrong = sorted(f"{m} -> {n}" for m, targets in edges.items() for n in targets
                   if folder(n) != folder(m) and folder(n) not in ALLOWED[folder(m)])
    assert wrong == []
    for name in FOLDERS:  # and the docstrings say so
        doc = ast.get_docstring(ast.parse((ROOT / name / "__init__.py").read_text())) or ""
        assert "May import" in doc, f"{name}/__init__.py: its docstring should say what it may import"
