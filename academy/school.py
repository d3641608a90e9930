"""The school: Academy's embedded default world.

A seeded generator of synthetic queries small enough for a ~1M-parameter student to learn, each with
a gold answer and a worked reasoning string, plus a parser that answers any query written in one of
its templates. It exists so routing, judging and distillation run end to end offline, with exact
references and no external data set.

Every template is a format string with named slots. The generator fills the slots; the parser
recovers them with a regex compiled from the same template; both hand the parsed slots to the same
per-domain solver. So a generated query always looks up to the same reference, by construction.

Every reasoning string ends with ``"; answer <reference>"``: one uniform marker lets a student's
output be cut down to its final answer (``answer_from_reasoning``) whatever the domain.
"""

from __future__ import annotations

import json
import math
import random
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from academy.config import SchoolConfig

__all__ = [
    "CAPITALS",
    "DOMAINS",
    "WORDS",
    "Example",
    "ReferenceSource",
    "School",
    "TraceError",
    "TraceSource",
    "answer_from_reasoning",
    "normalize_query",
    "read_trace",
    "write_trace",
]

DOMAINS: tuple[str, ...] = ("arithmetic", "units", "reverse", "capitals", "sorting", "compare")
ANSWER_MARKER = "; answer "
# "=" is included so "57 + 25 = ?", "57 + 25 =" and "57 + 25" are the same query.
_TRAILING_PUNCTUATION = "?.!;:,= "


# --------------------------------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True)
class Example:
    """One query with its gold answer; ``reasoning`` is the worked solution a student learns to write."""

    query: str
    reference: str
    domain: str | None = None
    reasoning: str | None = None

    def to_json(self) -> dict[str, str]:
        """The trace-line form. None fields are left out so traces from other sources stay minimal."""
        data = {"query": self.query, "reference": self.reference}
        if self.domain is not None:
            data["domain"] = self.domain
        if self.reasoning is not None:
            data["reasoning"] = self.reasoning
        return data


@runtime_checkable
class ReferenceSource(Protocol):
    """Anything that knows the gold answer for some queries (the reference judge and backend ask one)."""

    def lookup(self, query: str) -> Example | None: ...


class TraceError(ValueError):
    """A JSONL trace line is unusable; the message says ``file:line: what is wrong``."""


def normalize_query(text: str) -> str:
    """Lowercase, collapse whitespace, drop trailing punctuation.

    Queries arrive from users and models with arbitrary casing, spacing and a "?" or not; matching on
    this form makes all of those the same query.
    """
    return " ".join(text.split()).lower().rstrip(_TRAILING_PUNCTUATION)


def answer_from_reasoning(text: str) -> str:
    """The final answer in a worked reasoning: what follows the last ``answer``, else the whole text.

    The student is trained to write reasoning; this is how its output becomes a gradable answer.
    """
    _head, marker, tail = text.rpartition("answer ")
    answer = tail if marker else text
    return answer.strip().rstrip(".").strip()


# --------------------------------------------------------------------------------------------------
# Constant tables

WORDS: tuple[str, ...] = tuple(
    """
    apple table chair house water river mountain garden window door bread butter cheese orange banana
    grape lemon melon carrot potato tomato onion pepper salt sugar coffee tea milk honey cookie pencil
    paper book letter story music guitar piano violin drum song dance dream sleep night morning
    evening summer winter spring autumn rain snow cloud storm thunder sun moon star planet earth ocean
    island beach forest desert valley bridge road street city village school teacher student doctor
    farmer pilot driver singer painter friend family mother father sister brother child baby people
    animal tiger lion zebra horse rabbit mouse kitten puppy monkey turtle eagle parrot spider bee fish
    shark whale dolphin camel donkey sheep goat chicken duck green yellow purple silver golden black
    white brown happy quiet simple strong little bright gentle clever brave honest jump run walk climb
    swim write read think laugh smile travel build listen speak open close market money basket bottle
    candle mirror pillow blanket jacket shirt shoe glove hat ticket rocket engine camera phone laptop
    screen button circle square number answer question lesson winner castle dragon wizard knight queen
    king prince flower tree leaf grass stone sand fire wind ice light shadow voice heart hand finger
    elbow shoulder
    """.split()  # noqa: SIM905 -- a word list reads better as prose than as 200 quoted strings
)

CAPITALS: Mapping[str, str] = {
    "Afghanistan": "Kabul",
    "Albania": "Tirana",
    "Algeria": "Algiers",
    "Angola": "Luanda",
    "Argentina": "Buenos Aires",
    "Armenia": "Yerevan",
    "Australia": "Canberra",
    "Austria": "Vienna",
    "Azerbaijan": "Baku",
    "Bangladesh": "Dhaka",
    "Belarus": "Minsk",
    "Belgium": "Brussels",
    "Bulgaria": "Sofia",
    "Cambodia": "Phnom Penh",
    "Canada": "Ottawa",
    "Chile": "Santiago",
    "China": "Beijing",
    "Croatia": "Zagreb",
    "Cuba": "Havana",
    "Cyprus": "Nicosia",
    "Czechia": "Prague",
    "Denmark": "Copenhagen",
    "Ecuador": "Quito",
    "Egypt": "Cairo",
    "Estonia": "Tallinn",
    "Ethiopia": "Addis Ababa",
    "Finland": "Helsinki",
    "France": "Paris",
    "Georgia": "Tbilisi",
    "Germany": "Berlin",
    "Ghana": "Accra",
    "Greece": "Athens",
    "Hungary": "Budapest",
    "India": "New Delhi",
    "Iran": "Tehran",
    "Iraq": "Baghdad",
    "Ireland": "Dublin",
    "Italy": "Rome",
    "Jamaica": "Kingston",
    "Japan": "Tokyo",
    "Jordan": "Amman",
    "Kazakhstan": "Astana",
    "Kenya": "Nairobi",
    "Laos": "Vientiane",
    "Latvia": "Riga",
    "Lebanon": "Beirut",
    "Lithuania": "Vilnius",
    "Luxembourg": "Luxembourg",
    "Malaysia": "Kuala Lumpur",
    "Malta": "Valletta",
    "Mexico": "Mexico City",
    "Mongolia": "Ulaanbaatar",
    "Morocco": "Rabat",
    "Nepal": "Kathmandu",
    "Netherlands": "Amsterdam",
    "New Zealand": "Wellington",
    "Nigeria": "Abuja",
    "North Korea": "Pyongyang",
    "Norway": "Oslo",
    "Oman": "Muscat",
    "Pakistan": "Islamabad",
    "Peru": "Lima",
    "Philippines": "Manila",
    "Poland": "Warsaw",
    "Portugal": "Lisbon",
    "Qatar": "Doha",
    "Romania": "Bucharest",
    "Russia": "Moscow",
    "Saudi Arabia": "Riyadh",
    "Senegal": "Dakar",
    "Serbia": "Belgrade",
    "Singapore": "Singapore",
    "Slovakia": "Bratislava",
    "Slovenia": "Ljubljana",
    "South Korea": "Seoul",
    "Spain": "Madrid",
    "Sudan": "Khartoum",
    "Sweden": "Stockholm",
    "Syria": "Damascus",
    "Thailand": "Bangkok",
    "Tunisia": "Tunis",
    "Turkey": "Ankara",
    "Uganda": "Kampala",
    "Ukraine": "Kyiv",
    "United Kingdom": "London",
    "Uruguay": "Montevideo",
    "Venezuela": "Caracas",
    "Vietnam": "Hanoi",
    "Zambia": "Lusaka",
    "Zimbabwe": "Harare",
}
# Names that read naturally with "the" ("the capital of the Netherlands"); lookup accepts either.
_WITH_THE = frozenset({"Netherlands", "Philippines", "United Kingdom"})
_COUNTRY_ALIASES = {
    "uk": "United Kingdom",
    "great britain": "United Kingdom",
    "britain": "United Kingdom",
    "holland": "Netherlands",
    "czech republic": "Czechia",
    "turkiye": "Turkey",
}
_COUNTRY_BY_KEY = {name.lower(): name for name in CAPITALS} | _COUNTRY_ALIASES
_COUNTRY_NAMES: tuple[str, ...] = tuple(CAPITALS)


@dataclass(frozen=True)
class _Unit:
    dimension: str
    factor: int  # in the dimension's smallest unit, so any two units of a dimension convert exactly
    singular: str
    plural: str


_UNITS: dict[str, _Unit] = {
    "km": _Unit("length", 100_000, "km", "km"),
    "m": _Unit("length", 100, "m", "m"),
    "cm": _Unit("length", 1, "cm", "cm"),
    "kg": _Unit("mass", 1000, "kg", "kg"),
    "g": _Unit("mass", 1, "g", "g"),
    "hour": _Unit("time", 3600, "hour", "hours"),
    "minute": _Unit("time", 60, "minute", "minutes"),
    "second": _Unit("time", 1, "second", "seconds"),
    "litre": _Unit("volume", 1000, "litre", "litres"),
    "ml": _Unit("volume", 1, "ml", "ml"),
}
_UNIT_ALIASES: dict[str, str] = {
    **{alias: "km" for alias in ("km", "kilometre", "kilometres", "kilometer", "kilometers")},
    **{alias: "m" for alias in ("m", "metre", "metres", "meter", "meters")},
    **{alias: "cm" for alias in ("cm", "centimetre", "centimetres", "centimeter", "centimeters")},
    **{alias: "kg" for alias in ("kg", "kilogram", "kilograms", "kilo", "kilos")},
    **{alias: "g" for alias in ("g", "gram", "grams")},
    **{alias: "hour" for alias in ("hour", "hours", "hr", "hrs", "h")},
    **{alias: "minute" for alias in ("minute", "minutes", "min", "mins")},
    **{alias: "second" for alias in ("second", "seconds", "sec", "secs", "s")},
    **{alias: "litre" for alias in ("litre", "litres", "liter", "liters", "l")},
    **{alias: "ml" for alias in ("ml", "millilitre", "millilitres", "milliliter", "milliliters")},
}
# The generator only asks conversions whose result is an integer for every integer amount.
_UNIT_PAIRS: tuple[tuple[str, str], ...] = (
    ("km", "m"),
    ("m", "cm"),
    ("kg", "g"),
    ("hour", "minute"),
    ("minute", "second"),
    ("litre", "ml"),
)

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


# --------------------------------------------------------------------------------------------------
# Solvers: parsed slots -> (reference, reasoning), or None when the query cannot be answered.

Solution = tuple[str, str]
_PLACES = ("ones", "tens", "hundreds", "thousands")


def _with_answer(steps: str, reference: str) -> Solution:
    return reference, f"{steps}{ANSWER_MARKER}{reference}"


def _place(i: int) -> str:
    return _PLACES[i] if i < len(_PLACES) else f"10^{i}"


def _digits(value: int, width: int) -> list[int]:
    """Digits least significant first, zero-padded to ``width`` columns."""
    return [int(d) for d in reversed(str(value).zfill(width))]


def _addition_steps(a: int, b: int) -> str:
    """Column addition, ones first; the last column writes its whole sum (the final carry included)."""
    width = max(len(str(a)), len(str(b)))
    steps, carry = [], 0
    for i, (x, y) in enumerate(zip(_digits(a, width), _digits(b, width), strict=True)):
        total = x + y + carry
        expr = f"{x} + {y}" + (" + 1" if carry else "")
        if i == width - 1:
            steps.append(f"{_place(i)}: {expr} = {total}, write {total}")
        else:
            steps.append(
                f"{_place(i)}: {expr} = {total}, write {total % 10}" + (" carry 1" if total > 9 else "")
            )
        carry = total // 10
    return "; ".join(steps)


def _subtraction_steps(a: int, b: int) -> str:
    """Column subtraction of ``b`` from ``a >= b``, borrowing 10 from the next column when needed."""
    width = len(str(a))
    steps, borrow = [], 0
    for i, (x, y) in enumerate(zip(_digits(a, width), _digits(b, width), strict=True)):
        owed = " - 1" if borrow else ""
        if x - borrow < y:
            result = x + 10 - borrow - y
            steps.append(f"{_place(i)}: borrow, {x + 10}{owed} - {y} = {result}, write {result}")
            borrow = 1
        else:
            result = x - borrow - y
            steps.append(f"{_place(i)}: {x}{owed} - {y} = {result}, write {result}")
            borrow = 0
    return "; ".join(steps)


def _solve_arithmetic(kind: str, slots: Mapping[str, str]) -> Solution | None:
    a, b = int(slots["a"]), int(slots["b"])
    if kind == "add":
        return _with_answer(_addition_steps(a, b), str(a + b))
    if a >= b:
        return _with_answer(_subtraction_steps(a, b), str(a - b))
    # Out of the generator's range (it keeps a >= b), but computable: subtract the other way, negate.
    return _with_answer(f"{b} > {a}, so negate {b} - {a}; {_subtraction_steps(b, a)}", str(a - b))


def _format_number(value: Fraction) -> str | None:
    """Integer or terminating decimal text; None for a repeating decimal (no short exact answer)."""
    if value.denominator == 1:
        return str(value.numerator)
    rest = value.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest != 1:
        return None
    return format((Decimal(value.numerator) / Decimal(value.denominator)).normalize(), "f")


def _solve_units(kind: str, slots: Mapping[str, str]) -> Solution | None:
    src, dst = _UNITS[_UNIT_ALIASES[slots["src"]]], _UNITS[_UNIT_ALIASES[slots["dst"]]]
    if src.dimension != dst.dimension:
        return None
    amount = Fraction(slots["n"])
    ratio = Fraction(src.factor, dst.factor)
    result, amount_text = _format_number(amount * ratio), _format_number(amount)
    if result is None or amount_text is None:
        return None
    if ratio.denominator == 1:
        rate = f"1 {src.singular} = {ratio} {dst.singular if ratio == 1 else dst.plural}"
        return _with_answer(f"{rate}; {amount_text} * {ratio} = {result}", result)
    rate = f"1 {dst.singular} = {ratio.denominator} {src.plural}"
    return _with_answer(f"{rate}; {amount_text} / {ratio.denominator} = {result}", result)


def _solve_reverse(kind: str, slots: Mapping[str, str]) -> Solution:
    word = slots["word"]
    backwards = word[::-1]
    return _with_answer(f"{'-'.join(word)} reversed is {'-'.join(backwards)}", backwards)


def _country_display(name: str) -> str:
    return f"the {name}" if name in _WITH_THE else name


def _solve_capitals(kind: str, slots: Mapping[str, str]) -> Solution:
    country = _COUNTRY_BY_KEY[slots["country"]]
    capital = CAPITALS[country]
    return _with_answer(f"The capital of {_country_display(country)} is {capital}", capital)


def _solve_sorting(kind: str, slots: Mapping[str, str]) -> Solution:
    """Selection sort spelled out: take the smallest remaining number, then the next, ..."""
    ordered = sorted(int(n) for n in re.findall(r"\d+", slots["numbers"]))
    steps = "; ".join([f"smallest {ordered[0]}", *(f"then {n}" for n in ordered[1:])])
    return _with_answer(steps, ", ".join(map(str, ordered)))


def _comparison_steps(a: int, b: int) -> str:
    """More digits wins; with equal length, the first differing digit from the left decides."""
    left, right = str(a), str(b)
    if len(left) != len(right):
        return f"{len(left)} vs {len(right)} digits"
    steps = []
    for x, y in zip(left, right, strict=True):
        if x == y:
            steps.append(f"{x}={y}")
        else:
            steps.append(f"{x}{'>' if x > y else '<'}{y}")
            break
    return ", ".join(steps)


def _solve_compare(kind: str, slots: Mapping[str, str]) -> Solution:
    a, b = int(slots["a"]), int(slots["b"])
    relation = ">" if a > b else "<" if a < b else "="
    steps = f"{_comparison_steps(a, b)} so {a} {relation} {b}"
    reference = str(max(a, b)) if kind == "larger" else ("yes" if a > b else "no")
    return _with_answer(steps, reference)


_SOLVERS: dict[str, Callable[[str, Mapping[str, str]], Solution | None]] = {
    "arithmetic": _solve_arithmetic,
    "units": _solve_units,
    "reverse": _solve_reverse,
    "capitals": _solve_capitals,
    "sorting": _solve_sorting,
    "compare": _solve_compare,
}


# --------------------------------------------------------------------------------------------------
# Samplers: rng -> slot values, kept inside the range a tiny student can learn.


def _sample_arithmetic(rng: random.Random, kind: str) -> dict[str, str]:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    if kind == "sub" and a < b:
        a, b = b, a  # the student only learns non-negative differences
    return {"a": str(a), "b": str(b)}


def _sample_units(rng: random.Random, kind: str) -> dict[str, str]:
    src, dst = rng.choice(_UNIT_PAIRS)
    amount = rng.randint(1, 30)
    source = _UNITS[src].singular if amount == 1 else _UNITS[src].plural
    return {"n": str(amount), "src": source, "dst": _UNITS[dst].plural}


def _sample_reverse(rng: random.Random, kind: str) -> dict[str, str]:
    return {"word": rng.choice(WORDS)}


def _sample_capitals(rng: random.Random, kind: str) -> dict[str, str]:
    return {"country": _country_display(rng.choice(_COUNTRY_NAMES))}


def _sample_sorting(rng: random.Random, kind: str) -> dict[str, str]:
    numbers = rng.sample(range(100), rng.randint(3, 5))
    return {"numbers": ", ".join(map(str, numbers))}


def _sample_compare(rng: random.Random, kind: str) -> dict[str, str]:
    a = rng.randrange(1000)
    b = rng.randrange(999)
    b += b >= a  # uniform over the numbers other than a: ties have no "larger" to learn
    return {"a": str(a), "b": str(b)}


_SAMPLERS: dict[str, Callable[[random.Random, str], dict[str, str]]] = {
    "arithmetic": _sample_arithmetic,
    "units": _sample_units,
    "reverse": _sample_reverse,
    "capitals": _sample_capitals,
    "sorting": _sample_sorting,
    "compare": _sample_compare,
}


def _solve(template: _Template, query: str, form: str) -> Example | None:
    """The example for ``query`` if its match form fits ``template`` and the solver can answer it."""
    match = template.pattern.fullmatch(form)
    if match is None:
        return None
    solution = _SOLVERS[template.domain](template.kind, match.groupdict())
    if solution is None:
        return None
    reference, reasoning = solution
    return Example(query=query, reference=reference, domain=template.domain, reasoning=reasoning)


# --------------------------------------------------------------------------------------------------
# The school


def _check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"unknown school domain {domain!r}; valid domains: {', '.join(DOMAINS)}")


class School:
    """Generates seeded examples of its domains and answers any query written in their templates.

    ``lookup`` only considers the school's own ``domains``: a school configured without a domain
    does not know its answers, just as it never generates its queries.
    """

    def __init__(self, seed: int = 0, domains: Sequence[str] = DOMAINS) -> None:
        if isinstance(domains, str):
            raise TypeError("domains must be a sequence of domain names, not a string")
        for domain in domains:
            _check_domain(domain)
        if not domains:
            raise ValueError(f"a school needs at least one domain; valid domains: {', '.join(DOMAINS)}")
        self.seed = seed
        self.domains: tuple[str, ...] = tuple(dict.fromkeys(domains))

    @classmethod
    def from_config(cls, config: SchoolConfig) -> School:
        return cls(seed=config.seed, domains=config.domains)

    def __repr__(self) -> str:
        return f"School(seed={self.seed}, domains={list(self.domains)})"

    def generate(
        self,
        n: int,
        mix: Mapping[str, float] | None = None,
        seed: int | None = None,
        phrasing: Mapping[str, Sequence[int]] | None = None,
    ) -> list[Example]:
        """``n`` examples, each domain drawn with probability proportional to its ``mix`` weight.

        ``phrasing`` (domain -> template indices) restricts a domain to some of its templates: the
        demo's phrasing drift is a domain switching to wordings its traffic never used before.
        Deterministic for the seed (``seed`` if given, else the school's), so data sets rebuild exactly.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        names, weights = self._weights(mix)
        templates = self._phrasing(phrasing or {})
        rng = random.Random(self.seed if seed is None else seed)
        return [
            self._sample(domain, rng, templates.get(domain))
            for domain in rng.choices(names, weights=weights, k=n)
        ]

    def generate_domain(self, domain: str, n: int, seed: int | None = None) -> list[Example]:
        """``n`` examples of one domain (templates drawn uniformly), deterministic for the seed."""
        self._check_enabled(domain)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        rng = random.Random(self.seed if seed is None else seed)
        return [self._sample(domain, rng) for _ in range(n)]

    def lookup(self, query: str) -> Example | None:
        """Parse ``query`` against every template of the school's domains, in order, and answer it.

        Operands outside the generator's range are still answered when computable ("123 plus 456");
        None when no template matches (unrelated text, unknown country, incompatible units).
        """
        form = _match_form(query)
        for domain in self.domains:
            for template in _TEMPLATES[domain]:
                example = _solve(template, query, form)
                if example is not None:
                    return example
        return None

    def templates(self, domain: str) -> list[str]:
        """The domain's query templates, as format strings with named slots."""
        _check_domain(domain)
        return [template.text for template in _TEMPLATES[domain]]

    def _check_enabled(self, domain: str) -> None:
        _check_domain(domain)
        if domain not in self.domains:
            raise ValueError(f"domain {domain!r} is not one of this school's domains {list(self.domains)}")

    def _weights(self, mix: Mapping[str, float] | None) -> tuple[list[str], list[float]]:
        """Validated (domains, weights); an omitted domain gets weight 0, a missing mix is uniform."""
        if mix is None:
            return list(self.domains), [1.0] * len(self.domains)
        for domain, weight in mix.items():
            self._check_enabled(domain)
            if not (isinstance(weight, int | float) and math.isfinite(weight) and weight >= 0):
                raise ValueError(f"mix weight for {domain!r} must be a finite number >= 0, got {weight!r}")
        names = [domain for domain in self.domains if mix.get(domain, 0) > 0]
        if not names:
            raise ValueError(f"mix needs at least one positive weight, got {dict(mix)}")
        return names, [float(mix[domain]) for domain in names]

    def _phrasing(self, phrasing: Mapping[str, Sequence[int]]) -> dict[str, list[_Template]]:
        """Validated domain -> allowed templates."""
        allowed = {}
        for domain, indices in phrasing.items():
            self._check_enabled(domain)
            count = len(_TEMPLATES[domain])
            if not indices or any(not isinstance(i, int) or not 0 <= i < count for i in indices):
                raise ValueError(
                    f"phrasing for {domain!r} must be a non-empty list of template indices 0..{count - 1}, "
                    f"got {list(indices)!r}"
                )
            allowed[domain] = [_TEMPLATES[domain][i] for i in indices]
        return allowed

    def _sample(self, domain: str, rng: random.Random, templates: list[_Template] | None = None) -> Example:
        """Fill a random template of ``domain`` and solve it through the same parser ``lookup`` uses."""
        template = rng.choice(templates or _TEMPLATES[domain])
        query = template.text.format(**_SAMPLERS[domain](rng, template.kind))
        example = _solve(template, query, _match_form(query))
        if example is None:  # a sampler/template mismatch is a bug in this module, never bad input
            raise RuntimeError(f"school generated a query its own template cannot answer: {query!r}")
        return example


# --------------------------------------------------------------------------------------------------
# Traces: recorded examples as JSONL


class TraceSource:
    """A reference source over recorded examples, matched by normalised query text.

    When a query appears more than once the later line wins, so a trace is corrected by appending.
    """

    def __init__(self, examples: Iterable[Example]) -> None:
        self._by_query: dict[str, Example] = {normalize_query(ex.query): ex for ex in examples}

    def __len__(self) -> int:
        return len(self._by_query)

    def __iter__(self) -> Iterator[Example]:
        return iter(self._by_query.values())

    def lookup(self, query: str) -> Example | None:
        return self._by_query.get(normalize_query(query))


_JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
}


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _parse_trace_line(text: str) -> Example:
    """One trace line -> Example; raises ValueError saying what is wrong (the caller adds file:line)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {_json_type(data)}")
    fields: dict[str, str | None] = {}
    for key in ("query", "reference"):
        if key not in data:
            raise ValueError(f'missing "{key}"')
        if not isinstance(data[key], str):
            raise ValueError(f'"{key}" must be a string, got {_json_type(data[key])}')
        if not data[key].strip():
            raise ValueError(f'"{key}" is empty')
        fields[key] = data[key]
    for key in ("domain", "reasoning"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f'"{key}" must be a string or null, got {_json_type(value)}')
        fields[key] = value
    return Example(**fields)  # type: ignore[arg-type]


def read_trace(path: str | Path) -> list[Example]:
    """Examples from a JSONL trace: one object per line, blank lines skipped, extra keys ignored.

    Any bad line raises TraceError naming ``file:line`` so a hand-edited trace is quick to fix.
    """
    path = Path(path)
    examples: list[Example] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                if text.strip():
                    examples.append(_parse_trace_line(text))
            except UnicodeDecodeError:
                raise TraceError(f"{path}:{number}: not valid UTF-8") from None
            except ValueError as exc:
                raise TraceError(f"{path}:{number}: {exc}") from None
    return examples


def write_trace(path: str | Path, examples: Iterable[Example]) -> int:
    """Write examples as JSONL (UTF-8, sorted keys, one per line) and return how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for example in examples:
            handle.write(json.dumps(example.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count
