"""The gateway's parts on a fake clock: the token bucket of the rate limits, and the response cache's
TTL, LRU and semantic threshold (academy/gateway/limits.py, cache.py). Over real HTTP:
tests/e2e/test_gateway.py."""

from __future__ import annotations

import numpy as np
import pytest

from academy.config import CacheConfig
from academy.gateway.cache import ResponseCache
from academy.gateway.limits import RateLimiter


def test_token_bucket_refills_and_refuses_all_or_nothing() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    limits = [("tenant:a", 60.0, 2), ("key:k", 0.6, 3)]  # the key refills one request per 100 s
    assert [limiter.check(limits) for _ in range(2)] == [0.0, 0.0]
    assert limiter.check(limits) == pytest.approx(1.0)  # the tenant refills one request per second
    now[0] = 0.5
    assert limiter.check(limits) == pytest.approx(0.5)
    now[0] = 1.0
    assert limiter.check(limits) == 0.0  # the refused calls took nothing from the key's bucket
    now[0] = 2.0
    assert limiter.check(limits) == pytest.approx(98.0)  # now the key's limit binds
    assert limiter.check([("unlimited", 0.0, 0)]) == 0.0


def test_cache_ttl_lru_and_semantic_threshold(embedder) -> None:
    now = [0.0]
    cache = ResponseCache(CacheConfig(ttl_seconds=10, similarity=0.9, max_entries=2), clock=lambda: now[0])
    texts = ["What is the capital of France?", "what is the  capital of FRANCE?", "Sort 9, 2, 5."]
    vectors = np.asarray(embedder.embed(texts))
    cache.put("a", texts[0], vectors[0], "r1", "teacher", "Paris", 1.0)
    assert cache.exact("a", texts[1]).answer == "Paris"  # case and spacing do not matter
    assert cache.exact("b", texts[0]) is None and cache.semantic("b", vectors[0]) is None
    assert cache.semantic("a", vectors[1]).request_id == "r1"
    assert cache.semantic("a", vectors[2]) is None  # a different question is not a hit
    now[0] = 11.0
    assert cache.exact("a", texts[0]) is None and cache.size("a") == 0  # expired
    for i, text in enumerate(["q1", "q2", "q3"]):
        cache.put("a", text, vectors[2], f"r{i}", "teacher", str(i), None)
    assert cache.size("a") == 2 and cache.exact("a", "q1") is None  # least recently used dropped
