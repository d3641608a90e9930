"""A traffic trace of five domains the school never had: vowels, weekday, rounding, alphabet, parity.

The issue's ``--traffic`` criterion asks that the nights teach what the warm start never saw. The
built-in school (arithmetic, units, reverse, capitals, sorting, compare) is what the day-0 student was
warmed on, so a trace of its own domains cannot show that. This writes a trace of other kinds of
task, each a templated question with varying operands (3-6 phrasings per domain, as the school's
queries vary), a short deterministic gold answer, and a worked reasoning in the school's form
(``steps; answer X``), short enough for the student's 128-token window.

Run::

    .venv/bin/python -m bench.new_domains --out trace.jsonl --days 7 --per-day 1000 --seed 0
    .venv/bin/academy demo --traffic trace.jsonl --seed 0 --json
"""

from __future__ import annotations

import argparse
import random
import string
from collections.abc import Callable

from academy.school.domains import WORDS
from academy.school.examples import REASONING_ANSWER_SEPARATOR, Example
from academy.school.traces import write_trace

VOWELS = "aeiou"
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LETTERS = string.ascii_lowercase

# (kind, template) per domain; the kind picks the operation (after/before, ten/hundred).
TEMPLATES: dict[str, tuple[tuple[str, str], ...]] = {
    "vowels": (
        ("count", "How many vowels are in the word {word}?"),
        ("count", "Count the vowels in {word}."),
        ("count", "How many vowels does {word} have?"),
        ("count", "How many vowels are there in {word}?"),
    ),
    "weekday": (
        ("after", "What day comes {days} after {day}?"),
        ("after", "If today is {day}, what day will it be in {days}?"),
        ("after", "Which weekday is {days} after {day}?"),
        ("before", "What day comes {days} before {day}?"),
        ("before", "If today is {day}, what day was it {days} ago?"),
    ),
    "rounding": (
        ("round", "Round {n} to the nearest {unit}."),
        ("round", "What is {n} rounded to the nearest {unit}?"),
        ("round", "Round {n} off to the nearest {unit}."),
        ("round", "{n} rounded to the nearest {unit} is what?"),
    ),
    "alphabet": (
        ("after", "Which letter comes after {letter} in the alphabet?"),
        ("after", "What letter follows {letter}?"),
        ("after", "What is the next letter after {letter}?"),
        ("before", "Which letter comes before {letter} in the alphabet?"),
        ("before", "What letter precedes {letter}?"),
        ("before", "What is the letter just before {letter}?"),
    ),
    "parity": (
        ("parity", "Is {n} even or odd?"),
        ("parity", "Is {n} odd or even?"),
        ("parity", "Is the number {n} even or odd?"),
        ("parity", "Tell me whether {n} is even or odd."),
    ),
}
DOMAINS: tuple[str, ...] = tuple(TEMPLATES)

# A domain's maker: (rng, kind) -> (slots for its template, reference, steps of the worked reasoning).
Made = tuple[dict[str, str], str, str]


def _vowels(rng: random.Random, kind: str) -> Made:
    """Spell the word out, list its vowels, count them."""
    word = rng.choice(WORDS)
    found = [c for c in word if c in VOWELS]
    steps = f"{'-'.join(word)} has vowels {', '.join(found) or 'none'}: {len(found)}"
    return {"word": word}, str(len(found)), steps


def _weekday(rng: random.Random, kind: str) -> Made:
    """Count 1-5 days on (or back) from the day, naming each passed day by its three-letter short form
    (full names would push the longest query and reasoning past the school's)."""
    start, n = rng.randrange(7), rng.randint(1, 5)
    sign = 1 if kind == "after" else -1
    passed = [DAYS[(start + sign * i) % 7] for i in range(1, n + 1)]
    steps = f"{DAYS[start]} {'+' if sign > 0 else '-'}{n}: {', '.join(day[:3] for day in passed)}"
    return {"day": DAYS[start], "days": f"{n} day" + ("s" if n > 1 else "")}, passed[-1], steps


def _rounding(rng: random.Random, kind: str) -> Made:
    """Round half up by the digit below the kept place: 5 or more rounds up."""
    n, unit = rng.randint(100, 999), rng.choice(("ten", "hundred"))
    size = 10 if unit == "ten" else 100
    digit, down = (n % size) // (size // 10), n - n % size
    place = "ones" if unit == "ten" else "tens"
    if digit >= 5:
        result = down + size
        steps = f"{place} digit {digit} is 5 or more, round up: {down} + {size} = {result}"
    else:
        result = down
        steps = f"{place} digit {digit} is below 5, round down to {result}"
    return {"n": str(n), "unit": unit}, str(result), steps


def _alphabet(rng: random.Random, kind: str) -> Made:
    """The neighbouring letter; 'a' has none before it and 'z' none after, so they are not asked."""
    if kind == "after":
        i = rng.randrange(len(LETTERS) - 1)
        letter, answer = LETTERS[i], LETTERS[i + 1]
        steps = f"{letter} then {answer}: after {letter} comes {answer}"
    else:
        i = rng.randrange(1, len(LETTERS))
        letter, answer = LETTERS[i], LETTERS[i - 1]
        steps = f"{answer} then {letter}: before {letter} comes {answer}"
    return {"letter": letter}, answer, steps


def _parity(rng: random.Random, kind: str) -> Made:
    """The last digit decides."""
    n = rng.randint(1, 9999)
    answer = "even" if n % 2 == 0 else "odd"
    return {"n": str(n)}, answer, f"last digit {n % 10} is {answer}, so {n} is {answer}"


_MAKERS: dict[str, Callable[[random.Random, str], Made]] = {
    "vowels": _vowels,
    "weekday": _weekday,
    "rounding": _rounding,
    "alphabet": _alphabet,
    "parity": _parity,
}


def new_domain_examples(n: int, seed: int = 0) -> list[Example]:
    """``n`` examples, each of a uniformly drawn domain and phrasing; the same seed gives the same list."""
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        domain = rng.choice(DOMAINS)
        kind, template = rng.choice(TEMPLATES[domain])
        slots, reference, steps = _MAKERS[domain](rng, kind)
        reasoning = f"{steps}{REASONING_ANSWER_SEPARATOR}{reference}"
        examples.append(Example(template.format(**slots), reference, domain, reasoning))
    return examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="the JSONL trace to write")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    count = write_trace(args.out, new_domain_examples(args.days * args.per_day, args.seed))
    print(f"wrote {count} examples ({args.days} days x {args.per_day}) of {', '.join(DOMAINS)} to {args.out}")


if __name__ == "__main__":
    main()
