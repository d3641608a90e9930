"""The school: Academy's embedded default world.

A seeded generator of synthetic queries small enough for a ~1M-parameter student to learn, each with
a gold answer and a worked reasoning string, plus a parser that answers any query written in one of
its templates. It exists so routing, judging and distillation run end to end offline, with exact
references and no external data set.

Every template is a format string with named slots. The generator fills the slots; the parser
recovers them with a regex compiled from the same template; both hand the parsed slots to the same
per-domain solver. So a generated query always looks up to the same reference, by construction.

Every reasoning string ends with ``REASONING_ANSWER_SEPARATOR`` (``"; answer <reference>"``): one
uniform separator lets a student's output be cut down to its final answer (``answer_from_reasoning``)
whatever the domain.

The package's modules: ``examples`` (data types, query normal form), ``domains`` (constant tables),
``templates`` (templates and their parsers), ``solvers``, ``generator`` (``School``) and ``traces``
(JSONL). Every public name is importable from ``academy.school``, and so are the private tables
the school writes queries and answers from, which ``tests/unit/test_demo_contract.py`` hashes.
"""

from academy.school.domains import _COUNTRY_ALIASES as _COUNTRY_ALIASES
from academy.school.domains import _UNIT_ALIASES as _UNIT_ALIASES
from academy.school.domains import _UNIT_PAIRS as _UNIT_PAIRS
from academy.school.domains import _UNITS as _UNITS
from academy.school.domains import _WITH_THE as _WITH_THE
from academy.school.domains import CAPITALS, DOMAINS, WORDS
from academy.school.examples import (
    REASONING_ANSWER_SEPARATOR,
    Example,
    ReferenceSource,
    answer_from_reasoning,
    normalize_query,
)
from academy.school.generator import School
from academy.school.templates import _TEMPLATE_TABLE as _TEMPLATE_TABLE
from academy.school.traces import TraceError, TraceSource, read_trace, write_trace

__all__ = [
    "CAPITALS",
    "DOMAINS",
    "REASONING_ANSWER_SEPARATOR",
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
