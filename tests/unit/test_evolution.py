"""The nightly cycle's pure functions on hand-made traffic: scoring, snapshot, clusters, gaps,
datasets, gate and roles. (Training a real student: tests/integration/test_evolution.py; the
end-to-end flow: tests/integration/test_nightly.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from academy.clustering import choose_k, kmeans
from academy.config import (
    DatasetConfig,
    DistillConfig,
    GapsConfig,
    GateConfig,
    JudgeConfig,
    RolesConfig,
    ScoringConfig,
)
from academy.evolution.dataset import build_distillation_dataset, training_examples, write_datasets
from academy.evolution.evaluation import EvalResult
from academy.evolution.gaps import cluster_queries, mine_gaps, recency_weights
from academy.evolution.promotion import next_role, quality_gate
from academy.evolution.scoring import (
    aggregate,
    model_win_rates,
    score_unscored,
    shard_by_query,
    unscored_answers,
)
from academy.evolution.snapshot import export_snapshot, file_md5, read_snapshot
from academy.judges import build_judge
from academy.school import School
from academy.store import AnswerRecord, QueryRecord, ScoreRecord, TrafficStore

DIM = 384


def _direction(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM)
    return v / np.linalg.norm(v)


def _near(center: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    v = center + 0.05 * rng.normal(size=DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def log_query(store, qid, example, embedding, answers, final_model="teacher", route="novel"):
    records = [
        AnswerRecord(
            model=m,
            role=r,
            purpose=p,
            text=t,
            cost=c,
            judge_score=s,
            reasoning=why,
            judge_name=None if s is None else "reference",
        )  # fmt: skip
        for m, r, p, t, c, s, why in answers
    ]
    query = QueryRecord(
        id=qid, tenant="t", text=example.query, embedding=embedding, route=route,
        final_model=final_model, final_answer=records[0].text, domain=example.domain,
    )  # fmt: skip
    store.log(query, records)


@pytest.fixture
def traffic(tmp_path):
    """Two domains: the student is right on units and wrong on capitals; teacher always right."""
    store = TrafficStore(tmp_path / "lancedb")
    school, rng = School(seed=3), np.random.default_rng(0)
    centers = {"units": _direction(1), "capitals": _direction(2)}
    for domain in ("units", "capitals"):
        for i, example in enumerate(school.generate_domain(domain, 40)):
            student_right = domain == "units"
            student_text = example.reference if student_right else "Paris"
            answers = [
                ("teacher", "teacher", "fanout", example.reference, 0.0003, 1.0, example.reasoning),
                (
                    "student-1",
                    "student",
                    "fanout",
                    student_text,
                    0.000001,
                    1.0 if student_right else 0.0,
                    None,
                ),
            ]
            log_query(store, f"{domain}-{i:03d}", example, _near(centers[domain], rng), answers)
    return store


def test_scores_table_is_idempotent_and_merged_into_the_snapshot(traffic, tmp_path):
    example = School(seed=3).generate_domain("units", 1)[0]
    answers = [("teacher", "teacher", "serve", example.reference, 0.0003, None, None)]
    log_query(traffic, "late-1", example, _direction(1).astype(np.float32), answers, route="familiar")
    assert list(unscored_answers(traffic)["id"]) == ["late-1/teacher/serve"]
    judge = build_judge(JudgeConfig(name="reference", cost_per_call=0.001))
    summary = score_unscored(traffic, judge, batch_size=8)
    assert (summary.judged, summary.failed) == (1, 0) and summary.judge_cost == pytest.approx(0.001)
    assert unscored_answers(traffic).empty
    again = ScoreRecord(
        id="late-1/teacher/serve",
        query_id="late-1",
        tenant="t",
        model="teacher",
        judge_score=0.0,
        judge_name="x",
    )
    assert traffic.log_scores([again]) == 0  # idempotent: the first score stays
    export_snapshot(traffic, tmp_path / "snap")
    answers = read_snapshot(tmp_path / "snap").answers.set_index("id")
    assert answers.loc["late-1/teacher/serve", "judge_score"] == pytest.approx(1.0)
    assert answers.loc["late-1/teacher/serve", "judge_cost"] == pytest.approx(0.001)


def test_snapshot_is_byte_identical_and_drops_evaluation_rows(traffic, tmp_path):
    first = export_snapshot(traffic, tmp_path / "a")
    example = School(seed=3).generate_domain("units", 1)[0]
    answers = [("student-1", "student", "evaluation", "x", 0.0, 1.0, None)]
    log_query(
        traffic,
        "evaluation:student-1:2:q",
        example,
        _direction(1).astype(np.float32),
        answers,
        route="evaluation",
    )
    second = export_snapshot(traffic, tmp_path / "b")
    assert first != second  # the evaluation row is in the file ...
    assert len(read_snapshot(tmp_path / "b").queries) == 80  # ... but never counted as traffic
    third = export_snapshot(traffic, tmp_path / "c")
    assert second == third == {n: file_md5(tmp_path / "c" / n) for n in third}


def test_kmeans_is_seeded_and_separates_clusters():
    rng = np.random.default_rng(0)
    points = np.concatenate([np.stack([_near(_direction(s), rng) for _ in range(30)]) for s in (1, 2, 3)])
    labels, centroids = kmeans(points, 3, seed=0)
    assert centroids.shape == (3, DIM)
    assert all(len(set(labels[i * 30 : (i + 1) * 30])) == 1 for i in range(3))
    assert len(set(labels)) == 3
    assert np.array_equal(labels, kmeans(points, 3, seed=0)[0])
    assert choose_k(200, 0, 64) == 10 and choose_k(5, 0, 64) == 2 and choose_k(10, 50, 64) == 10


def test_aggregate_and_gaps(traffic, tmp_path):
    export_snapshot(traffic, tmp_path / "snap")
    snapshot = read_snapshot(tmp_path / "snap")
    clusters = cluster_queries(snapshot, ScoringConfig(clusters=2))
    assert clusters.groupby(clusters.index.str.split("-").str[0]).nunique().max() == 1  # domain-pure
    table = aggregate(snapshot, clusters).set_index(["model", "domain"])
    assert table.loc[("student-1", "units"), "win_rate"] == 1.0  # ties with the teacher count as wins
    assert table.loc[("student-1", "capitals"), "win_rate"] == 0.0
    assert table.loc[("teacher", "capitals"), "cost_share"] == pytest.approx(0.0003 / 0.000301)
    assert table.loc[("teacher", "units"), "supervisor_calls"] == 40
    config = GapsConfig(quality_gate=0.9, min_queries=10, savings_half_life=0)
    report = mine_gaps(snapshot, clusters, aggregate(snapshot, clusters), config)
    [gap] = report.selected
    assert (gap.domain, gap.kind, gap.best_student, gap.queries) == (
        "capitals",
        "underperforming",
        "student-1",
        40,
    )
    assert gap.savings == pytest.approx(40 * 1.0 * 0.0003)  # every query counts 1 without a half-life
    recent = mine_gaps(
        snapshot, clusters, aggregate(snapshot, clusters), config.model_copy(update={"savings_half_life": 40})
    )
    assert 0 < recent.selected[0].savings < gap.savings  # older queries count less
    units = next(c for c in report.clusters if c.domain == "units")
    assert units.kind is None and units.best_student_score == 1.0
    assert model_win_rates(snapshot)["student-1"] == (0.5, 80)


def test_recency_halves_a_querys_weight_every_half_life_newer_queries():
    ts = pd.Series(pd.to_datetime([3, 1, 2, 2, 0], unit="s", utc=True))
    weights = recency_weights(ts, half_life=2)
    assert list(weights) == pytest.approx(
        [1.0, 0.5**1.5, 0.5**0.5, 0.5**1.0, 0.5**2]
    )  # ties keep their order
    assert list(recency_weights(ts, 0)) == [1.0] * 5


def test_uncovered_cluster_is_a_spawn_gap(traffic, tmp_path):
    school, rng = School(seed=4), np.random.default_rng(1)
    for i, example in enumerate(school.generate_domain("reverse", 25)):
        answers = [("teacher", "teacher", "serve", example.reference, 0.0003, 1.0, None)]
        log_query(traffic, f"reverse-{i:03d}", example, _near(_direction(9), rng), answers)
    export_snapshot(traffic, tmp_path / "snap")
    snapshot = read_snapshot(tmp_path / "snap")
    clusters = cluster_queries(snapshot, ScoringConfig(clusters=3))
    report = mine_gaps(snapshot, clusters, aggregate(snapshot, clusters), GapsConfig(min_queries=10))
    kinds = {g.domain: g.kind for g in report.selected}
    assert kinds == {"capitals": "underperforming", "reverse": "uncovered"}
    assert [g.domain for g in report.selected] == ["capitals", "reverse"]  # 40 queries save more than 25


def test_distillation_dataset(traffic, tmp_path):
    export_snapshot(traffic, tmp_path / "snap")
    snapshot = read_snapshot(tmp_path / "snap")
    clusters = cluster_queries(snapshot, ScoringConfig(clusters=2))
    report = mine_gaps(snapshot, clusters, aggregate(snapshot, clusters), GapsConfig(min_queries=10))
    config = DatasetConfig(eval_fraction=0.25, retention_fraction=0.5, regression_per_cluster=5)
    splits = build_distillation_dataset(snapshot, clusters, report, config)
    train, held_out = splits["train"].to_pandas(), splits["eval"].to_pandas()
    gap_train = train[train["gap"] >= 0]
    assert set(gap_train["domain"]) == {"capitals"} and set(held_out["domain"]) == {"capitals"}
    assert set(gap_train["source_model"]) == {"teacher"}  # the winner, not the wrong student
    assert set(train[train["gap"] == -1]["domain"]) == {"units"}
    assert len(train[train["gap"] == -1]) == round(len(gap_train) * 0.5)
    assert not set(train["query"].str.lower()) & set(held_out["query"].str.lower())  # disjoint by query
    assert train["query"].str.lower().is_unique  # deduplicated
    assert set(splits["regression"]["domain"]) == {"units", "capitals"}
    row = gap_train.iloc[0]
    assert row["completion"] == " " + row["answer"] and row["completion_reasoning"].endswith(
        "=> " + row["answer"]
    )
    both = training_examples(splits["train"], DistillConfig(aspects=["response", "reasoning"]), 0.8)
    assert len(both.sft) == len(train) + train["completion_reasoning"].notna().sum() and len(both.peer) == 0
    write_datasets(tmp_path / "d1", splits)
    write_datasets(tmp_path / "d2", build_distillation_dataset(snapshot, clusters, report, config))
    for name in ("train.parquet", "eval.parquet", "regression.parquet"):
        assert file_md5(tmp_path / "d1" / name) == file_md5(tmp_path / "d2" / name)


def test_low_confidence_winners_teach_only_without_the_metrics_aspect(traffic, tmp_path):
    export_snapshot(traffic, tmp_path / "snap")
    snapshot = read_snapshot(tmp_path / "snap")
    snapshot.answers.loc[snapshot.answers["model"] == "teacher", "judge_score"] = 0.5
    clusters = pd.Series(0, index=snapshot.queries["id"].to_numpy())
    report = mine_gaps(snapshot, clusters, aggregate(snapshot, clusters), GapsConfig(min_queries=10))
    splits = build_distillation_dataset(snapshot, clusters, report, DatasetConfig(confidence_threshold=0.8))
    train = splits["train"].to_pandas()
    assert set(train["source_model"]) == {"teacher", "student-1"}  # kept, with their scores
    for held_out in (splits["eval"], splits["regression"]):  # never a label of a held-out query
        assert set(held_out["source_model"]) <= {"student-1"} and min(held_out["weight"], default=1) >= 0.8
    weighted = training_examples(splits["train"], DistillConfig(aspects=["response", "metrics"]), 0.8)
    trusted = train[train["weight"] >= 0.8]
    assert len(weighted.sft) == len(trusted) and set(trusted["domain"]) == {"units"}
    assert sorted(weighted.sft["weight"]) == sorted(trusted["weight"])
    everything = training_examples(splits["train"], DistillConfig(aspects=["response"]), 0.8)
    assert len(everything.sft) == len(train) and set(everything.sft["weight"]) == {1.0}


def _result(gap, **domains):
    """Per-query exact match: 60 gap queries with ``gap`` right, 40 per regression domain."""
    scores = {f"g{i}": float(i < round(gap * 60)) for i in range(60)}
    for domain, accuracy in domains.items():
        scores |= {f"{domain}{i}": float(i < round(accuracy * 40)) for i in range(40)}
    per_domain_n = dict.fromkeys(domains, 40)
    return EvalResult("s", None, gap, {}, dict(domains), len(scores), per_domain_n, scores=scores)


GROUPS = {f"{domain}{i}": domain for domain in "ab" for i in range(40)}


def test_quality_gate():
    config = GateConfig(margin=0.05, max_regression=0.05)
    passed = quality_gate(_result(0.9, a=0.9, b=0.8), _result(0.2, a=0.9, b=0.8), None, config, groups=GROUPS)
    assert passed.passed and (passed.b, passed.c) == (42, 0)
    refused = quality_gate(_result(0.22, a=0.9), _result(0.2, a=0.9), None, config, groups=GROUPS)
    assert not refused.passed and "margin" in refused.summary  # one discordant answer is no evidence
    regressed = quality_gate(
        _result(0.9, a=0.7, b=0.8), _result(0.2, a=0.9, b=0.8), None, config, groups=GROUPS
    )
    assert not regressed.passed and "regressed on a" in regressed.summary
    ratio = GateConfig(margin=0.0, min_teacher_ratio=0.95)
    assert not quality_gate(_result(0.8), None, _result(1.0), ratio).passed
    assert quality_gate(_result(0.96), None, _result(1.0), ratio).passed


def test_role_ladder():
    config = RolesConfig(ta_win_rate=0.6, teacher_win_rate=0.8, nights=2, min_judged=10)
    assert next_role("student", [(0.7, 50)], config) == ("student", None)  # one night is not sustained
    assert next_role("student", [(0.7, 50), (0.65, 50)], config)[0] == "ta"
    assert next_role("student", [(0.7, 50), (0.65, 5)], config)[0] == "student"  # too little evidence
    assert next_role("ta", [(0.9, 50), (0.85, 50)], config)[0] == "teacher"
    role, reason = next_role("ta", [(0.5, 50), (0.4, 50)], config)
    assert role == "student" and "demoted" in reason
    assert next_role("ta", [(0.5, 50), (0.7, 50)], config) == ("ta", None)


def test_metric_names_are_mlflow_safe():
    result = EvalResult("s", None, 0.5, {"3": 0.5}, {"unknown": 1.0, "maths (2-digit)": 0.25}, 4)
    assert result.metrics() == {
        "gap_exact_match": 0.5,
        "exact_match.unknown": 1.0,
        "exact_match.maths _2-digit_": 0.25,
        "gap_exact_match.3": 0.5,
    }


def test_evolve_cli_reports_a_missing_snapshot(tmp_path):
    from typer.testing import CliRunner

    from academy.cli import app

    result = CliRunner().invoke(
        app, ["evolve", "gaps", "--home", str(tmp_path), "--data", str(tmp_path / "d")]
    )
    assert result.exit_code == 2
    assert "not a traffic snapshot" in result.output and "Traceback" not in result.output


def test_unjudged_teacher_answers_teach_with_the_teachers_track_record():
    from academy.evolution.dataset import trusted_teacher_answers

    answers = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e", "f"],
            "model": ["teacher", "teacher", "teacher", "student-1", "teacher", "weak"],
            "role": ["teacher", "teacher", "teacher", "student", "teacher", "teacher"],
            "purpose": ["fanout", "serve", "serve", "serve", "shadow", "serve"],
            "judge_score": [1.0, 0.9, None, None, None, None],
            "error": [None, None, None, None, None, None],
        }
    )
    weak_judged = pd.DataFrame(
        {
            "id": ["g"],
            "model": ["weak"],
            "role": ["teacher"],
            "purpose": ["fanout"],
            "judge_score": [0.5],
            "error": [None],
        }
    )
    trusted = trusted_teacher_answers(pd.concat([answers, weak_judged], ignore_index=True), threshold=0.8)
    # only c: served by a teacher, unjudged; weighted by that teacher's mean judged score (0.95).
    # d is a student's answer, e was not served, f's teacher has a 0.5 track record.
    assert list(trusted["id"]) == ["c"] and trusted["judge_score"].iloc[0] == pytest.approx(0.95)


def test_rehearsal_mixes_in_the_students_own_warm_start_pairs():
    import datasets

    from academy.evolution.dataset import with_rehearsal
    from models.student import format_prompt, format_target

    tonight = datasets.Dataset.from_dict(
        {"prompt": ["p1", "p2"], "completion": ["c1", "c2"], "weight": [0.9, 0.8]}
    )
    known = [(f"q{i}", f"a{i}") for i in range(10)]
    mixed = with_rehearsal(tonight, known, fraction=1.5)
    assert len(mixed) == 2 + 10 and mixed["prompt"][:2] == ["p1", "p2"]  # every known pair, once
    rehearsed = list(zip(mixed["prompt"][2:], mixed["completion"][2:]))
    assert rehearsed == [(format_prompt(q), format_target(a)) for q, a in known]
    assert sum(mixed["weight"][2:]) == pytest.approx(1.5 * (0.9 + 0.8))  # 1.5 x tonight's weight
    assert (
        len(with_rehearsal(tonight, [], fraction=1.0)) == 2 and len(with_rehearsal(tonight, known, 0.0)) == 2
    )


def test_scoring_shards_keep_each_querys_answers_together():
    """The nightly flow judges shards in parallel; a delegated query's answers are judged together,
    so no query may straddle two shards, and every row lands in exactly one."""
    todo = pd.DataFrame({"query_id": list("aabcccdde"), "id": [f"r{i}" for i in range(9)]})
    for shards in (1, 2, 3, 10):
        parts = shard_by_query(todo, shards)
        assert len(parts) == min(shards, 5)
        assert sorted(pd.concat(parts)["id"]) == sorted(todo["id"])
        owners = [set(part["query_id"]) for part in parts]
        assert all(not (a & b) for i, a in enumerate(owners) for b in owners[i + 1 :])
    assert shard_by_query(todo.iloc[:0], 4) == []


def test_a_refused_candidate_no_worse_than_production_is_carried_to_the_next_night(tmp_path):
    """Training continues from last night's refused candidate only when it was refused for want of
    proof: same production version, gain >= 0, no cluster regressed. A spawned student not promoted
    yet carries its refused candidate whatever its score: nothing serves it until the gate passes."""
    import json

    from academy.evolution.students import carried_candidate

    work = tmp_path / "student-1"
    (work / "model").mkdir(parents=True)
    (work / "model" / "config.json").write_text("{}")

    def night(stage="rejected", difference=0.09, regressed=False, incumbent=3, spawn=False):
        (work / "train.json").write_text(json.dumps({"spawn": spawn, "incumbent_version": incumbent}))
        gate = {"difference": difference, "groups": [{"group": "4", "regressed": regressed}]}
        (work / "promotion.json").write_text(json.dumps({"stage": stage, "gate": gate}))
        return carried_candidate(work / "model", 3)

    carried = night()
    assert carried == work / "carried" and (carried / "config.json").is_file()
    assert night(stage="production") is None  # promoted: production is that model already
    assert night(difference=-0.02) is None  # measured worse
    assert night(regressed=True) is None  # a cluster regressed
    assert night(incumbent=2) is None  # production moved on since
    assert night(spawn=True) is None  # a spawn promoted since (production 3): it starts from that
    assert night(difference=None) is None
    night(spawn=True, incumbent=None, difference=-0.3)
    assert carried_candidate(work / "model", None) == work / "carried"  # a refused spawn goes on from its own
    night(spawn=True, incumbent=None, stage="production")
    assert carried_candidate(work / "model", None) is None
    (work / "promotion.json").unlink()
    assert carried_candidate(work / "model", 3) is None  # never gated
