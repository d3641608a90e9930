"""The learned router's nightly cycle: judged traffic -> ``train_learned_router`` (Prefect flows on a
temporary home, MLflow SQLite) -> a gated registry version -> the router loads ``@production``.

Traffic: queries in two embedding clusters, interleaved in time. model-a is right in cluster 1 and
wrong in cluster 2, model-b the reverse (a tenth of the labels flipped), so a per-query model
beats the per-model mean score. The teacher's answers are served unjudged and scored at night,
and a model that only ever errors is judged 0: neither may be lost or leak into the training set.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from academy.config import AcademyConfig
from academy.evolution import steps
from academy.evolution.learned_router import training_matrix
from academy.evolution.snapshot import read_snapshot
from academy.registry_watch import LearnedRouterWatcher, RegistryWatcher
from academy.routing.learned_router import META_FILE, LearnedRouter
from academy.runtime import Runtime
from academy.school import School
from academy.store import AnswerRecord, QueryRecord, TrafficStore
from registry.model_registry import ROUTER_MODEL_FILE, STUDENT_KIND, ModelRegistry
from tests.factories import make_config
from tests.factories.learned_router import CENTERS, DIM, StubEmbedder
from tests.factories.learned_router import near as _near

NAME = "academy-router"
QUERIES = 160  # 80 per cluster; the newest 20% (32) are the gate's held-out set
FLIP = 0.1


def router_config(home: Path, **learned_router: object) -> AcademyConfig:
    cfg = make_config(home)
    return AcademyConfig.model_validate(
        cfg.model_dump(mode="json")
        | {
            "paths": {"home": str(home), "data": str(home / "datasets")},
            "evolution": {"learned_router": {"min_queries": 40, "min_rows": 10} | learned_router},
        }
    )


def seed_traffic(cfg: AcademyConfig) -> None:
    store = TrafficStore(cfg.paths.store, cfg.store)
    rng = np.random.default_rng(0)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    items = []
    for i, example in enumerate(School(seed=3).generate(QUERIES)):
        cluster = i % 2
        flip = rng.random() < FLIP
        a_right = (cluster == 0) != flip
        answers = [
            AnswerRecord("model-a", "student", "fanout", "a", judge_score=float(a_right), judge_name="r"),
            AnswerRecord("model-b", "student", "fanout", "b", judge_score=float(not a_right), judge_name="r"),
            AnswerRecord("model-c", "student", "fanout", "", judge_score=0.0, error="timeout"),
            AnswerRecord("teacher", "teacher", "served", example.reference),  # judged at night
        ]
        query = QueryRecord(
            id=f"q{i:04d}",
            tenant="t",
            text=example.query,
            embedding=_near(CENTERS[cluster], rng),
            route="novel",
            final_model="teacher",
            final_answer=example.reference,
            ts=start + timedelta(seconds=i),
        )
        items.append((query, answers))
    store.log_many(items)


@pytest.fixture(scope="module")
def night(tmp_path_factory, prefect_harness):
    """Judged traffic, then the score_traffic and train_learned_router flows (version 1)."""
    from flows.nightly import score_traffic, train_learned_router

    home = tmp_path_factory.mktemp("router-night")
    cfg = router_config(home)
    seed_traffic(cfg)
    config_path = home / "academy.yaml"
    config_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    scoring = score_traffic(config_path=str(config_path), home=str(home))
    first = train_learned_router(config_path=str(config_path), home=str(home), night="n1")
    return {"cfg": cfg, "home": home, "scoring": scoring, "first": first}


@pytest.fixture(scope="module")
def second(night):
    """A second night whose margin no candidate can pass: version 2, rejected."""
    return steps.train_learned_router(router_config(night["home"], margin=1.0), night="n2")


def test_training_matrix_is_the_judged_answers_in_logging_order(night) -> None:
    assert night["scoring"]["judged"] == QUERIES  # the teacher's served answers, scored at night
    data = training_matrix(read_snapshot(night["cfg"].paths.data / "traffic"))
    assert data.models == ["model-a", "model-b", "teacher"]  # model-c only errored
    assert len(data) == QUERIES and data.embeddings.shape == (QUERIES, DIM)
    assert not np.isnan(data.scores).any()
    np.testing.assert_array_equal(data.scores[:, 2], 1.0)  # the reference answer, judged exactly right
    np.testing.assert_array_equal(data.scores[:, 0] + data.scores[:, 1], 1.0)
    # oldest first: even rows are cluster 1, odd rows cluster 2
    towards_first = data.embeddings @ CENTERS[0]
    assert (towards_first[0::2] > 0.5).all() and (towards_first[1::2] < 0.5).all()


def test_first_model_beats_the_mean_model_and_takes_production(night) -> None:
    first, cfg = night["first"], night["cfg"]
    assert (first["model"], first["version"], first["stage"], first["promoted"]) == (
        NAME,
        1,
        "production",
        True,
    )
    assert first["incumbent_version"] is None and first["judged_queries"] == QUERIES
    assert first["rows"] == {"model-a": QUERIES, "model-b": QUERIES, "teacher": QUERIES}
    metrics = first["metrics"]
    assert metrics["held_out_queries"] == QUERIES // 5
    # the mean model predicts ~0.5 for model-a/b (Brier ~0.25 there) and is exact for the teacher
    assert 0.1 < metrics["incumbent_brier"] < 0.25
    assert metrics["candidate_brier"] < metrics["incumbent_brier"] - 0.05, metrics
    assert "beats incumbent" in first["reason"]
    json.dumps(first, allow_nan=False)  # JSON-able, as the night's summary must be

    registry = ModelRegistry.from_config(cfg)
    production = registry.production(NAME)
    assert production.version == 1 and production.aliases == ["production"] and production.role == "router"
    steps_ = [(h["from"], h["to"]) for h in registry.history(NAME) if h["version"] == 1]
    assert steps_ == [(None, "candidate"), ("candidate", "staging"), ("staging", "production")]

    run = registry.client.get_run(production.run_id)
    assert run.data.tags["academy.kind"] == "router" and run.data.tags["academy.night"] == "n1"
    params = run.data.params
    assert (params["l2"], params["min_rows"], params["holdout_fraction"], params["margin"]) == (
        "1.0",
        "10",
        "0.2",
        "0.0",
    )
    assert params["judged_queries"] == str(QUERIES) and params["rows.model-a"] == str(QUERIES)
    assert run.data.metrics["candidate_brier"] == pytest.approx(metrics["candidate_brier"])


def test_registered_model_separates_the_clusters(night, tmp_path) -> None:
    registry = ModelRegistry.from_config(night["cfg"])
    path = registry.download(NAME, 1, tmp_path)  # the router kind needs no MLmodel file
    assert ROUTER_MODEL_FILE == META_FILE and (path / META_FILE).is_file()
    model = LearnedRouter.load(path)
    assert model.models == ["model-a", "model-b", "teacher"]
    rng = np.random.default_rng(42)  # unseen queries of each cluster
    first, second = (model.predict(_near(c, rng, 50)) for c in CENTERS)
    a, b, teacher = 0, 1, 2
    assert first[:, a].min() > 0.6 and first[:, b].max() < 0.4, (first[:, a].min(), first[:, b].max())
    assert second[:, b].min() > 0.6 and second[:, a].max() < 0.4, (second[:, b].min(), second[:, a].max())
    assert first[:, teacher].min() > 0.9 and second[:, teacher].min() > 0.9


def test_a_candidate_that_misses_the_margin_is_registered_but_rejected(night, second) -> None:
    assert (second["version"], second["stage"], second["promoted"]) == (2, "rejected", False)
    assert second["incumbent_version"] == 1 and second["incumbent_error"] is None
    assert "does not beat incumbent" in second["reason"] and "margin 1.0" in second["reason"]
    registry = ModelRegistry.from_config(night["cfg"])
    assert registry.production(NAME).version == 1
    assert registry.version(NAME, 2).stage == "rejected"
    [rejection] = [h for h in registry.history(NAME) if h["version"] == 2 and h["to"] == "rejected"]
    assert rejection["from"] == "candidate" and rejection["reason"] == second["reason"]
    assert rejection["metrics"]["incumbent_brier"] == pytest.approx(second["metrics"]["incumbent_brier"])


def test_status_lists_the_learned_router_and_students_exclude_it(night, second) -> None:
    registry = ModelRegistry.from_config(night["cfg"])
    rows = [(v.name, v.version, v.stage, v.aliases, v.role) for v in registry.status()]
    assert rows == [(NAME, 1, "production", ["production"], "router"), (NAME, 2, "rejected", [], "router")]
    assert registry.models() == [NAME] and registry.models(kind="router") == [NAME]
    assert registry.models(kind=STUDENT_KIND) == [] and registry.kind(NAME) == "router"


def test_skips_when_disabled_or_with_too_little_judged_traffic(night) -> None:
    home = night["home"]
    assert steps.train_learned_router(router_config(home, enabled=False)) == {
        "skipped": "evolution.learned_router.enabled is false"
    }
    skipped = steps.train_learned_router(router_config(home, min_queries=QUERIES + 1))
    assert (
        skipped["judged_queries"] == QUERIES
        and f"< evolution.learned_router.min_queries {QUERIES + 1}" in (skipped["skipped"])
    )


def test_runtime_loads_production_into_the_router_without_an_hf_backend(night, second) -> None:
    cfg = night["cfg"]
    runtime = Runtime.build(cfg, embedder=StubEmbedder())
    assert runtime.watcher is None and runtime.model_watcher is not None  # no hf model, a learned router
    assert runtime.router.learned_router is None

    async def run() -> None:
        await runtime.start_watcher()
        assert runtime.model_watcher.running and runtime.model_watcher.version == 1
        model = runtime.router.learned_router
        assert isinstance(model, LearnedRouter) and model.models == ["model-a", "model-b", "teacher"]
        assert runtime.router.learned_model() is model
        assert model.predict_one(CENTERS[0])["model-a"] > 0.6
        assert set(runtime.backends) == {"teacher"}
        assert (
            await runtime.model_watcher.sync_once() == 1 and runtime.router.learned_router is model
        )  # unchanged
        await runtime.aclose(close_embedder=False)
        assert not runtime.model_watcher.running

    asyncio.run(run())

    # the student watcher never serves the router model as a backend
    watcher = RegistryWatcher(lambda: ModelRegistry.from_config(cfg), {}, cfg, night["home"] / "cache")
    assert asyncio.run(watcher.sync_once()) == {} and watcher.backends == {} and watcher.last_error is None

    disabled = AcademyConfig.model_validate(
        cfg.model_dump(mode="json") | {"router": {"learned": {"enabled": False}}}
    )
    assert Runtime.build(disabled, embedder=StubEmbedder()).model_watcher is None


class Holder:
    learned_router = None


def test_a_missing_or_broken_registry_keeps_the_last_model(night, second, tmp_path) -> None:
    cfg = router_config(tmp_path)
    holder = Holder()
    watcher = LearnedRouterWatcher(lambda: ModelRegistry.from_config(cfg), holder, cfg, tmp_path / "cache")
    assert asyncio.run(watcher.sync_once()) is None  # no registry: nothing loaded, nothing raised
    assert holder.learned_router is None and watcher.last_error is None
    assert not (tmp_path / "mlflow.db").exists()  # polling never creates a store

    served = router_config(night["home"])
    watcher = LearnedRouterWatcher(
        lambda: ModelRegistry.from_config(served), holder, served, tmp_path / "cache"
    )
    assert asyncio.run(watcher.sync_once()) == 1
    loaded = holder.learned_router
    assert isinstance(loaded, LearnedRouter)

    def broken() -> ModelRegistry:
        raise ConnectionError("tracking server down")

    watcher.registry_factory, watcher._registry, watcher.version = broken, None, None  # force a reload
    assert asyncio.run(watcher.sync_once()) is None
    assert holder.learned_router is loaded and "tracking server down" in watcher.last_error

    # a version that does not fit the router's embeddings is refused; the loaded one stays
    watcher = LearnedRouterWatcher(
        lambda: ModelRegistry.from_config(served), holder, served, tmp_path / "cache", dim=DIM // 2
    )
    assert asyncio.run(watcher.sync_once()) is None
    assert holder.learned_router is loaded and "the router has 192" in watcher.last_error
