"""The school's solvers: parsed template slots -> (reference, worked reasoning), one per domain, and
``_solve``, which matches a query against one template and answers it through its domain's solver.

Generated and looked-up queries both go through ``_solve``, so a generated query always looks up to
the same reference, by construction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction

from academy.school.domains import _COUNTRY_BY_KEY, _UNIT_ALIASES, _UNITS, CAPITALS, _country_display
from academy.school.examples import REASONING_ANSWER_SEPARATOR, Example
from academy.school.templates import _Template

Solution = tuple[str, str]
_PLACES = ("ones", "tens", "hundreds", "thousands")


def _with_answer(steps: str, reference: str) -> Solution:
    return reference, f"{steps}{REASONING_ANSWER_SEPARATOR}{reference}"


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
