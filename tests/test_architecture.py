"""The import graph of src/etal follows the floors of docs/architecture.md.

Every ``etal`` import in every module (top level or inside a function, absolute or
relative) must point to the same floor or a lower one, and the graph has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "etal"

# module prefix -> floor (longest prefix wins); keep in step with docs/architecture.md
FLOORS = {
    "etal.errors": 0,
    "etal.params": 0,
    "etal.provenance": 0,
    "etal.plots": 0,
    "etal.data": 1,
    "etal.datasets": 1,
    "etal.split": 1,
    "etal.materials": 1,
    "etal.entropy": 2,
    "etal.bias": 3,
    "etal.surrogate": 4,
    "etal.acquisition": 5,
    "etal.strategies": 6,
    "etal.engine": 7,
    "etal.oracles": 7,
    "etal.evaluation": 8,
    "etal.experiment": 8,
    "etal.campaign": 8,
    "etal.trimming": 8,
    "etal.scale": 8,
    "etal.benchmark": 8,
    "etal.report": 9,
    "etal.cli": 10,
    "etal.__main__": 10,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _floor(module: str) -> int | None:
    best = None
    for prefix, floor in FLOORS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, floor)
    return None if best is None else best[1]


def _imports(path: Path) -> set[str]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # imports only for type checkers (`if TYPE_CHECKING:`) never run: not a dependency
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "etal")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "etal":
                continue
            if node.module is None or target == "etal":
                # `from . import x` / `from etal import X`: each name may be a submodule
                for alias in node.names:
                    if alias.name == "__version__":
                        continue
                    sub = f"{target}.{alias.name}"
                    found.add(sub if _floor(sub) is not None else target)
            else:
                found.add(target)
    found.discard(module)
    return found


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_has_a_floor_and_a_docstring(module):
    if module == "etal":
        return
    assert _floor(module) is not None, f"{module} is on no floor of docs/architecture.md"
    doc = ast.get_docstring(ast.parse(MODULES[module].read_text(encoding="utf-8")))
    assert doc, f"{module} has no module docstring saying its job"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "etal"))
def test_imports_point_down(module):
    own = _floor(module)
    assert own is not None, f"{module} is on no floor"
    upward = [t for t in sorted(GRAPH[module]) if t != "etal" and (_floor(t) if _floor(t) is not None else 99) > own]
    assert not upward, f"{module} (floor {own}) imports upward: {upward}"


def test_no_import_of_the_lazy_top_level_from_inside():
    # `from etal import X` inside the package hides the real dependency (and can cycle)
    offenders = [m for m, targets in GRAPH.items() if m != "etal" and "etal" in targets]
    assert not offenders, f"import from the real module, not the lazy top level: {offenders}"


def test_no_cycles():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in GRAPH.get(node, ()):
            if nxt not in GRAPH:
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                # a package importing its own submodules (re-exports) is not a cycle of jobs
                if not all(c.startswith(cycle[0] + ".") or c == cycle[0] for c in cycle):
                    pytest.fail("import cycle: " + " -> ".join(cycle))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def test_modules_stay_small():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 650}
    assert not long, f"modules over ~600 lines: {long}"
