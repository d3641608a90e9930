"""Multi-aspect distillation: a tiny run of each aspect moving the right way, and the benchmark
end to end (academy/evolution/training.py ``distill_student``, bench/distill.py). The aspects' rows
and settings: tests/unit/test_aspects.py."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import torch
import yaml
from typer.testing import CliRunner

from academy.cli import app
from academy.config import DistillConfig
from academy.evolution.dataset import training_examples
from academy.evolution.training import distill_student, spawn_student_dir
from academy.school import School
from bench.distill import VARIANTS
from models.student import load_student
from tests.factories import TINY_STUDENT, make_config
from tests.factories.distill import frozen_rows, kl_to_peer, nll

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
