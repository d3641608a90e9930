"""The layer contract (.importlinter) holds and no two modules import each other, even indirectly.

Function-level imports count: grimp reads every import statement, wherever it is.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import grimp

from tests.factories import REPO

ROOTS = ("academy", "models", "registry", "flows", "tasks", "bench")


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & set(modules)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if child < len(edges[node]):
                work.append((node, child + 1))
                nxt = edges[node][child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return cycles


def test_the_cycle_finder_finds_a_cycle_and_nothing_else():
    graph = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c", "p.d"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    graph.add_import(importer="p.d", imported="p.a")
    assert import_cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_no_module_imports_another_that_imports_it_back():
    graph = grimp.build_graph(*ROOTS, include_external_packages=False, cache_dir=None)
    assert len(graph.modules) > 100  # the whole code base was read
    assert import_cycles(graph) == []


def test_the_contract_has_no_escape_hatches():
    contract = configparser.ConfigParser()
    contract.read(REPO / ".importlinter")
    sections = [s for s in contract.sections() if s.startswith("importlinter:contract:")]
    assert {contract[s]["type"] for s in sections} >= {"layers", "acyclic_siblings", "forbidden"}
    assert not any("ignore_imports" in contract[s] for s in sections)
    layers = contract["importlinter:contract:layers"]["layers"].split()
    assert layers[0] == "academy.cli"  # nothing imports the CLI
    for path in [*REPO.glob("academy/**/*.py"), *REPO.glob("bench/*.py"), *REPO.glob("registry/*.py")]:
        assert "importlib.import_module" not in path.read_text(), f"{path}: an import the contract cannot see"


def test_lint_imports_keeps_every_contract():
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_no_module_is_over_500_lines_unless_it_says_why():
    """One thing per module: a longer module must say in its docstring why it stays whole."""
    import ast

    too_long = []
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            lines = path.read_text().count("\n")
            if lines > 500 and "must stay whole" not in (
                ast.get_docstring(ast.parse(path.read_text())) or ""
            ):
                too_long.append(f"{path.relative_to(REPO)}: {lines} lines")
    assert not too_long, too_long
