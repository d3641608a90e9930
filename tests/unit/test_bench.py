"""`academy bench fanout` refuses an unknown runner with a message, not a traceback. The benchmark
itself: tests/integration/test_bench.py."""


def test_fanout_bench_refuses_an_unknown_runner():
    from typer.testing import CliRunner

    from academy.cli import app

    result = CliRunner().invoke(app, ["bench", "fanout", "--runner", "ray"])
    assert result.exit_code == 2 and "unknown runner 'ray'" in result.output


def test_route_day_serves_a_student_where_its_region_record_clears_the_floor():
    """bench/route_day.py's replay on made-up evidence: right on 150 judged answers of one kind,
    wrong on 150 of another, the student serves the first kind's day (only through its region:
    the queries are below every row's similarity ramp) and none of the second."""
    import pandas as pd

    from academy.config import EvidenceConfig, QualityBudgetConfig, RouterConfig
    from academy.routing.budget import QualityBudget
    from academy.routing.evidence import Judged
    from bench.route_day import route, summary
    from tests.factories.evidence import templated
    from tests.factories.vectors import unit

    good, bad = unit(51), unit(52)
    evidence = [Judged("t", "s", "1", templated(good, i), 1.0, float(i), 0.9) for i in range(150)]
    evidence += [Judged("t", "s", "1", templated(bad, 500 + i), 0.0, 200.0 + i, 0.9) for i in range(150)]
    day = pd.DataFrame(
        {
            "tenant": "t",
            "embedding": [templated(good, 1_000 + i) for i in range(10)]
            + [templated(bad, 2_000 + i) for i in range(10)],
            "domain": ["good"] * 10 + ["bad"] * 10,
        }
    )
    students = {"s": ("1", ["4"] * 5 + ["5"] * 15, [0.9] * 20)}
    gold = ["4"] * 20
    config = RouterConfig(quality_floor=0.85, evidence=EvidenceConfig(region_every=100))

    def fixed_floor() -> QualityBudget:
        return QualityBudget(QualityBudgetConfig(enabled=False), 0.85)

    frame = route(evidence, config, fixed_floor(), day, students, gold, "teacher", [None] * 20)
    assert frame.groupby("domain")["served"].mean().to_dict() == {"bad": 0.0, "good": 1.0}
    assert frame["right"].sum() == 5  # the first five answers are right, the next five not
    unregioned = config.model_copy(
        update={"evidence": config.evidence.model_copy(update={"region_weight": 0.0})}
    )
    assert not route(evidence, unregioned, fixed_floor(), day, students, gold, "teacher", [None] * 20)[
        "served"
    ].any()
    assert "student share 0.50" in summary("x", frame)
    assert frame["asked"].tolist() == [1] * 10 + [0] * 10  # one student asked where it serves, none elsewhere


def test_route_day_learns_during_the_day_from_free_agreement_beside_the_teacher():
    """No judged answer at the day's start: the teacher serves, the student's answers beside it are
    scored by agreement (as the router does), and once they clear the floor the student serves the
    rest of the day. Routed on the start's evidence only (``learn=False``) it serves nothing."""
    import pandas as pd

    from academy.config import EvidenceConfig, QualityBudgetConfig, RouterConfig
    from academy.routing.budget import QualityBudget
    from bench.route_day import route
    from tests.factories.evidence import near
    from tests.factories.vectors import unit

    kind = unit(61)
    n = 60
    day = pd.DataFrame({"tenant": "t", "embedding": [near(kind, i) for i in range(n)], "domain": ["d"] * n})
    students = {"s": ("1", ["4"] * n, [0.9] * n)}
    config = RouterConfig(quality_floor=0.85, evidence=EvidenceConfig(defer_thresholds=[0.8]))

    def run(learn: bool) -> pd.DataFrame:
        budget = QualityBudget(QualityBudgetConfig(enabled=False), 0.85)
        return route([], config, budget, day, students, ["4"] * n, "teacher", ["4"] * n, learn)

    learned, frozen = run(True), run(False)
    assert not frozen["served"].any()
    assert not learned["served"].iloc[:5].any() and learned["served"].iloc[-20:].all()
    assert learned.loc[learned["served"], "right"].all()


def test_capitals_recall_asks_every_country_in_every_phrasing_and_marks_the_trained_ones():
    from academy.school import _TEMPLATE_TABLE, CAPITALS
    from bench.capitals_recall import questions

    queries, capitals, seen = questions("What is the capital of France? Name the capital of Peru.")
    phrasings = len(_TEMPLATE_TABLE["capitals"])
    assert len(queries) == len(CAPITALS) * phrasings and len(set(queries)) == len(queries)
    assert seen.sum() == 2 * phrasings
    assert {c for c, s in zip(capitals, seen) if s} == {"Paris", "Lima"}


def test_repeats_counts_an_exact_repeat_of_any_earlier_query_case_and_spaces_aside():
    from academy.school import Example
    from academy.simulation.workload import DayPlan
    from bench.repeats import repeat_shares

    day1 = DayPlan(1, [Example("What is 2 plus 2?", "4", "a"), Example("what is 2  PLUS 2?", "4", "a")])
    day2 = DayPlan(2, [Example("What is 2 plus 2?", "4", "a"), Example("What is 2 plus 3?", "5", "b")])
    rows = repeat_shares([day1, day2])
    assert rows[0] == (1, 0.5, {"a": (1, 2)})
    assert rows[1] == (2, 0.5, {"a": (1, 1), "b": (0, 1)})
