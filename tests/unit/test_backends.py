"""Each backend through the one interface; the openai backend over real HTTP on loopback."""

import asyncio
import json

import pytest

from academy.backends import BACKEND_CLS, build_backend
from academy.backends.reference import UNKNOWN_ANSWER, ReferenceBackend, corrupt
from academy.config import ModelConfig
from academy.inprocess import BackgroundServer
from academy.school import School
from academy.sim_api import create_sim_app


def teacher_config(**options) -> ModelConfig:
    return ModelConfig(
        name="teacher",
        backend="reference",
        role="teacher",
        price_in=5.0,
        price_out=15.0,
        options={"latency_ms": 0, **options},
    )


def test_registry_knows_every_backend():
    assert {"reference", "hf", "openai", "replay"} <= set(BACKEND_CLS.names())
    with pytest.raises(KeyError, match="unknown backend 'nope'"):
        BACKEND_CLS.get("nope")


def test_reference_teacher_answers_school_queries_with_reasoning_and_price():
    examples = School(seed=3).generate(30)
    backend = build_backend(teacher_config(error_rate=0.0))
    completions = asyncio.run(backend.agenerate([e.query for e in examples]))
    assert [c.text for c in completions] == [e.reference for e in examples]
    assert all(c.reasoning and c.reasoning.endswith(c.text) for c in completions)
    first = completions[0]
    assert first.cost == pytest.approx((first.tokens_in * 5.0 + first.tokens_out * 15.0) / 1e6)


def test_reference_error_rate_is_deterministic_and_close_to_config():
    queries = [e.query for e in School(seed=4).generate(400)]
    backend = ReferenceBackend(teacher_config(error_rate=0.25))
    first = [backend.answer(q)[0] for q in queries]
    again = [backend.answer(q)[0] for q in queries]
    truth = [School().lookup(q).reference for q in queries]
    wrong = sum(a != t for a, t in zip(first, truth)) / len(queries)
    assert first == again
    assert 0.17 < wrong < 0.33


def test_reference_unknown_query_and_simulated_latency():
    backend = build_backend(teacher_config(latency_ms=50))
    [completion] = asyncio.run(backend.agenerate(["Tell me a joke about databases"]))
    assert completion.text == UNKNOWN_ANSWER
    assert completion.latency_ms >= 45


@pytest.mark.parametrize(
    ("answer", "wrong_differs"), [("82", True), ("7, 19, 42", True), ("yes", True), ("Paris", True)]
)
def test_corrupt_always_changes_the_answer(answer, wrong_differs):
    assert (corrupt(answer, "salt") != answer) is wrong_differs


def test_replay_backend_uses_recorded_answers_and_costs(tmp_path):
    path = tmp_path / "outcomes.jsonl"
    rows = [
        {"query": "q1", "outcomes": {"gpt": {"answer": "A", "score": 1.0, "cost": 0.01}}},
        {"query": "q2", "outcomes": {"gpt": {"answer": "B", "score": 0.0}}},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    config = ModelConfig(
        name="gpt", backend="replay", price_in=1.0, price_out=2.0, options={"path": str(path)}
    )
    c1, c2, missing = asyncio.run(build_backend(config).agenerate(["q1", "q2", "q3"]))
    assert (c1.text, c1.cost) == ("A", 0.01)
    assert c2.text == "B" and c2.cost == pytest.approx((c2.tokens_in * 1.0 + c2.tokens_out * 2.0) / 1e6)
    assert missing.error and missing.text == ""


def test_replay_backend_rejects_malformed_files(tmp_path):
    from academy.outcomes import OutcomesError

    path = tmp_path / "bad.jsonl"
    path.write_text('{"query": "q"}\n')
    config = ModelConfig(name="gpt", backend="replay", price_in=1, price_out=1, options={"path": str(path)})
    with pytest.raises(OutcomesError, match="bad.jsonl:1"):
        build_backend(config)


@pytest.fixture(scope="module")
def sim_api():
    teacher = build_backend(teacher_config(error_rate=0.0))
    with BackgroundServer(create_sim_app({"remote-teacher": teacher})) as server:
        yield server


def test_openai_backend_over_real_http(sim_api, monkeypatch):
    monkeypatch.setenv("SIM_KEY", "secret")
    config = ModelConfig(
        name="remote",
        backend="openai",
        role="teacher",
        price_in=2.0,
        price_out=8.0,
        options={"base_url": sim_api.url, "model": "remote-teacher", "api_key_env": "SIM_KEY"},
    )
    backend = build_backend(config)
    example = School(seed=5).generate(1)[0]
    [completion] = asyncio.run(backend.agenerate([example.query]))
    assert completion.error is None
    assert completion.text == example.reference
    assert completion.tokens_in > 0 and completion.cost > 0


def test_openai_backend_reports_errors_instead_of_raising(sim_api):
    config = ModelConfig(
        name="remote",
        backend="openai",
        price_in=1,
        price_out=1,
        options={"base_url": sim_api.url, "model": "no-such-model", "max_retries": 0},
    )
    [completion] = asyncio.run(build_backend(config).agenerate(["hi"]))
    assert completion.error and "NotFound" in completion.error and completion.text == ""


def test_openai_backend_unreachable_server_times_out_cleanly():
    config = ModelConfig(
        name="remote",
        backend="openai",
        price_in=1,
        price_out=1,
        options={"base_url": "http://127.0.0.1:9/v1", "max_retries": 0, "timeout_s": 2},
    )
    [completion] = asyncio.run(build_backend(config).agenerate(["hi"]))
    assert completion.error and "Connection" in completion.error
