"""An in-memory traffic store for replaying tens of thousands of queries many times over.

The replay benchmark streams every data set once per price weight (a curve of operating points),
about 100,000 routed requests: through LanceDB each log is a merge (~25 ms), which alone would
take the benchmark past its 10-minute budget. This store keeps the same contract the router uses
(``log``, ``asearch``, ``pending_rows``, maintenance hooks) with exact cosine search in numpy, and
validates every request with the real store's ``prepare_request``, so the judged scores a
neighbour carries are derived exactly as LanceDB stores them. ``tests/unit/test_replay.py`` checks
that a stream routed through both stores makes the same decisions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np

from academy.config import StoreConfig
from academy.store import EMBEDDING_DIM, AnswerRecord, Neighbour, QueryRecord, prepare_request


class MemoryTrafficStore:
    """Queries (with their judged scores) and answers in lists; embeddings in one growing matrix."""

    def __init__(self, config: StoreConfig | None = None, dim: int = EMBEDDING_DIM) -> None:
        self.config = config or StoreConfig()
        self.pending_rows = 0
        self.queries: list[QueryRecord] = []
        self.answers: list[list[AnswerRecord]] = []
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._tenant_codes: dict[str, int] = {}
        self._tenants = np.zeros(1024, dtype=np.int32)
        self._vectors = np.zeros((1024, dim), dtype=np.float32)

    def log(self, query: QueryRecord, answers: list[AnswerRecord]) -> bool:
        query, answers = prepare_request(query, answers)
        with self._lock:  # the router logs from worker threads
            return self._append(query, answers)

    def _append(self, query: QueryRecord, answers: list[AnswerRecord]) -> bool:
        if query.id in self._ids:
            return False
        row = len(self.queries)
        if row == len(self._vectors):
            self._vectors = np.vstack([self._vectors, np.zeros_like(self._vectors)])
            self._tenants = np.concatenate([self._tenants, np.zeros_like(self._tenants)])
        self._vectors[row] = query.embedding
        self._tenants[row] = self._tenant_codes.setdefault(query.tenant, len(self._tenant_codes))
        self._ids.add(query.id)
        self.queries.append(query)
        self.answers.append(answers)
        self.pending_rows += 1
        return True

    def search(self, embedding: np.ndarray | Sequence[float], tenant: str, k: int) -> list[Neighbour]:
        """The k most cosine-similar past queries of ``tenant`` (vectors are unit length), best first."""
        if k < 1 or not self.queries:
            return []
        if tenant not in self._tenant_codes:
            return []
        rows = len(self.queries)
        similarity = self._vectors[:rows] @ np.asarray(embedding, dtype=np.float32)
        mine = self._tenants[:rows] == self._tenant_codes[tenant]
        similarity = np.where(mine, similarity, -np.inf)
        k = min(k, int(mine.sum()))
        top = np.argpartition(-similarity, k - 1)[:k] if k < rows else np.arange(rows)
        top = top[np.argsort(-similarity[top], kind="stable")][:k]
        return [self._neighbour(int(i), float(similarity[i])) for i in top]

    async def asearch(self, embedding: np.ndarray | Sequence[float], tenant: str, k: int) -> list[Neighbour]:
        return self.search(embedding, tenant, k)

    def _neighbour(self, row: int, similarity: float) -> Neighbour:
        query = self.queries[row]
        return Neighbour(
            query.id,
            query.text,
            similarity,
            list(query.judged_models),
            list(query.judged_scores),
            query.final_model,
            query.route,
        )

    def judged_rows(self) -> Iterator[tuple[np.ndarray, list[str], list[float]]]:
        """(embedding, judged model keys, scores) per logged query: the learned router's training data."""
        for row, query in enumerate(self.queries):
            yield self._vectors[row], query.judged_models, query.judged_scores

    def maybe_index(self) -> bool:
        """Exact search needs no index; the router's maintenance hook then compacts (a no-op)."""
        return False

    def compact(self) -> None:
        self.pending_rows = 0
