"""Embedder (all-MiniLM-L6-v2, offline) and the MicroBatcher behind ``embed_one``."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from academy.batching import MicroBatcher
from academy.config import EmbedderConfig
from academy.embedder import DIM, Embedder
from academy.store import EMBEDDING_DIM

TEXTS = [
    "What is the capital of France?",
    "Which city is France's capital?",
    "Sort these numbers: 5, 3, 9",
    "Convert 3 kilometres to metres",
    "Reverse the string 'academy'",
    "How do I bake sourdough bread?",
]


@pytest.fixture(scope="module")
def embedder() -> Iterator[Embedder]:
    model = Embedder(EmbedderConfig(batch_size=4, max_wait_ms=2.0, threads=1))
    yield model
    model.close()


def test_shape_dtype_and_unit_norm(embedder: Embedder) -> None:
    vectors = embedder.embed(TEXTS)  # 6 texts in chunks of batch_size=4
    assert vectors.shape == (len(TEXTS), DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert DIM == EMBEDDING_DIM == embedder.dim


def test_chunking_does_not_change_vectors(embedder: Embedder) -> None:
    chunked = embedder.embed(TEXTS)
    one_by_one = np.stack([embedder.embed([t])[0] for t in TEXTS])
    np.testing.assert_allclose(chunked, one_by_one, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_text(embedder: Embedder) -> None:
    capital, paraphrase, *_, bread = embedder.embed(TEXTS)
    assert float(capital @ paraphrase) > 0.8
    assert float(capital @ paraphrase) > float(capital @ bread) + 0.3


def test_empty_list(embedder: Embedder) -> None:
    empty = embedder.embed([])
    assert empty.shape == (0, DIM) and empty.dtype == np.float32


def test_embed_rejects_a_bare_string(embedder: Embedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed("not a list")  # type: ignore[arg-type]


def test_sets_torch_threads(embedder: Embedder) -> None:
    assert torch.get_num_threads() == embedder.config.threads == 1


def test_concurrent_embed_one_matches_batch(embedder: Embedder) -> None:
    texts = [f"question number {i} about {TEXTS[i % len(TEXTS)]}" for i in range(48)]
    expected = embedder.embed(texts)
    with ThreadPoolExecutor(max_workers=16) as pool:
        got = np.stack(list(pool.map(embedder.embed_one, texts)))
    assert got.shape == (48, DIM) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_aembed_one(embedder: Embedder) -> None:
    async def run() -> list[np.ndarray]:
        return await asyncio.gather(*(embedder.aembed_one(t) for t in TEXTS))

    got = np.stack(asyncio.run(run()))
    np.testing.assert_allclose(got, embedder.embed(TEXTS), atol=1e-5)


# ---- MicroBatcher ---------------------------------------------------------------------------------


def test_batcher_propagates_exceptions_to_every_future() -> None:
    gate = threading.Event()

    def fn(items: list[int]) -> list[int]:
        gate.wait(5)
        if 13 in items:
            raise ValueError("unlucky batch")
        return [i * 2 for i in items]

    with MicroBatcher(fn, max_batch=8, max_wait_ms=50) as batcher:
        first = batcher.submit(1)  # the worker takes it alone and blocks on the gate
        time.sleep(0.05)
        rest = [batcher.submit(i) for i in (12, 13, 14)]  # queued together: one batch
        gate.set()
        assert first.result(5) == 2
        for future in rest:
            with pytest.raises(ValueError, match="unlucky"):
                future.result(5)
        assert batcher.call(21) == 42  # the worker survived


def test_batcher_batches_under_load_but_not_when_idle() -> None:
    sizes: list[int] = []

    def fn(items: list[int]) -> list[int]:
        sizes.append(len(items))
        time.sleep(0.01)
        return [i + 1 for i in items]

    with MicroBatcher(fn, max_batch=16, max_wait_ms=500) as batcher:
        started = time.perf_counter()
        assert batcher.call(1) == 2
        assert time.perf_counter() - started < 0.25  # idle: no waiting for company (max_wait is 0.5 s)
        with ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(batcher.call, range(64)))
    assert results == [i + 1 for i in range(64)]
    assert sizes[0] == 1 and max(sizes) > 1 and max(sizes) <= 16
    assert sum(sizes) == 65


def test_batcher_checks_result_count_and_close() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(lambda items: [0], max_batch=4, max_wait_ms=0)
    assert batcher.call(5) == 0
    pending = [batcher.submit(i) for i in range(3)]
    batcher.close()
    for future in pending:  # submitted before close: still resolved, here with the count error
        exc = future.exception(5)
        assert exc is None or isinstance(exc, RuntimeError)
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(1)
    batcher.close()  # idempotent


def test_batcher_acall() -> None:
    with MicroBatcher(lambda items: [s.upper() for s in items]) as batcher:

        async def run() -> list[str]:
            return await asyncio.gather(*(batcher.acall(s) for s in ["a", "b", "c"]))

        assert asyncio.run(run()) == ["A", "B", "C"]


def test_int8_embeddings_keep_the_fp32_neighbourhoods(embedder: Embedder) -> None:
    from academy.config import EmbedderConfig

    fp32 = Embedder(EmbedderConfig(quantize=False))
    try:
        exact = fp32.embed(TEXTS)
    finally:
        fp32.close()
    quantized = embedder.embed(TEXTS)
    assert embedder.config.quantize
    assert float(np.min(np.sum(exact * quantized, axis=1))) > 0.85
    assert np.array_equal(np.argsort(exact @ exact[0])[-2:], np.argsort(quantized @ quantized[0])[-2:])
