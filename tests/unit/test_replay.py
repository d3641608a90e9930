"""The replay benchmark's parts: the learned quality model and its gate, the RouteLLM and shared data
sets, and the command's refusals (academy/routing/learned_router.py, academy/replay/sets.py). The
router learning online from a stream: tests/integration/test_replay.py."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from academy.cli import app
from academy.config import AcademyConfig, RouterConfig
from academy.outcomes import RecordedOutcomes
from academy.replay.sets import MIXTRAL, STRONG, load_set
from academy.routing.academy_policy import Estimate, blend_learned
from academy.routing.learned_router import (
    LearnedRouter,
    brier,
    fit_learned_router,
    judged_matrix,
    mean_model,
    train_and_gate,
)
from tests.factories import REPO
from tests.factories.replay import clustered, two_model_set, write_routellm_fixture

SHARED = REPO.parent / "shared" / "data"


# -- the learned quality model -------------------------------------------------------------------


def test_quality_heads_learn_where_each_model_is_right_and_round_trip(tmp_path):
    data, vectors = two_model_set(400)
    matrix = judged_matrix((v, data.models, s.tolist()) for v, s in zip(vectors, data.scores))
    model = fit_learned_router(matrix, l2=1.0)
    predicted = model.predict(vectors)
    weak = predicted[:, model.models.index(MIXTRAL)]
    cluster0 = data.scores[:, 1] == 1
    assert weak[cluster0].mean() > 0.8 and weak[~cluster0].mean() < 0.2
    assert brier(model, matrix) < brier(mean_model(matrix), matrix) / 3
    loaded = LearnedRouter.load(model.save(tmp_path / "m"))
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


# -- data sets -----------------------------------------------------------------------------------


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
