"""The school: seeded generation, template parsing (lookup) and JSONL traces."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from academy.school import (
    CAPITALS,
    DOMAINS,
    WORDS,
    Example,
    ReferenceSource,
    School,
    TraceError,
    TraceSource,
    answer_from_reasoning,
    normalize_query,
    read_trace,
    write_trace,
)


@pytest.fixture(scope="module")
def school() -> School:
    return School(seed=7)


# --- generation ----------------------------------------------------------------------------------


def test_same_seed_same_output_and_different_seed_differs() -> None:
    assert School(seed=3).generate(50) == School(seed=3).generate(50)
    assert School(seed=3).generate(50) != School(seed=4).generate(50)
    assert School(seed=3).generate(50, seed=4) == School(seed=4).generate(50)
    assert School().generate_domain("units", 20, seed=1) == School(seed=1).generate_domain("units", 20)
    assert School().generate_domain("units", 20, seed=1) != School().generate_domain("units", 20, seed=2)


def test_generate_returns_n_examples_of_known_domains(school: School) -> None:
    examples = school.generate(30)
    assert len(examples) == 30
    assert all(ex.domain in DOMAINS for ex in examples)
    assert school.generate(0) == []


@pytest.mark.parametrize("domain", DOMAINS)
def test_round_trip_every_domain(school: School, domain: str) -> None:
    examples = school.generate_domain(domain, 200)
    used_templates = set()
    for ex in examples:
        assert ex.domain == domain
        assert ex.reference and ex.reasoning
        assert ex.reasoning.endswith(ex.reference)
        assert answer_from_reasoning(ex.reasoning) == ex.reference
        assert school.lookup(ex.query) == ex, ex.query
        assert school.lookup("  " + ex.query.upper() + "  ") is not None
        used_templates.update(t for t in school.templates(domain) if _fits(t, ex.query))
    assert used_templates == set(school.templates(domain))


def _fits(template: str, query: str) -> bool:
    """Whether ``query`` is ``template`` with its slots filled (a test-side check of coverage)."""
    parts = re.split(r"\{[a-z]+\}", template)
    return re.fullmatch(".+".join(map(re.escape, parts)), query) is not None


def test_generated_operands_stay_in_range(school: School) -> None:
    for ex in school.generate_domain("arithmetic", 300):
        a, b = map(int, re.findall(r"\d+", ex.query))
        assert 10 <= a <= 99 and 10 <= b <= 99
        assert int(ex.reference) >= 0
        assert len(ex.reasoning or "") < 120
    for ex in school.generate_domain("sorting", 200):
        numbers = [int(n) for n in re.findall(r"\d+", ex.query)]
        assert 3 <= len(numbers) <= 5 and len(set(numbers)) == len(numbers)
        assert all(0 <= n <= 99 for n in numbers)
    for ex in school.generate_domain("reverse", 200):
        assert ex.reference[::-1] in WORDS
    for ex in school.generate_domain("units", 200):
        assert ex.reference.isdigit()


def test_every_reasoning_is_compact(school: School) -> None:
    for ex in school.generate(600):
        assert ex.reasoning is not None and len(ex.reasoning) < 120, ex


def test_mix_weights_are_respected() -> None:
    school = School(seed=1)
    assert {ex.domain for ex in school.generate(100, mix={"units": 1.0})} == {"units"}
    counts = Counter(ex.domain for ex in school.generate(2000, mix={"units": 3, "reverse": 1, "sorting": 0}))
    assert set(counts) == {"units", "reverse"}
    assert 0.70 < counts["units"] / 2000 < 0.80
    uniform = Counter(ex.domain for ex in school.generate(1200))
    assert set(uniform) == set(DOMAINS)
    assert all(140 < count < 260 for count in uniform.values())


@pytest.mark.parametrize("mix", [{"poetry": 1.0}, {"units": 0.0}, {"units": -1.0}, {"units": float("nan")}])
def test_bad_mix_raises(mix: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        School().generate(5, mix=mix)


def test_restricted_school_generates_and_knows_only_its_domains() -> None:
    school = School(domains=["units", "reverse"])
    assert {ex.domain for ex in school.generate(100)} == {"units", "reverse"}
    assert school.lookup("What is 2 plus 3?") is None
    assert school.lookup("Convert 2 km to m.") is not None
    with pytest.raises(ValueError):
        school.generate(5, mix={"arithmetic": 1.0})
    with pytest.raises(ValueError):
        school.generate_domain("arithmetic", 5)


def test_unknown_domain_raises_listing_valid_ones() -> None:
    with pytest.raises(ValueError, match="arithmetic.*compare"):
        School(domains=["arithmetic", "poetry"])
    with pytest.raises(ValueError, match="poetry"):
        School().templates("poetry")
    with pytest.raises(ValueError):
        School(domains=[])


def test_templates_are_paraphrases_with_named_slots(school: School) -> None:
    for domain in DOMAINS:
        templates = school.templates(domain)
        assert len(templates) >= 4 and len(set(templates)) == len(templates)
        assert all(re.search(r"\{[a-z]+\}", t) for t in templates)


def test_tables_are_big_enough() -> None:
    assert len(WORDS) >= 150 and len(set(WORDS)) == len(WORDS)
    assert all(w.isalpha() and w.islower() and 3 <= len(w) <= 8 for w in WORDS)
    assert len(CAPITALS) >= 60


# --- arithmetic reasoning ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "reference", "reasoning"),
    [
        (
            "What is 47 plus 35?",
            "82",
            "ones: 7 + 5 = 12, write 2 carry 1; tens: 4 + 3 + 1 = 8, write 8; answer 82",
        ),
        ("Add 21 and 34.", "55", "ones: 1 + 4 = 5, write 5; tens: 2 + 3 = 5, write 5; answer 55"),
        (
            "58 + 67 = ?",
            "125",
            "ones: 8 + 7 = 15, write 5 carry 1; tens: 5 + 6 + 1 = 12, write 12; answer 125",
        ),
        (
            "What is 42 minus 35?",
            "7",
            "ones: borrow, 12 - 5 = 7, write 7; tens: 4 - 1 - 3 = 0, write 0; answer 7",
        ),
        ("Subtract 23 from 86.", "63", "ones: 6 - 3 = 3, write 3; tens: 8 - 2 = 6, write 6; answer 63"),
        (
            "Compute 90 - 18.",
            "72",
            "ones: borrow, 10 - 8 = 2, write 2; tens: 9 - 1 - 1 = 7, write 7; answer 72",
        ),
    ],
)
def test_arithmetic_reasoning_carries_and_borrows(
    school: School, query: str, reference: str, reasoning: str
) -> None:
    ex = school.lookup(query)
    assert ex is not None
    assert (ex.domain, ex.reference, ex.reasoning) == ("arithmetic", reference, reasoning)


def test_arithmetic_out_of_range_is_still_answered(school: School) -> None:
    assert school.lookup("What is 123 plus 456?").reference == "579"  # type: ignore[union-attr]
    ex = school.lookup("What is 100 minus 1?")
    assert ex is not None and ex.reference == "99"
    assert ex.reasoning == (
        "ones: borrow, 10 - 1 = 9, write 9; tens: borrow, 10 - 1 - 0 = 9, write 9; "
        "hundreds: 1 - 1 - 0 = 0, write 0; answer 99"
    )
    negative = school.lookup("what is 12 minus 45")
    assert negative is not None and negative.reference == "-33"


def test_arithmetic_reasoning_equations_all_hold() -> None:
    """Every "x + y (+ 1) = s" / "x (- 1) - y = d" written in the reasoning is true, for random pairs."""
    school, rng = School(), random.Random(0)
    for _ in range(300):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        for op, query, expected in (
            ("+", f"{a} + {b} = ?", a + b),
            ("-", f"{max(a, b)} - {min(a, b)} = ?", abs(a - b)),
        ):
            ex = school.lookup(query)
            assert ex is not None and ex.reference == str(expected)
            for lhs, rhs in re.findall(r"(\d+(?: [+-] \d+)+) = (\d+)", ex.reasoning or ""):
                assert _evaluate(lhs) == int(rhs), (query, ex.reasoning)
            assert ex.reasoning and (" carry 1" in ex.reasoning or "borrow" in ex.reasoning) == _carries(
                a, b, op
            )


def _evaluate(expression: str) -> int:
    tokens = expression.split()
    total = int(tokens[0])
    for sign, number in zip(tokens[1::2], tokens[2::2], strict=True):
        total += int(number) if sign == "+" else -int(number)
    return total


def _carries(a: int, b: int, op: str) -> bool:
    if op == "+":
        return a % 10 + b % 10 > 9
    return max(a, b) % 10 < min(a, b) % 10


# --- lookup of hand-written queries ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "domain", "reference"),
    [
        ("  WHAT is   57 PLUS 25 ??", "arithmetic", "82"),
        ("57+25", "arithmetic", "82"),
        ("Convert 3 km to m.", "units", "3000"),
        ("how many MINUTES are in 2 hours", "units", "120"),
        ("Convert 2.5 kilometres to metres", "units", "2500"),
        ("Convert 3000 m to km.", "units", "3"),
        ("Express 1 litre in ml", "units", "1000"),
        ("Reverse the word hello.", "reverse", "olleh"),
        ("  spell   'Python'  backwards ", "reverse", "nohtyp"),
        ("what is the capital of FRANCE", "capitals", "Paris"),
        ("Which city is the capital of new zealand?", "capitals", "Wellington"),
        ("Name the capital of the Netherlands.", "capitals", "Amsterdam"),
        ("What city is France\u2019s capital?", "capitals", "Paris"),
        ("Sort 42, 7, 19 in ascending order.", "sorting", "7, 19, 42"),
        ("sort 9,2,5 and 1 in ascending order", "sorting", "1, 2, 5, 9"),
        ("Which is larger, 472 or 458?", "compare", "472"),
        ("Is 3 greater than 10?", "compare", "no"),
        ("is 10 GREATER than 3", "compare", "yes"),
    ],
)
def test_lookup_hand_written_queries(school: School, query: str, domain: str, reference: str) -> None:
    ex = school.lookup(query)
    assert ex is not None, query
    assert (ex.domain, ex.reference) == (domain, reference)
    assert ex.query == query
    assert ex.reasoning is not None and ex.reasoning.endswith(reference)


def test_lookup_reasoning_formats(school: School) -> None:
    def reasoning(query: str) -> str | None:
        ex = school.lookup(query)
        return ex.reasoning if ex else None

    assert reasoning("Convert 3 km to m.") == "1 km = 1000 m; 3 * 1000 = 3000; answer 3000"
    assert reasoning("Reverse hello") == "h-e-l-l-o reversed is o-l-l-e-h; answer olleh"
    assert reasoning("What is the capital of France?") == "The capital of France is Paris; answer Paris"
    assert reasoning("Sort 42, 7, 19 in ascending order.") == "smallest 7; then 19; then 42; answer 7, 19, 42"
    assert reasoning("Which is larger, 472 or 458?") == "4=4, 7>5 so 472 > 458; answer 472"
    assert reasoning("Is 45 greater than 472?") == "2 vs 3 digits so 45 < 472; answer no"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "Tell me a joke.",
        "What is love?",
        "hello world",
        "What is the capital of Atlantis?",
        "Convert 3 kg to km.",  # incompatible units
        "Convert 1 minute to hours.",  # no exact short answer (1/60)
        "What is 57 times 25?",
    ],
)
def test_lookup_unrelated_or_unanswerable_is_none(school: School, query: str) -> None:
    assert school.lookup(query) is None


# --- helpers ------------------------------------------------------------------------------------


def test_normalize_query() -> None:
    assert normalize_query("  What IS\t57  plus 25 ?! ") == "what is 57 plus 25"
    assert normalize_query("57 + 25 = ?") == "57 + 25"


def test_answer_from_reasoning() -> None:
    assert answer_from_reasoning("smallest 7; then 19; answer 7, 19") == "7, 19"
    assert answer_from_reasoning("answer 82.") == "82"
    assert answer_from_reasoning("  Paris ") == "Paris"


def test_example_to_json_omits_none() -> None:
    assert Example("q", "r").to_json() == {"query": "q", "reference": "r"}
    full = Example("q", "r", "units", "why; answer r").to_json()
    assert full == {"query": "q", "reference": "r", "domain": "units", "reasoning": "why; answer r"}


def test_sources_satisfy_the_protocol() -> None:
    assert isinstance(School(), ReferenceSource)
    assert isinstance(TraceSource([]), ReferenceSource)


# --- traces ---------------------------------------------------------------------------------------


def test_trace_round_trip(tmp_path: Path, school: School) -> None:
    examples = [*school.generate(20), Example("Qu'est-ce que «bonjour» à l'envers ?", "ruojnob")]
    path = tmp_path / "nested" / "trace.jsonl"
    assert write_trace(path, examples) == len(examples)
    assert read_trace(path) == examples
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(examples)
    assert "«bonjour»" in lines[-1]
    assert list(json.loads(lines[0])) == sorted(json.loads(lines[0]))


def test_read_trace_skips_blank_lines_and_extra_keys(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '\n{"query": "a", "reference": "b", "model": "x"}\n   \n{"query": "c", "reference": "d"}\n'
    )
    assert read_trace(path) == [Example("a", "b"), Example("c", "d")]


def test_trace_source_lookup_is_normalised() -> None:
    source = TraceSource(
        [
            Example("What is 2 plus 2?", "4"),
            Example("Capital of Mars?", "?"),
            Example("capital of MARS", "none"),
        ]
    )
    assert source.lookup("  what IS 2 plus 2 ") == Example("What is 2 plus 2?", "4")
    assert source.lookup("Capital of Mars") == Example("capital of MARS", "none")  # later line wins
    assert source.lookup("What is 3 plus 3?") is None
    assert len(source) == 2


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ('{"query": "a", "reference": "b"}\n{"query": "a", \n', 2, "not valid JSON"),
        ('\n{"query": "a"}\n', 2, 'missing "reference"'),
        ('{"reference": "b"}\n', 1, 'missing "query"'),
        ("[1, 2]\n", 1, "expected a JSON object, got array"),
        ('{"query": "  ", "reference": "b"}\n', 1, '"query" is empty'),
        ('{"query": "a", "reference": 4}\n', 1, '"reference" must be a string, got number'),
        ('{"query": "a", "reference": "b", "reasoning": ["x"]}\n', 1, '"reasoning" must be a string'),
    ],
)
def test_read_trace_errors_name_file_and_line(tmp_path: Path, content: str, line: int, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert f"{path}:{line}:" in str(info.value)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_read_trace_rejects_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"query": "a", "reference": "b"}\n{"query": "\xff", "reference": "b"}\n')
    with pytest.raises(TraceError, match=r"bad\.jsonl:2: not valid UTF-8"):
        read_trace(path)
