"""Response caches, per tenant: exact (same normalised text) and semantic (a close embedding).

A tenant's entries are only ever looked up with that tenant's name, so one tenant can never be served
another's cached answer. Entries expire after ``ttl_seconds`` and each tenant keeps at most
``max_entries`` (least recently used dropped first), so memory stays bounded.

Why the semantic cache is off by default: MiniLM puts "12 + 13" and "13 + 12" (or "21 + 13") at a
cosine similarity near 0.99, so for templated traffic a semantic hit can be a wrong answer. Turn it on
per tenant where paraphrases really share answers (FAQ-like traffic).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from academy.config import CacheConfig
from academy.routing.recall import normalise


@dataclass(frozen=True)
class CachedAnswer:
    """What a hit returns: the answer first served for ``request_id``, by ``model``."""

    request_id: str
    model: str
    answer: str
    score: float | None
    embedding: np.ndarray
    expires: float
    similarity: float = 1.0


class _TenantCache:
    def __init__(self) -> None:
        self.entries: OrderedDict[str, CachedAnswer] = OrderedDict()
        self._matrix: tuple[list[str], np.ndarray] | None = None  # rebuilt lazily after changes

    def matrix(self) -> tuple[list[str], np.ndarray]:
        if self._matrix is None:
            keys = list(self.entries)
            vectors = [self.entries[k].embedding for k in keys]
            self._matrix = (keys, np.stack(vectors) if vectors else np.zeros((0, 1), np.float32))
        return self._matrix

    def changed(self) -> None:
        self._matrix = None


class ResponseCache:
    """Exact and semantic lookups over the answers served to each tenant."""

    def __init__(self, config: CacheConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._tenants: dict[str, _TenantCache] = {}

    def exact(self, tenant: str, text: str) -> CachedAnswer | None:
        cache = self._tenants.get(tenant)
        entry = cache.entries.get(normalise(text)) if cache else None
        if entry is None:
            return None
        if entry.expires <= self.clock():
            self._drop(tenant, normalise(text))
            return None
        cache.entries.move_to_end(normalise(text))
        return entry

    def semantic(
        self, tenant: str, embedding: np.ndarray, threshold: float | None = None
    ) -> CachedAnswer | None:
        """The tenant's most similar live entry at cosine >= ``threshold`` (embeddings are unit)."""
        cache = self._tenants.get(tenant)
        if not cache or not cache.entries:
            return None
        keys, matrix = cache.matrix()
        similarities = matrix @ np.asarray(embedding, dtype=np.float32)
        best = int(np.argmax(similarities))
        similarity = float(similarities[best])
        if similarity < (threshold if threshold is not None else self.config.similarity):
            return None
        entry = cache.entries.get(keys[best])
        if entry is None or entry.expires <= self.clock():
            self._drop(tenant, keys[best])
            return None
        cache.entries.move_to_end(keys[best])
        return CachedAnswer(**{**entry.__dict__, "similarity": similarity})

    def put(
        self, tenant: str, text: str, embedding: np.ndarray, request_id: str, model: str, answer: str,
        score: float | None,
    ) -> None:  # fmt: skip
        cache = self._tenants.setdefault(tenant, _TenantCache())
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        entry = CachedAnswer(request_id, model, answer, score, vector, self.clock() + self.config.ttl_seconds)
        cache.entries[normalise(text)] = entry
        cache.entries.move_to_end(normalise(text))
        while len(cache.entries) > self.config.max_entries:
            cache.entries.popitem(last=False)
        cache.changed()

    def size(self, tenant: str) -> int:
        cache = self._tenants.get(tenant)
        return len(cache.entries) if cache else 0

    def _drop(self, tenant: str, key: str) -> None:
        cache = self._tenants[tenant]
        if cache.entries.pop(key, None) is not None:
            cache.changed()
