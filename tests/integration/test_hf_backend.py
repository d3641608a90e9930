"""HFBackend serving a tiny student trained in a few seconds on a fixed, memorisable task. Its
refusals without a student: tests/unit/test_hf_backend.py."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach the Hub

from academy.backends.base import BACKEND_CLS, build_backend  # noqa: E402
from academy.backends.hf import BackendError, HFBackend, _completion, _load  # noqa: E402
from models.student import create_student, format_prompt, format_target, load_student  # noqa: E402
from tests.factories import TINY_STUDENT  # noqa: E402
from tests.factories.hf_backend import model_config  # noqa: E402

COUNTRIES = {
    "France": "Paris", "Spain": "Madrid", "Italy": "Rome", "Germany": "Berlin", "Japan": "Tokyo",
    "Peru": "Lima", "Chile": "Santiago", "Egypt": "Cairo", "Kenya": "Nairobi", "Canada": "Ottawa",
    "Brazil": "Brasilia", "Norway": "Oslo", "Sweden": "Stockholm", "Poland": "Warsaw", "Greece": "Athens",
    "Cuba": "Havana", "India": "New Delhi", "China": "Beijing", "Mexico": "Mexico City", "Ireland": "Dublin",
}  # fmt: skip
PAIRS = [(f"What is the capital of {country}?", city) for country, city in COUNTRIES.items()]
QUERIES = [q for q, _ in PAIRS]
# 150 steps over 20 fixed pairs: ~3 s on 2 CPU cores; loss falls from ~5.7 to ~0.005.
STUDENT = TINY_STUDENT.model_copy(update={"warm_start_steps": 150, "learning_rate": 1e-2, "batch_size": 20})


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny tensors gain nothing from a second thread, and on a busy 2-core box OpenMP spin-waits
    made 2 threads ~5x slower than 1 (measured: 37 s vs 7 s to train the fixture student)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A home with one trained student at students/capitals (built once for the module)."""
    home = tmp_path_factory.mktemp("home")
    corpus = [format_prompt(q) + format_target(a) for q, a in PAIRS]
    create_student(home / "students" / "capitals", STUDENT, corpus, warm_start=PAIRS, seed=0)
    return home


@pytest.fixture
def backend(home: Path):
    backend = HFBackend(model_config(), home=home)
    yield backend
    asyncio.run(backend.aclose())


def test_registered_as_hf(home: Path) -> None:
    assert BACKEND_CLS.get("hf") is HFBackend
    assert isinstance(build_backend(model_config(), home=home), HFBackend)


def test_loads_lazily_and_answers_the_trained_task_exactly(backend: HFBackend) -> None:
    assert not backend.loaded
    completions = asyncio.run(backend.agenerate(QUERIES))
    assert backend.loaded
    correct = sum(c.text == answer for c, (_, answer) in zip(completions, PAIRS))
    # Measured 20/20 for seeds 0, 1 and 2; one slip is allowed for other BLAS builds / platforms.
    assert correct >= 19, [c.text for c in completions]


def test_completion_fields_tokens_and_cost(backend: HFBackend) -> None:
    completions = asyncio.run(backend.agenerate(QUERIES[:3]))
    tokenizer = backend._components().tokenizer
    assert len(completions) == 3
    for query, completion in zip(QUERIES, completions):
        assert completion.error is None and completion.reasoning is None
        assert completion.tokens_in == len(tokenizer(format_prompt(query))["input_ids"])
        assert 1 <= completion.tokens_out <= backend.max_new_tokens
        assert completion.cost == pytest.approx(
            (completion.tokens_in * 0.05 + completion.tokens_out * 0.1) / 1e6
        )
        assert completion.latency_ms > 0
        assert completion.extra["stopped"] is True


def test_batch_of_five_in_small_chunks_and_concurrent_requests(home: Path) -> None:
    backend = HFBackend(model_config(batch_size=2), home=home)

    async def run() -> tuple[list, list]:
        single = await backend.agenerate(QUERIES[:5])
        concurrent = await asyncio.gather(*(backend.agenerate([q]) for q in QUERIES[5:10]))
        await backend.aclose()
        return single, concurrent

    single, concurrent = asyncio.run(run())
    assert len(single) == 5 and all(c.error is None for c in single)
    assert [c.text for c in single] == [backend.generate([q])[0].text for q in QUERIES[:5]]
    assert all(len(batch) == 1 and batch[0].error is None for batch in concurrent)


def test_generation_does_not_block_the_event_loop(home: Path) -> None:
    backend = HFBackend(model_config(batch_size=4), home=home)
    backend.load()  # loading is also off-loop, but keep this test about generation

    async def run() -> tuple[int, float]:
        ticks = 0
        task = asyncio.ensure_future(backend.agenerate(QUERIES * 3))
        while not task.done():
            ticks += 1
            await asyncio.sleep(0.001)
        started = time.perf_counter()
        await task
        await backend.aclose()
        return ticks, time.perf_counter() - started

    ticks, _ = asyncio.run(run())
    assert ticks > 3


def test_reload_swaps_weights_and_keeps_old_ones_on_failure(home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(home / "students" / "capitals", copy)
    backend = HFBackend(model_config(), home=home)
    backend.load()
    asyncio.run(backend.areload(str(copy)))
    assert backend.source == str(copy)
    assert backend.generate([QUERIES[0]])[0].extra["source"] == str(copy)
    with pytest.raises(BackendError, match="nope"):
        backend.reload(str(tmp_path / "nope"))
    assert backend.source == str(copy) and backend.generate([QUERIES[0]])[0].error is None


def test_reasoning_is_split_and_generation_cut_at_newline(home: Path) -> None:
    loaded = _load(str(home / "students" / "capitals"), max_new_tokens=24)
    tok = loaded.tokenizer
    ids = tok.encode(" 4 + 3 = 7 => 7\nQ: more", add_special_tokens=False)
    completion = _completion(tok, ids, tokens_in=9, loaded=loaded, latency_ms=1.0)
    assert completion.text == "7" and completion.reasoning == "4 + 3 = 7"
    assert completion.tokens_out == len(tok.encode(" 4 + 3 = 7 => 7\n", add_special_tokens=False))
    assert completion.extra["stopped"] is True
    pads = [loaded.pad_id] * 3
    unstopped = _completion(tok, tok.encode(" Paris", add_special_tokens=False) + pads, 9, loaded, 1.0)
    assert unstopped.text == "Paris" and unstopped.extra["stopped"] is False
    assert unstopped.tokens_out == len(tok.encode(" Paris", add_special_tokens=False))


def test_loads_a_registered_mlflow_model(home: Path, tmp_path: Path, monkeypatch) -> None:
    import mlflow
    import mlflow.transformers

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment("students", artifact_location=(tmp_path / "artifacts").as_uri())
        model, tokenizer = load_student(home / "students" / "capitals")
        with mlflow.start_run(experiment_id=experiment):
            mlflow.transformers.log_model(
                {"model": model, "tokenizer": tokenizer},
                name="student",
                task="text-generation",
                registered_model_name="student-t",
                pip_requirements=["transformers", "torch"],  # default inference wants torchvision
            )
        backend = HFBackend(model_config("models:/student-t/1"), home=home)
        completions = backend.generate(QUERIES[:5])
        local = HFBackend(model_config(), home=home).generate(QUERIES[:5])
        assert [c.text for c in completions] == [c.text for c in local]
        assert completions[0].extra["source"] == "models:/student-t/1"
        with pytest.raises(BackendError, match="models:/student-t/9"):
            HFBackend(model_config("models:/student-t/9"), home=home).load()
    finally:
        mlflow.set_tracking_uri(None)
