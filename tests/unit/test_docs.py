"""The documentation stays true to the code.

README.md stays short; every relative link in README.md and docs/*.md resolves (and its anchor, if
any, names a heading of the target page); docs/config.md is what scripts/config_reference.py
generates from the config models now; every ``path/file.py:name`` reference names a file that
exists and a function or class defined in it (``Class.method`` for methods), found with ``ast``;
every ``academy/...py``-style path a page mentions exists. Failures list every stale reference with
its page and line, and where a moved name is defined now.
"""

from __future__ import annotations

import ast
import difflib
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_LINES = 400
GENERATOR = ROOT / "scripts" / "config_reference.py"
CONFIG_PAGE = ROOT / "docs" / "config.md"

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# `academy/server.py:create_app`, `academy/routing/evidence.py:EvidenceIndex.estimate`
SYMBOL_REF = re.compile(r"((?:[\w.-]+/)*[\w-]+\.py):([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
# a path into the project's code: `academy/wal.py`, `bench/load.py`
CODE_PATH = re.compile(
    r"(?<![\w./-])((?:academy|flows|tasks|bench|registry|models|scripts|tests)/[\w./-]*\.py)\b"
)
SKIP_DIRS = {".git", ".venv", "node_modules", ".academy", "__pycache__"}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def prose_lines(page: Path) -> list[tuple[int, str]]:
    """(line number, text) of the page outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def all_lines(page: Path) -> list[tuple[int, str]]:
    return list(enumerate(page.read_text().splitlines(), 1))


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(page):
        match = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = github_anchor(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_readme_is_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move detail to a page under docs/"
    )


def test_relative_links_resolve() -> None:
    broken = []
    for page in PAGES:
        for number, line in prose_lines(page):
            for target in LINK.findall(CODE_SPAN.sub("", line)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                    continue
                path_part, _, anchor = target.partition("#")
                path_part = path_part.split("?", 1)[0]
                dest = (page.parent / path_part).resolve() if path_part else page
                where = f"{rel(page)}:{number}: ({target})"
                if not dest.exists():
                    broken.append(f"{where} -> {path_part} does not exist")
                elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                    broken.append(f"{where} -> no heading with anchor #{anchor} in {rel(dest)}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_config_reference_is_current() -> None:
    run = subprocess.run(
        [sys.executable, str(GENERATOR), "--stdout"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, f"scripts/config_reference.py failed:\n{run.stderr}"
    current = CONFIG_PAGE.read_text() if CONFIG_PAGE.exists() else ""
    if current != run.stdout:
        diff = difflib.unified_diff(
            current.splitlines(), run.stdout.splitlines(), "docs/config.md", "generated", lineterm=""
        )
        pytest.fail(
            "docs/config.md is stale; regenerate it with `.venv/bin/python scripts/config_reference.py`:\n"
            + "\n".join(list(diff)[:80])
        )


@cache
def defined_names(path: Path) -> frozenset[str]:
    """Qualified names of every function and class in the module: ``f``, ``C``, ``C.m``, ``f.inner``."""
    names: set[str] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                names.add(name)
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text(), filename=str(path)), "")
    return frozenset(names)


@cache
def python_files() -> tuple[Path, ...]:
    return tuple(
        p for p in sorted(ROOT.rglob("*.py")) if not SKIP_DIRS.intersection(p.relative_to(ROOT).parts)
    )


def defined_elsewhere(qualname: str) -> list[str]:
    """Where ``qualname`` is defined now (else a method or function of the same last name), to
    say where a moved function went."""
    exact = [f"{rel(p)}:{qualname}" for p in python_files() if qualname in defined_names(p)]
    if exact:
        return exact
    last = qualname.rsplit(".", 1)[-1]
    return [
        f"{rel(p)}:{name}"
        for p in python_files()
        for name in sorted(defined_names(p))
        if name == last or name.endswith(f".{last}")
    ][:5]


def test_symbol_references_exist() -> None:
    stale = []
    for page in PAGES:
        for number, line in all_lines(page):
            for file, qualname in SYMBOL_REF.findall(line):
                path = ROOT / file
                where = f"{rel(page)}:{number}: {file}:{qualname}"
                if not path.is_file():
                    problem = f"{file} does not exist"
                elif qualname not in defined_names(path):
                    problem = f"no function or class {qualname!r} in {file}"
                else:
                    continue
                moved = defined_elsewhere(qualname)
                hint = f"; now defined at {', '.join(moved)}" if moved else "; defined nowhere now"
                stale.append(f"{where} -> {problem}{hint}")
    assert not stale, f"{len(stale)} stale file:function references:\n" + "\n".join(stale)


def same_name(file: str) -> list[str]:
    """Files now named like ``file`` (by its last two path parts for ``__init__.py``)."""
    parts = Path(file).parts[-2:] if Path(file).name == "__init__.py" else Path(file).parts[-1:]
    return [rel(p) for p in python_files() if p.parts[-len(parts) :] == parts]


def test_code_paths_exist() -> None:
    missing = []
    # docs/config.md quotes the models' and academy.yaml's comments verbatim: a stale path there is
    # fixed in the code, and is not this page's to check.
    for page in [p for p in PAGES if p != CONFIG_PAGE]:
        for number, line in all_lines(page):
            for file in CODE_PATH.findall(line):
                if not (ROOT / file).is_file():
                    moved = same_name(file)
                    hint = f" (now: {', '.join(moved)})" if moved else ""
                    missing.append(f"{rel(page)}:{number}: {file} does not exist{hint}")
    assert not missing, f"{len(missing)} paths to missing files:\n" + "\n".join(missing)
