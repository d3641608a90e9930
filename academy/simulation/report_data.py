"""Reading a simulated week's result for its report, defensively.

The result is the plain JSON-able dict a simulation returns. A policy may lack a day, a value may
be ``None``, NaN or a string, a section may be missing: every reader here returns a usable empty
value instead of raising, so a long simulation never loses its report to one odd number. Unknown
keys are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

ACADEMY = "academy"
TEACHER = "always_teacher"


def finite_number(value: Any) -> float | None:
    """A finite float or None: the result may carry None, NaN, strings or bools where a number is expected."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a dict, else an empty one, so that a missing or None section reads as empty."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """The value if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def sorted_days(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-day entries that are dicts, sorted by day (the index stands in for a missing day number)."""
    entries = [entry for entry in as_list(result.get("per_day")) if isinstance(entry, dict)]
    numbered = [(finite_number(entry.get("day")), index, entry) for index, entry in enumerate(entries)]
    numbered = [(index + 1.0 if day is None else day, index, entry) for day, index, entry in numbered]
    return [dict(entry, day=day_label(day)) for day, _, entry in sorted(numbered, key=lambda t: (t[0], t[1]))]


def day_label(day: float) -> int | float:
    """Integral days as ints so that axes and tables show '3', not '3.0'."""
    return int(day) if float(day).is_integer() else day


def policy_names(result: dict[str, Any]) -> list[str]:
    """The policies to show, Academy first: from result['policies'], else from the overall block."""
    names = [str(name) for name in as_list(result.get("policies"))] or [
        str(n) for n in as_dict(result.get("overall"))
    ]
    names = list(dict.fromkeys(names))
    return sorted(names, key=lambda name: name != ACADEMY)


def policy_day(day: dict[str, Any], policy: str) -> dict[str, Any]:
    """One policy's numbers for one day; empty when the policy has no entry that day."""
    return as_dict(as_dict(day.get("policies")).get(policy))


def academy_of(day: dict[str, Any]) -> dict[str, Any]:
    """Academy's detailed block for one day (routes, served traffic, judge calls, costs)."""
    return as_dict(day.get("academy"))


def ordered_keys(dicts: Iterable[dict[str, Any]], first: str = "teacher") -> list[str]:
    """The union of keys over days, in a stable order with the teacher first, so colours match across days."""
    keys: set[str] = set()
    for entry in dicts:
        keys.update(str(key) for key in entry)
    return sorted(keys, key=lambda key: (key != first, key))
