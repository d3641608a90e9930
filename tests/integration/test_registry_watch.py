"""The router follows the registry: RegistryWatcher on a real MLflow store in a temporary home."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from academy.backends import build_backend
from academy.backends.hf import HFBackend
from academy.registry_watch import RegistryWatcher
from academy.runtime import Runtime
from registry.model_registry import ModelRegistry
from tests.factories import make_config

QUERIES = ["What is 2 + 3?", "Reverse the word cat.", "What is the capital of France?", "Sort 3 1 2."]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("watch-home")


@pytest.fixture(scope="module")
def registry(home: Path, tiny_student_dir: Path) -> ModelRegistry:
    """student-1 v1 (@production) and v2 (candidate); student-2, spawned by a night, a TA in production."""
    registry = ModelRegistry.from_config(make_config(home))
    register = dict(params={"steps": 1}, metrics={"gap_score": 0.5})
    for name, role, count in (("student-1", "student", 2), ("student-2", "ta", 1)):
        for _ in range(count):
            registry.register_student(name, tiny_student_dir, role=role, **register)
        registry.transition(name, 1, "staging", "gate passed")
        registry.transition(name, 1, "production", "gate passed")
    return registry


def make_watcher(home: Path, student_dir: Path, factory=None) -> RegistryWatcher:
    cfg = make_config(home, student_dir)
    backends = {m.name: build_backend(m, home=home) for m in cfg.models}
    factory = factory or (lambda: ModelRegistry.from_config(cfg))
    return RegistryWatcher(factory, backends, cfg, home / "registry-cache")


async def close(watcher: RegistryWatcher) -> None:
    await watcher.stop()
    await asyncio.gather(*(b.aclose() for b in watcher.backends.values()))


def test_serves_production_follows_promotions_and_roles_without_failing_requests(
    home, registry, tiny_student_dir
) -> None:
    watcher = make_watcher(home, tiny_student_dir)
    backends = watcher.backends

    async def story() -> None:
        assert await watcher.sync_once() == {"student-1": 1, "student-2": 1}
        assert watcher.last_error is None
        student = backends["student-1"]
        assert student.version == "1" and student.source == str(home / "registry-cache" / "student-1" / "1")

        spawned = backends[
            "student-2"
        ]  # not in config: added with the registry's role, priced like student-1
        assert isinstance(spawned, HFBackend) and spawned.version == "1"
        assert (spawned.role, spawned.config.price_in, spawned.config.price_out) == ("ta", 0.05, 0.1)
        assert spawned.max_new_tokens == 12
        [answer] = await spawned.agenerate([QUERIES[0]])
        assert answer.error is None and answer.extra["version"] == "1"

        loaded = student._loaded
        assert await watcher.sync_once() == {"student-1": 1, "student-2": 1}
        assert student._loaded is loaded  # nothing changed: no reload

        # promote v2 while three clients keep asking student-1: every request succeeds
        await asyncio.to_thread(registry.transition, "student-1", 2, "staging", "gate passed")
        await asyncio.to_thread(registry.transition, "student-1", 2, "production", "beats v1")
        stop = asyncio.Event()

        async def client() -> list:
            answers = []
            while not stop.is_set() or not answers:
                answers += await student.agenerate(QUERIES)
            return answers

        clients = [asyncio.create_task(client()) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert (await watcher.sync_once())["student-1"] == 2
        stop.set()
        answers = [a for batch in await asyncio.gather(*clients) for a in batch]
        assert answers and all(a.error is None and a.text is not None for a in answers)
        assert "1" in {a.extra["version"] for a in answers} <= {"1", "2"}  # some ran on the old weights
        assert student.version == "2"
        [after] = await student.agenerate([QUERIES[0]])
        assert after.extra["version"] == "2"

        # a role change in the registry reaches the served backend
        await asyncio.to_thread(registry.set_role, "student-1", "ta", "sustained 65% win rate")
        await watcher.sync_once()
        assert student.role == "ta" and student.config.name == "student-1"

        # the registry goes away: the last versions keep serving, the error is recorded
        def broken() -> ModelRegistry:
            raise ConnectionError("tracking server down")

        watcher.registry_factory, watcher._registry = broken, None
        assert await watcher.sync_once() == {"student-1": 2, "student-2": 1}
        assert "tracking server down" in watcher.last_error
        [still] = await student.agenerate([QUERIES[0]])
        assert still.error is None and still.extra["version"] == "2"
        await close(watcher)

    asyncio.run(story())


def test_unopenable_store_sets_last_error_and_keeps_versions(tmp_path, tiny_student_dir) -> None:
    watcher = make_watcher(tmp_path, tiny_student_dir, lambda: ModelRegistry(f"sqlite:///{tmp_path}"))
    watcher.versions = {"student-1": 7}  # as if an earlier sync had served v7

    async def run() -> dict[str, int]:
        versions = await watcher.sync_once()
        await close(watcher)
        return versions

    assert asyncio.run(run()) == {"student-1": 7}
    assert watcher.last_error and "registry unreachable" in watcher.last_error


def test_no_registry_yet_serves_the_configured_directory(tmp_path, tiny_student_dir) -> None:
    watcher = make_watcher(tmp_path, tiny_student_dir)

    async def run() -> tuple[dict[str, int], str | None]:
        versions = await watcher.sync_once()
        [answer] = await watcher.backends["student-1"].agenerate([QUERIES[0]])
        await close(watcher)
        return versions, answer.error

    assert asyncio.run(run()) == ({}, None)
    assert watcher.last_error is None and watcher.backends["student-1"].version is None
    assert not (tmp_path / "mlflow.db").exists()  # polling never creates a store


def test_serve_from_registry_off_leaves_backends_alone(home, registry, tiny_student_dir) -> None:
    watcher = make_watcher(home, tiny_student_dir)
    watcher.config.registry.serve_from_registry = False
    assert asyncio.run(watcher.sync_once()) == {}
    assert set(watcher.backends) == {"teacher", "student-1"} and watcher.backends["student-1"].version is None


def test_runtime_starts_polls_and_stops_the_watcher(home, registry, tiny_student_dir, embedder) -> None:
    cfg = make_config(home, tiny_student_dir)
    cfg.registry.poll_seconds = 0.05
    runtime = Runtime.build(cfg, embedder=embedder)
    assert runtime.watcher is not None and runtime.watcher.backends is runtime.backends

    async def run() -> None:
        await runtime.start_watcher()
        assert runtime.watcher.running and "student-2" in runtime.router.backends
        assert runtime.backends["student-1"].version == str(registry.production("student-1").version)
        syncs = runtime.watcher.syncs
        await asyncio.sleep(0.3)
        assert runtime.watcher.syncs > syncs  # the poll loop runs
        await runtime.aclose(close_embedder=False)
        assert not runtime.watcher.running

    asyncio.run(run())
    assert Runtime.build(make_config(home), embedder=embedder).watcher is None  # no hf model, no watcher
