"""The school's public data types and the text helpers every part of it shares: ``Example`` (a query,
its gold answer, its domain and worked reasoning), the ``ReferenceSource`` protocol, the query
normal form, and how a worked reasoning ends in its answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# Every reasoning string ends with this then the reference ("...; answer 82"): one uniform separator
# lets a student's output be cut down to its final answer (``answer_from_reasoning``) whatever the domain.
REASONING_ANSWER_SEPARATOR = "; answer "
# "=" is included so "57 + 25 = ?", "57 + 25 =" and "57 + 25" are the same query.
_TRAILING_PUNCTUATION = "?.!;:,= "


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
