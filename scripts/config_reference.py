"""Write docs/config.md: every key of ``academy.yaml``, generated from ``academy.config.AcademyConfig``.

One table per config section (a pydantic model), one row per key: its type and bounds, the model's
default, the value ``academy.yaml`` sets (if any) and a description. The description is the field's
pydantic ``description``, else the comment beside or above the field in the model's source, else the
comment beside or above the key in ``academy.yaml``. Sections take the model's docstring, else the
comment above the section in ``academy.yaml``.

The output depends only on the models and ``academy.yaml`` (no dates, no paths of this machine), so
running it twice gives the same file; ``tests/test_docs.py`` checks docs/config.md against it.

    .venv/bin/python scripts/config_reference.py           # write docs/config.md
    .venv/bin/python scripts/config_reference.py --check   # exit 1 if docs/config.md is stale
    .venv/bin/python scripts/config_reference.py --stdout  # print instead of writing
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import json
import re
import sys
import textwrap
import tokenize
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: import the checkout it lives in
    sys.path.insert(0, str(ROOT))

from academy.config import AcademyConfig  # noqa: E402

OUT = ROOT / "docs" / "config.md"
YAML_FILE = ROOT / "academy.yaml"
# Tool directives are not documentation.
DIRECTIVE = re.compile(r"^(fmt:|noqa|type:|pragma)")


# --- comments in the models' source ------------------------------------------------------------


def comment_lines(source: str) -> dict[int, str]:
    """Line number (1-based) -> the text of the comment on that line."""
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text = tok.string.lstrip("#").strip()
            if text and not DIRECTIVE.match(text):
                comments[tok.start[0]] = text
    return comments


def source_comments(cls: type) -> dict[str, str]:
    """Field name -> the comment block right above its definition plus the comment on its lines."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    comments = comment_lines(source)
    (node,) = ast.parse(source).body
    found: dict[str, str] = {}
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        above: list[str] = []
        line = stmt.lineno - 1
        while line >= 1 and lines[line - 1].strip().startswith("#"):
            if line in comments:
                above.insert(0, comments[line])
            line -= 1
        beside = [
            comments[n] for n in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1) if n in comments
        ]
        text = " ".join(above + beside).strip()
        if text:
            found[stmt.target.id] = text
    return found


def field_comment(model: type[BaseModel], name: str) -> str:
    """The source comment of ``name`` in the class (of the model's MRO) that declares it."""
    for cls in model.__mro__:
        if name in cls.__dict__.get("__annotations__", {}):
            return source_comments(cls).get(name, "")
    return ""


def own_doc(model: type[BaseModel]) -> str:
    """The model's own docstring (not one inherited from a base section)."""
    doc = model.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if doc else ""


# --- comments in academy.yaml ------------------------------------------------------------------

KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][\w-]*):(.*)$")


def split_comment(rest: str) -> tuple[str, str]:
    """``value  # comment`` -> (value, comment), ignoring ``#`` inside quotes."""
    quote = ""
    for i, char in enumerate(rest):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or rest[i - 1].isspace()):
            return rest[:i].rstrip(), rest[i + 1 :].strip()
    return rest.rstrip(), ""


def yaml_comments(text: str) -> dict[str, str]:
    """Dotted key -> its comment in the YAML file: the comment lines right above the key (no blank
    line between) and the comment after its value, continued on more-indented comment lines below."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    last: tuple[int, str] | None = None  # (indent, dotted key) of the previous key line
    for raw in text.splitlines():
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        if not stripped:
            pending, last = [], None
            continue
        if stripped.startswith("#"):
            comment = stripped.lstrip("#").strip()
            if last is not None and indent > last[0] and last[1] in found:
                found[last[1]] += " " + comment  # a trailing comment continued below its key
            else:
                pending.append(comment)
                last = None
            continue
        match = KEY_LINE.match(raw)
        if match is None:  # a list item or a continued value: no key of its own
            pending, last = [], None
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([key for _, key in stack] + [match.group(2)])
        stack.append((indent, match.group(2)))
        _, trailing = split_comment(match.group(3))
        text_ = " ".join(pending + ([trailing] if trailing else [])).strip()
        if text_:
            found[dotted] = text_
        pending = []
        last = (indent, dotted) if trailing else None
    return found


def yaml_value(data: Any, dotted: str) -> tuple[bool, Any]:
    """(whether academy.yaml sets ``dotted``, the value it sets)."""
    node = data
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


# --- rendering -------------------------------------------------------------------------------


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def type_name(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"
    if tp is Any:
        return "Any"
    if tp is type(None):
        return "None"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def bounds(info: FieldInfo) -> str:
    """The field's constraints: ``x ≥ 1``, ``0 < x < 1``, ``length ≥ 1``."""
    low = high = None  # (operator as written left of x, bound)
    extra = []
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            low = ("≤", meta.ge)
        elif isinstance(meta, annotated_types.Gt):
            low = ("<", meta.gt)
        elif isinstance(meta, annotated_types.Le):
            high = ("≤", meta.le)
        elif isinstance(meta, annotated_types.Lt):
            high = ("<", meta.lt)
        elif isinstance(meta, annotated_types.MinLen):
            extra.append(f"length ≥ {meta.min_length}")
    if low and high:
        extra.insert(0, f"{plain(low[1])} {low[0]} x {high[0]} {plain(high[1])}")
    elif low:
        extra.insert(0, f"x {'≥' if low[0] == '≤' else '>'} {plain(low[1])}")
    elif high:
        extra.insert(0, f"x {high[0]} {plain(high[1])}")
    return ", ".join(extra)


def plain(value: Any) -> str:
    """A value as YAML would read it back, compactly (JSON flow style)."""
    return json.dumps(to_jsonable_python(value), ensure_ascii=False)


def default_of(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return plain(info.default_factory())
    if info.default is PydanticUndefined:
        return "required"
    return plain(info.default)


def prose(text: str) -> str:
    """reST-style double backticks (docstrings) as Markdown code spans."""
    return text.replace("``", "`")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def type_cell(info: FieldInfo) -> str:
    limit = bounds(info)
    return code(type_name(info.annotation)) + (f" ({cell(limit)})" if limit else "")


def code(text: str) -> str:
    return f"`{cell(text)}`" if text else ""


@dataclass
class Section:
    path: str  # dotted key (``router.evidence``); ``models[]`` / ``gateway.tiers.<name>`` for items
    model: type[BaseModel]
    items_of: str | None = None  # the list or mapping key whose items this section describes
    rows: list[tuple[str, FieldInfo]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"`{self.path}`" if self.path else "(top level)"

    def key(self, name: str) -> str | None:
        """The dotted key of a row in academy.yaml (None for the items of a list or mapping)."""
        if self.items_of is not None:
            return None
        return f"{self.path}.{name}" if self.path else name


def collect(model: type[BaseModel], path: str, out: list[Section], items_of: str | None = None) -> None:
    """Depth-first, in declaration order: a section, then the sections nested in it."""
    section = Section(path, model, items_of)
    out.append(section)
    nested: list[tuple[str, type[BaseModel], str | None]] = []
    for name, info in model.model_fields.items():
        tp = info.annotation
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        key = f"{path}.{name}" if path else name
        if is_model(tp):
            nested.append((key, tp, items_of))
            continue
        section.rows.append((name, info))
        if origin is list and args and is_model(args[0]):
            nested.append((f"{key}[]", args[0], key))
        elif origin is dict and len(args) == 2 and is_model(args[1]):
            nested.append((f"{key}.<name>", args[1], key))
    for key, sub, sub_items_of in nested:
        collect(sub, key, out, sub_items_of)


def anchor(title: str) -> str:
    """GitHub's heading anchor for ``title``."""
    slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
    return slug


def render() -> str:
    yaml_text = YAML_FILE.read_text()
    yaml_data = yaml.safe_load(yaml_text) or {}
    yaml_notes = yaml_comments(yaml_text)
    sections: list[Section] = []
    collect(AcademyConfig, "", sections)

    lines = [
        "<!-- Generated by scripts/config_reference.py from academy.config.AcademyConfig and academy.yaml."
        " Do not edit: run `.venv/bin/python scripts/config_reference.py`. -->",
        "",
        "# Config reference",
        "",
        "Academy reads one YAML file, `academy.yaml` (or the file `ACADEMY_CONFIG` / `--config` names),",
        "into `academy.config.AcademyConfig`. Unknown keys are errors. CLI flags override single keys",
        "(`--home`, `--port`, ...); `academy config show [--profile cluster] [--json]` prints the effective",
        "values. The keys that matter most are in the [README](../README.md#configuration); what the",
        "sections do is in [architecture](architecture.md) and [nightly evolution](nightly-evolution.md).",
        "",
        "Columns: **default** is the model's default (what a key left out of the file gets);",
        "**academy.yaml** is what the shipped file sets, when it sets the key. Bounds use `x` for the value.",
        "",
        "## Sections",
        "",
    ]
    lines += [f"- [{s.title}](#{anchor(s.title)})" for s in sections]
    lines.append("")

    for section in sections:
        lines += [f"## {section.title}", ""]
        doc = own_doc(section.model) or (yaml_notes.get(section.path, "") if section.items_of is None else "")
        if doc:
            lines += [prose(doc), ""]
        items = section.items_of is not None
        if items:
            lines += [f"Each item of `{section.items_of}` is a `{section.model.__name__}`.", ""]
        if section.rows:
            header = ["key", "type", "default"] + ([] if items else ["academy.yaml"]) + ["description"]
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for name, info in section.rows:
                row = [f"`{name}`", type_cell(info), code(default_of(info))]
                dotted = section.key(name)
                if dotted is not None:
                    is_set, value = yaml_value(yaml_data, dotted)
                    item_section = next((s for s in sections if s.items_of == dotted), None)
                    if is_set and item_section is not None:
                        row.append(f"see [{item_section.title}](#{anchor(item_section.title)})")
                    else:
                        row.append(code(plain(value)) if is_set else "")
                note = info.description or field_comment(section.model, name)
                if not note and dotted is not None:
                    note = yaml_notes.get(dotted, "")
                row.append(cell(prose(note)))
                lines.append("| " + " | ".join(row) + " |")
            lines.append("")
        if items:
            is_set, value = yaml_value(yaml_data, section.items_of)
            if is_set:
                leaf = section.items_of.rsplit(".", 1)[-1]
                dumped = yaml.safe_dump({leaf: value}, sort_keys=False, width=100).rstrip()
                lines += [f"`academy.yaml` sets `{section.items_of}` to:", "", "```yaml", dumped, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if docs/config.md differs")
    mode.add_argument("--stdout", action="store_true", help="print the reference instead of writing it")
    args = parser.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run .venv/bin/python scripts/config_reference.py")
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
