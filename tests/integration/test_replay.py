"""The replay benchmark end to end: outcome data streamed through the server's router (on the
in-memory store and on LanceDB), learning online, and `academy bench replay`. The quality model,
data sets and metrics alone: tests/unit/test_replay.py and test_replay_metrics.py."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from academy.cli import app
from academy.config import AcademyConfig
from academy.replay.harness import replay_stream
from academy.replay.memory_store import MemoryTrafficStore
from academy.replay.sets import MIXTRAL, STRONG
from academy.store import TrafficStore
from tests.factories.replay import two_model_set, write_routellm_fixture


def replay_cfg(**replay: object) -> AcademyConfig:
    cfg = AcademyConfig()
    settings = {"warmup_queries": 60, "retrain_every": 100, "concurrency": 4, **replay}
    return cfg.model_copy(update={"replay": cfg.replay.model_copy(update=settings)})


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
