"""The school's query templates and their parsers.

Every template is a format string with named slots. The generator fills the slots; the parser
recovers them with a regex compiled here from the same template, over the query's normal form.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass

from academy.school.domains import _COUNTRY_BY_KEY, _UNIT_ALIASES
from academy.school.examples import normalize_query

# (kind, template) per domain. The kind picks the solver's operation (add/sub, larger/yes-no).
_TEMPLATE_TABLE: dict[str, tuple[tuple[str, str], ...]] = {
    "arithmetic": (
        ("add", "What is {a} plus {b}?"),
        ("add", "Add {a} and {b}."),
        ("add", "Compute {a} + {b}."),
        ("add", "{a} + {b} = ?"),
        ("add", "What is the sum of {a} and {b}?"),
        ("add", "What is {a} + {b}?"),
        ("sub", "What is {a} minus {b}?"),
        ("sub", "Subtract {b} from {a}."),
        ("sub", "Compute {a} - {b}."),
        ("sub", "{a} - {b} = ?"),
        ("sub", "Take {b} away from {a}."),
        ("sub", "What is {a} - {b}?"),
    ),
    "units": (
        ("convert", "Convert {n} {src} to {dst}."),
        ("convert", "How many {dst} are in {n} {src}?"),
        ("convert", "Express {n} {src} in {dst}."),
        ("convert", "What is {n} {src} in {dst}?"),
        ("convert", "{n} {src} equals how many {dst}?"),
    ),
    "reverse": (
        ("reverse", "Reverse the word {word}."),
        ("reverse", "Spell {word} backwards."),
        ("reverse", "What is {word} reversed?"),
        ("reverse", "Write {word} in reverse."),
        ("reverse", "Reverse {word}."),
    ),
    "capitals": (
        ("capital", "What is the capital of {country}?"),
        ("capital", "Name the capital of {country}."),
        ("capital", "Which city is the capital of {country}?"),
        ("capital", "What city is {country}'s capital?"),
        ("capital", "Tell me the capital of {country}."),
    ),
    "sorting": (
        ("sort", "Sort {numbers} in ascending order."),
        ("sort", "Arrange {numbers} from smallest to largest."),
        ("sort", "Put {numbers} in increasing order."),
        ("sort", "Sort these numbers: {numbers}."),
        ("sort", "Order {numbers} from lowest to highest."),
    ),
    "compare": (
        ("larger", "Which is larger, {a} or {b}?"),
        ("larger", "Which number is bigger: {a} or {b}?"),
        ("larger", "What is the larger of {a} and {b}?"),
        ("larger", "Which is greater, {a} or {b}?"),
        ("greater", "Is {a} greater than {b}?"),
        ("greater", "Is {a} larger than {b}?"),
        ("greater", "Is {a} bigger than {b}?"),
        ("greater", "Is {a} more than {b}?"),
    ),
}


def _alternation(names: Iterable[str]) -> str:
    """Longest first, so "north korea" is tried before any shorter name it starts with."""
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))


# Slot regexes over the normalised (lowercase) query. Countries are an alternation of known names:
# they contain spaces, and an unknown country must not match (so lookup says "don't know").
_SLOT_REGEX: dict[str, str] = {
    "a": r"(?P<a>\d+)",
    "b": r"(?P<b>\d+)",
    "n": r"(?P<n>\d+(?:\.\d+)?)",
    "src": rf"(?P<src>{_alternation(_UNIT_ALIASES)})",
    "dst": rf"(?P<dst>{_alternation(_UNIT_ALIASES)})",
    "word": r"['\"]?(?P<word>[a-z]+)['\"]?",
    "country": rf"(?:the )?(?P<country>{_alternation(_COUNTRY_BY_KEY)})",
    "numbers": r"(?P<numbers>\d+(?:(?: ?, ?| and | ?, and )\d+)+)",
}


# --------------------------------------------------------------------------------------------------
# Template compilation


@dataclass(frozen=True)
class _Template:
    domain: str
    kind: str
    text: str
    pattern: re.Pattern[str]


def _literal_regex(literal: str) -> str:
    """Escape a template's literal text; a space next to a symbol is optional ("57+25" == "57 + 25")."""
    out: list[str] = []
    for i, char in enumerate(literal):
        if char != " ":
            out.append(re.escape(char))
            continue
        before = literal[i - 1] if i > 0 else "a"  # a slot boundary counts as a word character
        after = literal[i + 1] if i + 1 < len(literal) else "a"
        out.append(" " if before.isalnum() and after.isalnum() else " ?")
    return "".join(out)


def _compile(template: str) -> re.Pattern[str]:
    """A regex matching the template's normalised form in full, with one named group per slot."""
    parts: list[str] = []
    for literal, field, _spec, _conversion in string.Formatter().parse(normalize_query(template)):
        parts.append(_literal_regex(literal))
        if field is not None:
            parts.append(_SLOT_REGEX[field])
    return re.compile("".join(parts))


_TEMPLATES: dict[str, tuple[_Template, ...]] = {
    domain: tuple(_Template(domain, kind, text, _compile(text)) for kind, text in table)
    for domain, table in _TEMPLATE_TABLE.items()
}


_PLAIN_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _match_form(query: str) -> str:
    """The normalised query with typographic quotes made plain, so "France’s" matches "France's"."""
    return normalize_query(query).translate(_PLAIN_QUOTES)
