"""Multi-aspect distillation: each aspect's rows, and a tiny run of each moving the right way
(academy/evolution/dataset.py ``training_examples``, training.py ``distill_student``, bench/distill.py)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest
import torch
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from academy.cli import app
from academy.config import DistillConfig
from academy.evolution.dataset import to_dataset, training_examples
from academy.evolution.training import distill_student, spawn_student_dir
from academy.school import School
from bench.distill import VARIANTS, operand_key, split_by_operands
from models.student import load_student
from tests.conftest import TINY_STUDENT, make_config
from tests.test_distill import kl_to_peer, nll


def frozen_rows(rows: list[tuple[str, str, str | None, float, str]]) -> datasets.Dataset:
    """A distillation dataset in the nightly schema from (query, answer, reasoning, score, domain)."""
    frame = pd.DataFrame(rows, columns=["query", "answer", "reasoning", "weight", "domain"])
    frame = frame.assign(
        query_id=[f"q{i}" for i in range(len(frame))],
        cluster=0,
        gap=0,
        student="",
        source_model="teacher",
        order=range(len(frame)),
    )
    return to_dataset(frame)


ROWS = frozen_rows(
    [
        ("What is 12 plus 30?", "42", "ones: 2 + 0 = 2, write 2; tens: 1 + 3 = 4, write 4; answer 42", 1.0, "arithmetic"),
        ("What is 15 plus 15?", "31", "ones: 5 + 5 = 10, write 0 carry 1; tens: 1 + 1 + 1 = 3, write 3; answer 31", 0.2, "arithmetic"),
        ("Capital of Peru?", "Lima", None, 0.9, "capitals"),
    ]
)  # fmt: skip


def test_each_aspect_formats_its_rows():
    response = training_examples(ROWS, DistillConfig(aspects=["response"]), threshold=0.8)
    assert response.sft["completion"] == [" 42", " 31", " Lima"] and response.sft["weight"] == [1.0] * 3
    assert len(response.peer) == 0
    reasoning = training_examples(ROWS, DistillConfig(aspects=["reasoning"]), threshold=0.8)
    assert reasoning.sft["completion"][0] == (
        " ones: 2 + 0 = 2, write 2; tens: 1 + 3 = 4, write 4; answer 42 => 42"
    )
    assert reasoning.sft["completion"][2] == " Lima"  # no reasoning known: the answer alone
    both = training_examples(ROWS, DistillConfig(aspects=["response", "reasoning"]), threshold=0.8)
    assert len(both.sft) == 5  # two targets per arithmetic query, one for the capital
    metrics = training_examples(ROWS, DistillConfig(aspects=["response", "metrics"]), threshold=0.8)
    assert metrics.sft["completion"] == [" 42", " Lima"] and metrics.sft["weight"] == [1.0, 0.9]
    peer = training_examples(ROWS, DistillConfig(aspects=["reasoning", "metrics", "peer"]), threshold=0.8)
    assert peer.peer["completion"] == peer.sft["completion"] and len(peer.peer) == 2


def test_domain_aspects_override_the_default():
    config = DistillConfig(
        aspects=["response"], domain_aspects={"arithmetic": ["reasoning", "metrics", "peer"]}
    )
    examples = training_examples(ROWS, config, threshold=0.8)
    assert [c.endswith("=> 42") for c in examples.sft["completion"]] == [True, False]
    assert examples.sft["completion"][1] == " Lima" and len(examples.peer) == 1
    assert config.aspects_for("arithmetic") == ["reasoning", "metrics", "peer"]
    assert config.aspects_for("units") == ["response"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"aspects": ["metrics"]}, "needs 'response' and/or 'reasoning'"),
        ({"domain_aspects": {"sorting": ["peer"]}}, "domain_aspects.sorting"),
        ({"steps": 0, "peer_steps": 0}, "cannot both be 0"),
        ({"aspects": ["answers"]}, "literal_error"),
    ],
)
def test_bad_aspect_settings_are_refused(settings, message):
    with pytest.raises(ValidationError, match=message):
        DistillConfig(**settings)


# ---- tiny runs: each aspect moves the metric the way it should -----------------------------------


@pytest.fixture(scope="module")
def fresh(tiny_student_dir, tmp_path_factory) -> Path:
    """An untrained student with the shared tokenizer: every tiny run starts here."""
    return spawn_student_dir(tiny_student_dir, tmp_path_factory.mktemp("fresh") / "base", TINY_STUDENT)


def distill(
    base: Path, out: Path, rows: datasets.Dataset, peer_dir: Path | None = None, **settings
) -> tuple[torch.nn.Module, dict]:
    """``distill_student`` with tiny settings; ``settings`` override ``DistillConfig`` fields."""
    config = DistillConfig(**{"batch_size": 8, "learning_rate": 1e-2, "peer_steps": 0} | settings)
    examples = training_examples(rows, config, threshold=0.8)
    stats = distill_student(base, out, examples, config, max_length=64, peer_dir=peer_dir)
    return load_student(out)[0], stats


def test_metrics_aspect_stops_a_wrong_majority_from_teaching(fresh, tmp_path):
    """Three low-scored wrong answers outvote one right answer, unless the judge's score weighs in."""
    query = "What is the capital of Peru?"
    noisy = frozen_rows(
        [(query, "Lima", None, 1.0, "capitals")] + [(query, "Quito", None, 0.1, "capitals")] * 3
    )
    _, tokenizer = load_student(fresh)
    right, wrong = [(query, "Lima")], [(query, "Quito")]
    plain, stats = distill(fresh, tmp_path / "plain", noisy, aspects=["response"], steps=30)
    weighted, _ = distill(fresh, tmp_path / "weighted", noisy, aspects=["response", "metrics"], steps=30)
    assert stats["sft"]["steps"] == 30 and stats["peer"] is None
    assert nll(plain, tokenizer, wrong) < nll(plain, tokenizer, right)
    assert nll(weighted, tokenizer, right) < nll(weighted, tokenizer, wrong)


def test_reasoning_aspect_teaches_the_worked_solution(fresh, tmp_path):
    examples = School(seed=3, domains=["arithmetic"]).generate_domain("arithmetic", 48)
    rows = frozen_rows([(e.query, e.reference, e.reasoning, 1.0, e.domain) for e in examples[:40]])
    held_out = [(e.query, e.reference, e.reasoning) for e in examples[40:]]
    _, tokenizer = load_student(fresh)
    before = nll(load_student(fresh)[0], tokenizer, held_out)
    reasoning, _ = distill(fresh, tmp_path / "reasoning", rows, aspects=["reasoning"], steps=20)
    response, _ = distill(fresh, tmp_path / "response", rows, aspects=["response"], steps=20)
    after = nll(reasoning, tokenizer, held_out)
    assert after < before and after < nll(response, tokenizer, held_out)


def test_peer_aspect_alone_and_after_sft_moves_the_student_toward_the_peer(fresh, tiny_student_dir, tmp_path):
    examples = School(seed=4).generate_domain("units", 32)
    rows = frozen_rows([(e.query, e.reference, None, 1.0, e.domain) for e in examples])
    pairs = [(e.query, e.reference) for e in examples]
    peer, tokenizer = load_student(tiny_student_dir)
    start = kl_to_peer(load_student(fresh)[0], peer, tokenizer, pairs)
    settings = {"aspects": ["response", "peer"], "peer_alpha": 1.0, "peer_learning_rate": 1e-2}
    alone, stats = distill(
        fresh, tmp_path / "alone", rows, tiny_student_dir, steps=0, peer_steps=15, **settings
    )
    assert stats["sft"] is None and stats["peer"]["steps"] == 15
    assert kl_to_peer(alone, peer, tokenizer, pairs) < start
    sft_only, _ = distill(fresh, tmp_path / "sft", rows, steps=10, aspects=["response"])
    after, stats = distill(
        fresh, tmp_path / "after", rows, tiny_student_dir, steps=10, peer_steps=10, **settings
    )
    assert stats["sft"]["steps"] == 10 and stats["peer"]["steps"] == 10
    assert stats["train_seconds"] == pytest.approx(
        stats["sft"]["train_seconds"] + stats["peer"]["train_seconds"], abs=0.01
    )
    assert kl_to_peer(after, peer, tokenizer, pairs) < kl_to_peer(sft_only, peer, tokenizer, pairs)
    nothing = DistillConfig(aspects=["response", "metrics"])  # every winner below the threshold
    with pytest.raises(ValueError, match="no SFT examples"):
        distill_student(fresh, tmp_path / "none", training_examples(frozen_rows(
            [("Q?", "A", None, 0.1, "capitals")]), nothing, 0.8), nothing, 64)  # fmt: skip


# ---- the benchmark -------------------------------------------------------------------------------


def test_held_out_queries_have_new_operands():
    school = School(seed=0)
    split = split_by_operands(school, ["arithmetic", "sorting", "reverse", "capitals"], 300, 40, 0.2, seed=0)
    for domain, held_out in split.test.items():
        taught = {operand_key(e) for e in split.train if e.domain == domain}
        assert held_out and not {operand_key(e) for e in held_out} & taught, domain
    assert operand_key(school.lookup("What is 47 plus 35?")) == operand_key(school.lookup("Add 47 and 35."))
    assert operand_key(school.lookup("What is 47 plus 35?")) != operand_key(
        school.lookup("What is 47 minus 35?")
    )


def test_bench_distill_trains_every_variant_and_logs_to_mlflow(tiny_student_dir, tmp_path):
    cfg = make_config(tmp_path / "home", tiny_student_dir).model_dump(mode="json")
    cfg["distill_bench"] = {
        "out": str(tmp_path / "out"),
        "domains": ["arithmetic", "capitals"],
        "train_per_domain": 16,
        "test_per_domain": 4,
        "steps": 4,
        "max_new_tokens": 4,
        "teacher_error_rate": 0.5,  # sure to leave some winners below the confidence threshold
    }
    cfg["evolution"]["distill"]["batch_size"] = 8
    path = tmp_path / "academy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(app, ["bench", "distill", "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report) == list(VARIANTS)
    for name, variant in report.items():
        assert set(variant["exact_match"]) == {"arithmetic", "capitals"}, name
        assert variant["train_seconds"] > 0
        assert variant["steps"] + variant["peer_steps"] == 4 or name == "response@equal-time"
    ratio = report["reasoning+metrics"]["train_seconds"] / report["response"]["train_seconds"]
    assert report["response@equal-time"]["steps"] == max(1, round(4 * ratio))  # the same wall time
    assert report["peer"]["steps"] == 0 and report["peer"]["peer_steps"] == 4 and report["peer"]["peer"]
    assert (
        report["reasoning+metrics+peer"]["steps"] == 3 and report["reasoning+metrics+peer"]["peer_steps"] == 1
    )
    assert report["reasoning@clean"]["data"] == "clean"
    assert report["response+metrics"]["sft_rows"] < report["response"]["sft_rows"]  # the teacher's errors
    assert "| reasoning+metrics |" in (tmp_path / "out" / "report.md").read_text()
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}")
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.`academy.kind` = 'distill-bench'"
    )
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1 and len(children) == len(VARIANTS)
    assert {"train_seconds", "exact_match.arithmetic"} <= set(children[0].data.metrics)


def test_bench_distill_refuses_an_unknown_variant():
    result = CliRunner().invoke(app, ["bench", "distill", "--variant", "telepathy"])
    assert result.exit_code == 2 and "unknown variant" in result.output and "Traceback" not in result.output
