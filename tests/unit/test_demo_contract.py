"""The demo's contract, frozen: the figures of `academy demo` may only move when the system gets
better, not because the benchmark changed under them.

Every value below is read from the shipped academy.yaml (through ``load_config``), so an edit of
the file breaks this test. A change here changes the benchmark: make it only on purpose, update the
frozen value, and justify it in docs/benchmarks.md ("The demo: a simulated week"), since earlier figures stop being comparable.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

import pytest

from academy import school
from academy.config import AcademyConfig, load_config
from academy.simulation.week import demo_config, plan
from academy.simulation.workload import initial_domains
from tests.factories import REPO

# sha256 of the school's templates and constant tables (see school_tables). A change here changes
# the benchmark and must be justified in docs/benchmarks.md.
SCHOOL_TABLES_SHA256 = "11559844ecceefe4f00330833c80d5a7a005069822986efcd269105df6497167"
# sha256 of the (query, reference, domain) of the week's queries for demo.seed 0: day 1 alone, and
# all seven days (new domain and drift included). A change here changes the benchmark and must be
# justified in docs/benchmarks.md.
DAY1_QUERIES_SHA256 = "75bbfd10814f7d42ad1cf7434d1ee551d54dfcd637f56c9435d752e15e526e7e"
WEEK_QUERIES_SHA256 = "ad10c2393f1f594d88570c0d9c6210286a7d1f31d498bde84fcf334457814779"


def sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def school_tables() -> dict[str, Any]:
    """What the school writes queries and answers from (the samplers' code is covered by the query hashes)."""
    return {
        "templates": {d: [list(t) for t in table] for d, table in school._TEMPLATE_TABLE.items()},
        "capitals": dict(school.CAPITALS),
        "words": list(school.WORDS),
        "units": {name: asdict(unit) for name, unit in school._UNITS.items()},
        "unit_aliases": school._UNIT_ALIASES,
        "unit_pairs": [list(pair) for pair in school._UNIT_PAIRS],
        "country_aliases": school._COUNTRY_ALIASES,
        "with_the": sorted(school._WITH_THE),
    }


@pytest.fixture(scope="module")
def cfg() -> AcademyConfig:
    return load_config(REPO / "academy.yaml")


def test_the_week_is_frozen(cfg, tmp_path):
    demo = cfg.demo
    assert demo.mix == {"arithmetic": 1, "units": 2, "reverse": 2, "capitals": 2, "sorting": 1, "compare": 2}
    assert (demo.days, demo.queries_per_day, demo.seed) == (7, 250, 0)
    assert (demo.new_domain, demo.new_domain_day) == ("capitals", 4)
    assert (demo.drift_domain, demo.drift_day) == ("units", 5)
    # The warm start's data is contract (3,000 free school examples); how many steps the system
    # spends on it, and on each night, is its own choice, paid by the CPU seconds it measures.
    assert demo.warm_start_examples == 3000
    # The day-0 student is warm-started on day 1's domains: the mix less the domain still to come.
    assert initial_domains(demo) == ["arithmetic", "units", "reverse", "sorting", "compare"]
    assert demo_config(cfg, home=tmp_path).student.warm_start_domains == initial_domains(demo)


def test_the_prices_are_frozen(cfg):
    teacher = cfg.teacher
    assert (teacher.name, teacher.backend, teacher.options["error_rate"]) == ("teacher", "reference", 0.03)
    assert (teacher.price_in, teacher.price_out) == (5.0, 15.0)
    students = {m.name: (m.price_in, m.price_out) for m in cfg.models if m.role != "teacher"}
    assert students == {"student-1": (0.05, 0.1)}
    assert (cfg.judge.name, cfg.judge.cost_per_call) == ("reference", 0.0002)
    assert cfg.demo.cpu_hour_price == 0.045


def test_the_school_tables_are_frozen():
    assert sha256_json(school_tables()) == SCHOOL_TABLES_SHA256


def test_the_weeks_queries_are_frozen(cfg, tmp_path):
    week = plan(demo_config(cfg, home=tmp_path / "demo"), None)  # what `academy demo` plans (seed 0)
    days = [[[e.query, e.reference, e.domain] for e in day.examples] for day in week]
    assert [len(d) for d in days] == [250] * 7
    assert sha256_json(days[0]) == DAY1_QUERIES_SHA256
    assert sha256_json(days) == WEEK_QUERIES_SHA256
