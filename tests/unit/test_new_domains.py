"""``bench.new_domains``: a trace of five domains the school lacks, with every gold answer right.

The answers are recomputed here another way (datetime for weekdays, Decimal for rounding, ...) from
the operands parsed back out of the query text, so a wrong reference cannot check itself.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from academy.school.domains import DOMAINS as SCHOOL_DOMAINS
from academy.school.examples import answer_from_reasoning
from academy.school.traces import read_trace, write_trace
from bench.new_domains import TEMPLATES, new_domain_examples

ROOT = Path(__file__).resolve().parents[2]
_MONDAY = datetime.date(2024, 1, 1)  # a Monday
WORD = r"\w+"


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    slots = {"days": r"\d+ days?"}  # every other slot is one word, number or letter
    body = "".join(
        re.escape(p) if i % 2 == 0 else f"(?P<{p}>{slots.get(p, WORD)})" for i, p in enumerate(parts)
    )
    return re.compile(f"^{body}$")


def _matching_template(domain: str, query: str) -> tuple[str, re.Match[str]]:
    hits = [(t, m) for _k, t in TEMPLATES[domain] if (m := _template_regex(t).match(query))]
    assert len(hits) == 1, (domain, query, hits)
    return hits[0]


def _expected(domain: str, query: str) -> str:
    """The gold answer recomputed from the query text alone."""
    if domain == "vowels":
        word = re.findall(r"[a-z]+", query)[-2 if query.endswith(" have?") else -1]
        return str(sum(word.count(v) for v in "aeiou"))
    if domain == "weekday":
        day = re.search(r"[A-Z][a-z]+day", query).group()
        n = int(re.search(r"\d+", query).group())
        back = " before " in query or " ago" in query
        week = [_MONDAY + datetime.timedelta(days=i) for i in range(7)]
        start = next(date for date in week if date.strftime("%A") == day)
        return (start + datetime.timedelta(days=-n if back else n)).strftime("%A")
    if domain == "rounding":
        n = Decimal(re.search(r"\d+", query).group())
        size = Decimal(100 if "hundred" in query else 10)
        return str((n / size).quantize(Decimal(1), rounding=ROUND_HALF_UP) * size)
    if domain == "alphabet":
        (letter,) = re.findall(r"\b[a-z]\b", query)
        step = -1 if ("before" in query or "precedes" in query) else 1
        return chr(ord(letter) + step)
    if domain == "parity":
        return ("even", "odd")[int(re.search(r"\d+", query).group()) % 2]
    raise AssertionError(f"unknown domain {domain}")


def test_five_domains_the_school_lacks():
    domains = {ex.domain for ex in new_domain_examples(500)}
    assert len(domains) == 5 and not domains & set(SCHOOL_DOMAINS)


def test_seeded_and_reproducible():
    assert new_domain_examples(200, seed=3) == new_domain_examples(200, seed=3)
    assert new_domain_examples(200, seed=3) != new_domain_examples(200, seed=4)
    assert new_domain_examples(50, seed=3) == new_domain_examples(200, seed=3)[:50]


def test_every_reference_is_right_and_reasoned():
    for ex in new_domain_examples(600, seed=7):
        assert ex.reference == _expected(ex.domain, ex.query), ex
        assert ex.reasoning and ex.reasoning.endswith(f"; answer {ex.reference}"), ex
        assert answer_from_reasoning(ex.reasoning) == ex.reference
        assert len(ex.reasoning.split()) <= 30, ex.reasoning  # well under 60 tokens


def test_each_domain_varies_its_phrasing():
    used: dict[str, set[str]] = defaultdict(set)
    for ex in new_domain_examples(1000, seed=1):
        used[ex.domain].add(_matching_template(ex.domain, ex.query)[0])
    assert set(used) == set(TEMPLATES)
    assert all(len(phrasings) >= 3 for phrasings in used.values()), used


def test_trace_round_trips(tmp_path):
    examples = new_domain_examples(300, seed=2)
    path = tmp_path / "trace.jsonl"
    assert write_trace(path, examples) == 300
    assert read_trace(path) == examples


def test_cli_writes_days_times_per_day(tmp_path):
    out = tmp_path / "t.jsonl"
    cmd = [sys.executable, "-m", "bench.new_domains", "--out", str(out), "--days", "3", "--per-day", "40"]
    subprocess.run([*cmd, "--seed", "5"], cwd=ROOT, check=True, capture_output=True)
    assert read_trace(out) == new_domain_examples(120, seed=5)
