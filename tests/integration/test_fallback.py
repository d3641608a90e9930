"""Fallback chains, timeouts and per-request allowed models, through the real router, store and
traffic log. One backend's back-pressure: tests/unit/test_fallback.py; the 503 from a real server:
tests/e2e/test_fallback.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from academy.backends import BACKEND_CLS, Backend, Completion
from academy.backends.reference import ReferenceBackend
from academy.config import ModelConfig
from academy.routing import NoAllowedModelError, RouteRequest
from academy.routing.academy_policy import NoAnswerError
from academy.runtime import Runtime
from academy.server import install_error_handlers
from tests.factories.fallback import config, model
from tests.factories.vectors import unit
from tests.factories.wal import NoEmbedder


@BACKEND_CLS.register("test-broken")
class BrokenBackend(Backend):
    """A model whose every call raises (its server went away)."""

    async def _agenerate(self, prompts: list[str]) -> list[Completion]:
        raise RuntimeError(f"{self.name} is unreachable")


@BACKEND_CLS.register("test-fails-once")
class FailsOnce(ReferenceBackend):
    """The simulated teacher after a transient failure: its first call raises, later ones answer."""

    def __init__(self, config: ModelConfig, home: Path | None = None) -> None:
        super().__init__(config, home)
        self.calls = 0

    async def _agenerate(self, prompts: list[str]) -> list[Completion]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("transient")
        return await super()._agenerate(prompts)


THREE = [model("teacher", "teacher", 10.0), model("teacher-2", "ta", 5.0), model("student", "student", 0.1)]


def swap(runtime: Runtime, name: str, backend: str, timeout_s: float = 30.0, **options: object) -> None:
    """Replace a model's backend (its weights vanished, it got slow ...), keeping name, role and price."""
    old = runtime.backends[name].config
    update = {"backend": backend, "options": old.options | options, "timeout_s": timeout_s}
    runtime.backends[name] = BACKEND_CLS.get(backend)(old.model_copy(update=update))


def route_all(runtime: Runtime, *requests: RouteRequest) -> list:
    async def run() -> list:
        results = []
        for request in requests:
            results.append(await runtime.router.route(request))
            await runtime.router.drain()
        return results

    return asyncio.run(run())


def ask(text: str, request_id: str, seed: int = 1, **kwargs: object) -> RouteRequest:
    return RouteRequest(text, "acme", request_id, embedding=unit(seed), **kwargs)


def logged(runtime: Runtime, request_id: str) -> dict[str, dict]:
    return {a["purpose"] + ":" + a["model"]: a for a in runtime.store.answers_for(request_id)}


@pytest.fixture
def runtime(tmp_path, request):
    models, router = request.param if hasattr(request, "param") else (THREE, {})
    rt = Runtime.build(config(tmp_path, models, **router), embedder=NoEmbedder())
    # every model answers the first query of the neighbourhood well: familiar ones go to the cheapest
    [first] = route_all(rt, ask("Convert 3 km to m.", "warm-up"))
    assert first.route == "novel" and first.model == "student"
    yield rt
    asyncio.run(rt.aclose(close_embedder=False))


# ---- fallback chains ---------------------------------------------------------------------------


def test_a_failing_student_falls_back_to_the_teacher_and_the_failure_is_logged(runtime):
    swap(runtime, "student", "test-broken")
    [result] = route_all(runtime, ask("Convert 5 km to m.", "r-1"))
    assert result.route == "familiar" and result.model == "teacher" and result.answer == "5000"
    assert "student failed (RuntimeError: student is unreachable)" in result.reason
    assert "fell back to teacher" in result.reason
    answers = logged(runtime, "r-1")
    assert set(answers) == {"failed:student", "serve:teacher"}
    assert "unreachable" in answers["failed:student"]["error"]


@pytest.mark.parametrize(
    "runtime", [(THREE, {"fallbacks": {"student": ["teacher-2", "teacher"]}})], indirect=True
)
def test_a_configured_chain_is_tried_in_order(runtime):
    swap(runtime, "student", "test-broken")
    [by_second] = route_all(runtime, ask("Convert 5 km to m.", "r-1"))
    assert by_second.model == "teacher-2" and by_second.answer == "5000"
    assert set(logged(runtime, "r-1")) == {"failed:student", "serve:teacher-2"}

    swap(runtime, "teacher-2", "test-broken")
    [by_third] = route_all(runtime, ask("Convert 6 km to m.", "r-2"))
    assert by_third.model == "teacher" and by_third.answer == "6000"
    assert by_third.reason.index("student failed") < by_third.reason.index("teacher-2 failed")
    assert set(logged(runtime, "r-2")) == {"failed:student", "failed:teacher-2", "serve:teacher"}


def test_a_backend_slower_than_its_timeout_falls_back(runtime):
    swap(runtime, "student", "reference", timeout_s=0.2, latency_ms=5000)
    started = time.monotonic()
    [result] = route_all(runtime, ask("Convert 7 km to m.", "r-1"))
    assert time.monotonic() - started < 3
    assert result.model == "teacher" and "BackendTimeout" in result.reason
    assert "BackendTimeout" in logged(runtime, "r-1")["failed:student"]["error"]


@pytest.mark.parametrize("runtime", [(THREE, {"fallbacks": {"teacher": ["teacher-2"]}})], indirect=True)
def test_a_novel_fan_out_where_everything_failed_tries_the_teachers_chain(runtime):
    for name in ("teacher", "student"):
        swap(runtime, name, "test-broken")
    swap(runtime, "teacher-2", "test-fails-once")  # fails in the fan-out, answers the chain's retry
    [result] = route_all(runtime, ask("What is 2 plus 2?", "r-1", seed=50))
    assert result.route == "novel" and result.model == "teacher-2" and result.answer == "4"
    assert "every model failed in the fan-out" in result.reason
    assert {"fanout:teacher", "fanout:student", "fanout:teacher-2", "serve:teacher-2"} == set(
        logged(runtime, "r-1")
    )


# ---- allowed models ---------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", [(THREE, {"shadow_rate": 1.0, "explore_rate": 1.0})], indirect=True)
def test_a_request_restricted_to_the_student_never_reaches_the_teacher(runtime):
    only_student = frozenset({"student"})
    swap(runtime, "student", "reference", error_rate=1.0)  # now always wrong: below the floor
    novel, everyone, familiar = route_all(
        runtime,
        ask("What is 47 plus 35?", "r-novel", seed=60, models=only_student),
        ask("What is 48 plus 35?", "r-everyone", seed=61),  # all models, judged: the student scores 0
        ask("What is 49 plus 35?", "r-familiar", seed=61, models=only_student),
    )
    assert novel.route == "novel" and novel.model == "student"
    assert everyone.route == "novel" and everyone.model == "teacher-2"
    assert familiar.route == "familiar" and familiar.model == "student"  # the teacher was not allowed
    assert "teacher not allowed" in familiar.reason
    for request_id in ("r-novel", "r-familiar"):
        assert {a["model"] for a in runtime.store.answers_for(request_id)} == {"student"}

    swap(runtime, "student", "test-broken")  # and no fallback to a model outside the tier
    with pytest.raises(NoAnswerError):
        route_all(runtime, ask("Convert 9 km to m.", "r-broken", models=only_student))


def test_an_allowed_set_with_no_active_model_is_a_403(runtime):
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/route")
    async def route() -> dict:
        result = await runtime.router.route(ask("What is 1 plus 1?", "r-1", models=frozenset({"gpt-9"})))
        return {"model": result.model}

    with pytest.raises(NoAllowedModelError, match="gpt-9"):
        route_all(runtime, ask("What is 1 plus 1?", "r-0", models=frozenset({"gpt-9"})))
    response = TestClient(app).post("/route")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["type"] == "permission_error" and error["code"] == "model_not_allowed"
    assert runtime.store.get_query("r-1") is None
