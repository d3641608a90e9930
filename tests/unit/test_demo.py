"""The simulated week's parts: its traffic plan, its accounting, the static baseline's home and the
demo home's safety (academy/simulation). `academy demo` end to end: tests/e2e/test_demo.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from academy.config import DemoConfig, load_config
from academy.school import School
from academy.simulation import accounting as acc
from academy.simulation.day import Answers, Served
from academy.simulation.week import demo_config, fresh_home, night_costs, static_config
from academy.simulation.workload import drift_templates, initial_domains, school_week
from tests.factories import REPO


def template_index(school: School, domain: str, query: str) -> int:
    """Which of the domain's templates wrote ``query`` (slots matched loosely)."""
    for i, text in enumerate(school.templates(domain)):
        pattern = re.escape(text)
        pattern = re.sub(r"\\\{\w+\\\}", ".+", pattern)
        if re.fullmatch(pattern, query):
            return i
    raise AssertionError(f"no {domain} template wrote {query!r}")


def test_week_plan_brings_a_new_domain_and_drifts_phrasing():
    demo = DemoConfig(
        days=4,
        queries_per_day=120,
        mix={"units": 1, "reverse": 1, "capitals": 1},
        new_domain="capitals",
        new_domain_day=3,
        drift_domain="units",
        drift_day=2,
    )
    plans = school_week(demo, ["units", "reverse", "capitals"])
    assert initial_domains(demo) == ["units", "reverse"]
    seen = [{e.domain for e in p.examples} for p in plans]
    assert "capitals" not in seen[0] | seen[1] and "capitals" in seen[2] and "capitals" in seen[3]
    assert plans[2].events == ["new domain: capitals"] and plans[1].events == ["phrasing drift: units"]
    school = School(domains=["units"])
    before, after = drift_templates(school, "units")
    used = [
        {template_index(school, "units", e.query) for e in p.examples if e.domain == "units"} for p in plans
    ]
    assert used[0] <= set(before) and used[1] <= set(after) and used[3] <= set(after)
    assert not set(before) & set(after)
    again = school_week(demo, ["units", "reverse", "capitals"])
    assert [e.query for e in again[3].examples] == [e.query for e in plans[3].examples]  # seeded


def test_phrasing_rejects_bad_template_indices():
    with pytest.raises(ValueError, match="template indices"):
        School(domains=["units"]).generate(3, phrasing={"units": [99]})


def answers_for(qualities: dict[str, list[float]], costs: dict[str, list[float]]) -> Answers:
    return Answers(
        texts={m: ["x"] * len(q) for m, q in qualities.items()},
        costs=costs,
        quality=qualities,
    )


def test_oracle_takes_the_cheapest_right_model_and_the_teacher_when_none_is_right():
    answers = answers_for(
        {"teacher": [1.0, 1.0, 0.3], "s1": [1.0, 0.2, 0.1], "s2": [1.0, 1.0, 0.0]},
        {"teacher": [10.0, 10.0, 10.0], "s1": [2.0, 2.0, 2.0], "s2": [1.0, 1.0, 1.0]},
    )
    assert acc.oracle(answers, "teacher") == {"cost": 1.0 + 1.0 + 10.0, "quality": pytest.approx(2.3 / 3)}
    name, best = acc.best_single_student(answers, "teacher")
    assert name == "s2" and best == {"cost": 3.0, "quality": pytest.approx(2 / 3)}


def served(
    route: str, model: str, cost: float, quality: float, judge_calls: int = 0, supervised: int = 0
) -> Served:
    role = "teacher" if model == "teacher" else "student"
    return Served(
        "id", "units", route, model, role, "a", cost, judge_calls, 0.1 * judge_calls, quality, supervised
    )


def test_day_accounting_charges_monitoring_and_training_and_divides_by_the_teacher():
    answers = answers_for(
        {"teacher": [1.0, 1.0], "s1": [1.0, 0.0]}, {"teacher": [1.0, 1.0], "s1": [0.1, 0.1]}
    )
    academy = [served("novel", "teacher", 1.5, 1.0, 2, supervised=1), served("familiar", "s1", 0.1, 1.0)]
    static = [served("novel", "teacher", 1.5, 1.0, 2), served("familiar", "teacher", 1.0, 1.0)]
    night = acc.NightCosts(
        judge_calls=3,
        judge_cost=0.3,
        training_seconds=1800,
        training_cost=0.1,
        supervisor_calls=2,
        training_cpu_seconds=3600,
        practice_cost=0.2,
    )
    row = acc.account_day(2, ["x"], academy, static, answers, "teacher", night)
    assert row["policies"]["academy"]["cost"] == pytest.approx(1.6 + 0.3 + 0.1 + 0.2)
    assert row["policies"]["academy"]["cost_ratio"] == pytest.approx(2.2 / 2.0)
    assert row["policies"]["static"]["cost_ratio"] == pytest.approx(2.5 / 2.0)
    assert row["policies"]["oracle"]["cost"] == pytest.approx(0.1 + 1.0)
    assert row["academy"]["judge_calls"] == {"online": 2, "nightly": 3, "supervisor": 3, "delegated": 2}
    assert row["academy"]["cost"] == pytest.approx(
        {"answers": 1.6 - 0.2, "judge": 0.2 + 0.3, "training": 0.1, "practice": 0.2}
    )
    assert (row["academy"]["training_seconds"], row["academy"]["training_cpu_seconds"]) == (1800, 3600)
    assert row["academy"]["served_by_role"] == {"teacher": 1, "student": 1}
    total = acc.overall([row, row | {"queries": 2}])
    assert total["academy"]["cost_ratio"] == pytest.approx(1.1)
    assert acc.training_cost(7200, 0.05) == pytest.approx(0.1)  # CPU seconds, whatever the cores
    # What s1 knows (right on 1 of the 2 units queries) next to what it was given (1 of 2).
    assert row["academy"]["students"] == {
        "units": {"queries": 2, "accuracy": {"s1": 0.5}, "served": {"s1": 0.5}}
    }


def test_knowledge_and_share_separate_domains_and_students():
    answers = answers_for(
        {"teacher": [1.0] * 4, "s1": [1.0, 1.0, 0.0, 1.0], "s2": [0.0, 0.0, 1.0, 1.0]},
        {"teacher": [1.0] * 4, "s1": [0.1] * 4, "s2": [0.1] * 4},
    )
    day = [served("familiar", m, 0.1, 1.0) for m in ("s1", "teacher", "s2", "teacher")]
    day[2].domain = day[3].domain = "reverse"
    table = acc.knowledge_and_share(day, answers, "teacher")
    assert table["units"] == {
        "queries": 2,
        "accuracy": {"s1": 1.0, "s2": 0.0},
        "served": {"s1": 0.5, "s2": 0.0},
    }
    assert table["reverse"] == {
        "queries": 2,
        "accuracy": {"s1": 0.5, "s2": 1.0},
        "served": {"s1": 0.0, "s2": 0.5},
    }


def test_nights_are_charged_to_the_right_days():
    cfg = load_config(REPO / "academy.yaml")
    nights = {
        1: {
            "scoring": {"judged": 5, "failed": 1, "judge_cost": 0.5},
            "cycle_seconds": 100.0,
            "cpu_seconds": 180.0,
            "practice_cost": 0.25,
        },
        2: {"scoring": {}, "cycle_seconds": 50.0, "cpu_seconds": 90.0},  # no practice_cost: none bought
    }
    day1, day2, day3 = (night_costs(cfg, d, nights, warm_start=40.0, warm_start_cpu=75.0) for d in (1, 2, 3))
    assert (day1.judge_calls, day1.judge_cost, day1.training_seconds) == (6, 0.5, 40.0)
    assert (day1.training_cpu_seconds, day1.practice_cost) == (75.0, 0.0)  # the warm start
    assert (day2.judge_calls, day2.training_seconds) == (0, 100.0)  # night 1 trained what serves day 2
    assert (day2.training_cpu_seconds, day2.practice_cost) == (180.0, 0.25)  # ... and bought its practice
    assert day2.training_cost == pytest.approx(180.0 * cfg.demo.cpu_hour_price / 3600)
    assert (day3.training_cpu_seconds, day3.practice_cost) == (90.0, 0.0)


def test_static_baseline_serves_the_day0_student_from_its_own_home(tmp_path):
    cfg = demo_config(load_config(REPO / "academy.yaml"), quick=True, home=tmp_path / "demo")
    static = static_config(cfg)
    assert static.paths.home == cfg.paths.home / "static" and not static.registry.serve_from_registry
    assert Path(static.model("student-1").options["path"]) == cfg.paths.home / "students" / "student-1"
    assert cfg.evolution.distill.steps == cfg.demo.quick.night_steps and cfg.demo.days == cfg.demo.quick.days
    assert "capitals" not in cfg.student.warm_start_domains  # new mid-week: the day-0 student never saw it


def test_demo_never_wipes_a_folder_it_did_not_create(tmp_path):
    (tmp_path / "precious.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not a demo home"):
        fresh_home(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep"
    fresh_home(tmp_path / "demo")
    (tmp_path / "demo" / "old").write_text("from the last run")
    fresh_home(tmp_path / "demo")
    assert not (tmp_path / "demo" / "old").exists()


def test_a_recalled_request_is_reported_as_recall_not_as_the_model_that_first_answered():
    from academy.backends.base import Completion
    from academy.routing import RouteResult
    from academy.routing.base import ModelAnswer
    from academy.school import Example
    from academy.simulation.day import served_record

    answer = ModelAnswer("teacher", "teacher", "serve", Completion("82", 0, 0, 0.0, cost=0.0))
    result = RouteResult("r1", "recall", "teacher", "82", None, "none", 0.0, 0.1, 0.1, 1.0, {}, [answer])
    row = served_record(Example("What is 47 plus 35?", "82", "arithmetic"), result)
    assert (row.route, row.model, row.role) == ("recall", "recall", "recall")

    answers = answers_for({"teacher": [1.0, 1.0], "s1": [1.0, 0.0]}, {"teacher": [1.0] * 2, "s1": [0.1] * 2})
    day = [served("familiar", "s1", 0.1, 1.0), served("recall", "recall", 0.0, 1.0)]
    table = acc.knowledge_and_share(day, answers, "teacher")
    assert table["units"]["served"] == {"s1": 0.5, "recall": 0.5}
    assert "recall" not in acc.knowledge_and_share(day[:1], answers, "teacher")["units"]["served"]
