"""The replay benchmark: real outcome data streamed through the server's router, learning online."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from academy.cli import app
from academy.config import AcademyConfig, RouterConfig
from academy.outcomes import RecordedOutcomes
from academy.replay.harness import replay_stream
from academy.replay.memory_store import MemoryTrafficStore
from academy.replay.sets import MIXTRAL, STRONG, ReplaySet, load_set
from academy.routing.academy_policy import Estimate, blend_learned
from academy.routing.quality_model import (
    QualityModel,
    brier,
    fit_quality_model,
    judged_matrix,
    mean_model,
    train_and_gate,
)
from academy.store import TrafficStore

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DIM = 384


def clustered(n: int, seed: int = 0, spread: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around two random centres; returns (vectors, cluster of each)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, DIM))
    cluster = rng.integers(0, 2, n)
    vectors = centres[cluster] + spread * rng.normal(size=(n, DIM)) * np.sqrt(1 / DIM) * 10
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), cluster


def two_model_set(n: int = 600, seed: int = 0) -> tuple[ReplaySet, np.ndarray]:
    """GPT-4 is always right; Mixtral is right in cluster 0 only: a router that learns where
    Mixtral is enough pays ~half of always-GPT-4 at GPT-4's quality."""
    vectors, cluster = clustered(n, seed)
    scores = np.stack([np.ones(n), (cluster == 0).astype(float)], axis=1)
    data = ReplaySet(
        "toy",
        [f"question {i} about {'history' if c == 0 else 'algebra'}" for i, c in enumerate(cluster)],
        [STRONG, MIXTRAL],
        scores,
        np.tile([1.0, 0.01], (n, 1)),
        [f"c{c}" for c in cluster],
        strong=STRONG,
        weak=MIXTRAL,
        cost_unit="GPT-4 calls",
    )
    return data, vectors


def replay_cfg(**replay: object) -> AcademyConfig:
    cfg = AcademyConfig()
    settings = {"warmup_queries": 60, "retrain_every": 100, "concurrency": 4, **replay}
    return cfg.model_copy(update={"replay": cfg.replay.model_copy(update=settings)})


# -- the learned quality model -------------------------------------------------------------------


def test_quality_heads_learn_where_each_model_is_right_and_round_trip(tmp_path):
    data, vectors = two_model_set(400)
    matrix = judged_matrix((v, data.models, s.tolist()) for v, s in zip(vectors, data.scores))
    model = fit_quality_model(matrix, l2=1.0)
    predicted = model.predict(vectors)
    weak = predicted[:, model.models.index(MIXTRAL)]
    cluster0 = data.scores[:, 1] == 1
    assert weak[cluster0].mean() > 0.8 and weak[~cluster0].mean() < 0.2
    assert brier(model, matrix) < brier(mean_model(matrix), matrix) / 3
    loaded = QualityModel.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict(vectors[:5]), model.predict(vectors[:5]))
    assert loaded.rows == {STRONG: 400, MIXTRAL: 400}


def test_judged_matrix_pools_versions_and_skips_unjudged_queries():
    vectors, _ = clustered(3)
    rows = [(vectors[0], ["s@1", "t"], [1.0, 0.0]), (vectors[1], [], []), (vectors[2], ["s@2"], [0.5])]
    matrix = judged_matrix(rows)
    assert matrix.models == ["s", "t"] and len(matrix) == 2
    np.testing.assert_array_equal(matrix.scores[1], [0.5, np.nan])


def test_the_gate_promotes_an_informative_model_and_refuses_noise():
    data, vectors = two_model_set(500)
    informative = judged_matrix((v, data.models, s.tolist()) for v, s in zip(vectors, data.scores))
    _, gate = train_and_gate(informative, None)
    assert gate.passed and gate.candidate_brier < gate.incumbent_brier
    noise = np.random.default_rng(1).integers(0, 2, (500, 2)).astype(float)
    random_labels = judged_matrix((v, data.models, s.tolist()) for v, s in zip(vectors, noise))
    _, gate = train_and_gate(random_labels, None, margin=0.01)
    assert not gate.passed and "does not beat" in gate.reason


def test_knn_evidence_refines_the_learned_prior():
    knn = {"a": Estimate(1.0, 2.0)}
    blended = blend_learned(knn, {"a": 0.0, "b": 0.7}, prior_weight=2.0)
    assert blended["a"].quality == pytest.approx(0.5) and blended["a"].evidence == pytest.approx(4.0)
    assert blended["b"].quality == pytest.approx(0.7)
    assert blend_learned(knn, {"a": 0.0}, prior_weight=0.0) == knn


# -- the replay harness --------------------------------------------------------------------------


def test_the_router_learns_online_where_the_weak_model_is_enough(tmp_path):
    data, vectors = two_model_set(600)
    outcomes = data.write_outcomes(tmp_path / "outcomes.jsonl")
    cfg = replay_cfg()
    run = asyncio.run(replay_stream(cfg, data, vectors, outcomes, price_weight=0.2))
    assert any(r["promoted"] for r in run.retrains)
    late = [(row, model) for row, model, _ in run.decisions[300:]]
    weak_in_0 = np.mean([model == MIXTRAL for row, model in late if data.groups[row] == "c0"])
    strong_in_1 = np.mean([model == STRONG for row, model in late if data.groups[row] == "c1"])
    assert weak_in_0 > 0.8 and strong_in_1 > 0.8
    assert run.quality > 0.95 and run.cost_share < 0.75
    # The same policy without the learned model fans out every query it has no close neighbour for.
    knn_cfg = cfg.model_copy(deep=True)
    knn_cfg.router.learned.enabled = False
    knn_only = asyncio.run(replay_stream(knn_cfg, data, vectors, outcomes, price_weight=0.2))
    assert knn_only.routes.get("novel", 0) > run.routes.get("novel", 0)
    assert knn_only.cost_share > run.cost_share


def test_every_exploration_and_judge_call_is_charged(tmp_path):
    data, vectors = two_model_set(120)
    outcomes = data.write_outcomes(tmp_path / "outcomes.jsonl")
    run = asyncio.run(replay_stream(replay_cfg(warmup_queries=1000), data, vectors, outcomes, 0.2))
    # Without a learned model and far-apart queries everything fans out: both models and 2 judge calls each.
    fanned = run.routes.get("novel", 0)
    judge = replay_cfg().replay.judge_cost_ratio * 1.0
    expected = fanned * (1.0 + 0.01 + 2 * judge)
    assert run.judge_calls >= 2 * fanned
    assert run.cost >= expected - 1e-9


def test_the_memory_store_routes_exactly_like_lancedb(tmp_path):
    data, vectors = two_model_set(80, seed=3)
    outcomes = data.write_outcomes(tmp_path / "outcomes.jsonl")
    cfg = replay_cfg(warmup_queries=10_000, concurrency=1, explore_rate=0.2)
    cfg.router.novel_similarity = 0.5
    memory = asyncio.run(replay_stream(cfg, data, vectors, outcomes, 0.2, MemoryTrafficStore()))
    lance = asyncio.run(
        replay_stream(cfg, data, vectors, outcomes, 0.2, TrafficStore(tmp_path / "lancedb", cfg.store))
    )
    assert memory.decisions == lance.decisions
    assert {"novel", "familiar"} <= set(memory.routes)
    assert memory.cost == pytest.approx(lance.cost) and memory.judge_calls == lance.judge_calls


def test_judge_rate_reveals_the_served_models_quality(tmp_path):
    data, vectors = two_model_set(40)
    store = MemoryTrafficStore()
    outcomes = data.write_outcomes(tmp_path / "outcomes.jsonl")
    cfg = replay_cfg(warmup_queries=10_000, judge_rate=1.0, explore_rate=0.0, concurrency=1)
    cfg.router.novel_similarity = -1.0  # everything familiar: served by the teacher, then judged
    asyncio.run(replay_stream(cfg, data, vectors, outcomes, 0.2, store))
    served = [a for answers in store.answers for a in answers if a.purpose == "serve"]
    assert served and all(a.judge_score is not None for a in served)


# -- data sets -----------------------------------------------------------------------------------


def write_routellm_fixture(root: Path) -> Path:
    folder = root / "routellm"
    (folder / "mmlu_responses").mkdir(parents=True)
    with open(folder / "gsm8k_responses.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", MIXTRAL, STRONG])
        for i in range(30):
            writer.writerow([f"What is {i} plus {i}?", str(i % 3 == 0), "True"])
        writer.writerow(["What is 0 plus 0?", "True", "True"])  # a duplicate prompt
    (folder / "gsm8k_contaminated_prompts.jsonl").write_text(
        json.dumps({"eval_prompt": "What is 1 plus 1?"}) + "\n"
    )
    return root


def test_routellm_sets_drop_contaminated_and_duplicate_prompts(tmp_path):
    data = load_set("gsm8k", write_routellm_fixture(tmp_path))
    assert len(data) == 29 and data.dropped == {"contaminated": 1, "duplicate": 1}
    assert data.mean_quality(STRONG) == 1.0 and data.mean_quality(MIXTRAL) == pytest.approx(10 / 29)
    assert set(data.costs[:, 0]) == {1.0} and set(data.costs[:, 1]) == {0.01}
    outcomes = RecordedOutcomes.load(data.write_outcomes(tmp_path / "o.jsonl"))
    assert outcomes.get("What is 2 plus 2?", MIXTRAL).score == 0.0


@pytest.mark.skipif(not SHARED.exists(), reason="the shared outcome data is not next to the repo")
def test_the_shared_data_loads_with_the_documented_sizes_and_accuracies():
    mmlu, routerbench = load_set("mmlu", SHARED), load_set("routerbench", SHARED)
    assert len(mmlu) == 14042 - 5 - mmlu.dropped["duplicate"]
    assert mmlu.mean_quality(STRONG) == pytest.approx(0.806, abs=0.002)
    assert len(routerbench) == 445 + 128 + 380 - 1 and len(routerbench.models) == 11
    assert routerbench.mean_quality(STRONG) == pytest.approx(0.879, abs=0.002)
    assert routerbench.mean_cost(STRONG) == pytest.approx(5.03e-3, rel=0.01)


# -- the command ---------------------------------------------------------------------------------


def test_bench_replay_command_prints_json_per_set(tmp_path):
    data_dir = write_routellm_fixture(tmp_path / "data")
    config = tmp_path / "academy.yaml"
    config.write_text(
        "replay:\n  price_weights: [0.0, 0.5]\n  warmup_queries: 10\n  retrain_every: 10\n"
        f"  out: {tmp_path / 'out'}\n  data_dir: {data_dir}\n"
    )
    result = CliRunner().invoke(app, ["bench", "replay", "--set", "gsm8k", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    gsm8k = report["gsm8k"]
    assert {"apgr", "cpt50", "cpt80", "saved_at_95"} <= set(gsm8k)
    assert {"random", "always_strong", "always_weak", "best_single", "oracle", "knn_only"} <= set(
        gsm8k["baselines"]
    )
    assert gsm8k["baselines"]["random"]["cpt50"] == pytest.approx(0.5, abs=0.02)
    assert (tmp_path / "out" / "report.md").read_text().count("gsm8k") >= 1
    assert (tmp_path / "out" / "gsm8k.png").stat().st_size > 1000


def test_bench_replay_refuses_unknown_sets_and_missing_data(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "replay", "--set", "imagenet"])
    assert result.exit_code == 2 and "unknown data set" in result.output
    result = runner.invoke(app, ["bench", "replay", "--set", "gsm8k", "--data", str(tmp_path)])
    assert result.exit_code == 2 and "cannot read" in result.output and "Traceback" not in result.output


def test_the_server_fans_out_every_novel_query_and_the_replay_samples_them():
    learned, replay = RouterConfig().learned, AcademyConfig().replay
    assert learned.enabled and learned.novel_fanout_rate == 1.0
    assert 0 < replay.novel_fanout_rate < 1 and replay.learned_prior_weight > learned.prior_weight


def test_prior_traffic_starts_the_router_warm_and_is_not_charged(tmp_path):
    data, vectors = two_model_set(300, seed=0)
    prior_rows, stream_rows = np.arange(0, 150), np.arange(150, 300)
    stream = data.subset(stream_rows)
    stream.prior = data.subset(prior_rows, "toy-prior")
    outcomes = stream.write_outcomes(tmp_path / "outcomes.jsonl")
    cfg = replay_cfg(warmup_queries=10_000)  # no night inside the stream: only the prior's
    warm = asyncio.run(
        replay_stream(cfg, stream, vectors[stream_rows], outcomes, 0.2, prior_embeddings=vectors[prior_rows])
    )
    cold = asyncio.run(replay_stream(cfg, stream, vectors[stream_rows], outcomes, 0.2))
    assert warm.retrains[0]["after_queries"] == 0 and warm.retrains[0]["promoted"]
    assert not cold.retrains
    assert warm.cost_share < 0.75 < cold.cost_share  # cold fans out everything it has no neighbour for
    assert warm.quality > 0.95
    assert warm.judge_calls < cold.judge_calls  # the prior's 300 judgements are not counted
