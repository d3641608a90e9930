"""Token buckets: requests per minute per API key and per tenant.

A bucket holds up to ``capacity`` requests and refills at ``rate`` per second, so short bursts pass
and a sustained rate above the limit is refused with the exact wait until the next request would fit
(the 429's ``Retry-After``). Buckets live in the router process: with several router processes each
enforces the limit on its own share (docs/gateway.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float  # requests per second
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take one request; returns 0 when it fits, else the seconds until it would."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """Named buckets created on first use; ``check`` takes from all of a request's buckets or none."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def check(self, limits: list[tuple[str, float, int]]) -> float:
        """``limits``: (bucket name, requests per minute, burst; 0 rpm = unlimited). Returns 0 and
        takes one request from each bucket when all have room, else the longest wait, taking none."""
        now = self.clock()
        with self._lock:
            buckets = [self._bucket(name, rpm, burst, now) for name, rpm, burst in limits if rpm > 0]
            snapshot = [(b.tokens, b.updated) for b in buckets]
            waits = [b.take(now) for b in buckets]
            if max(waits, default=0.0) > 0:  # refused: give back what the others took
                for bucket, (tokens, updated) in zip(buckets, snapshot):
                    bucket.tokens, bucket.updated = tokens, updated
                return max(waits)
            return 0.0

    def _bucket(self, name: str, rpm: float, burst: int, now: float) -> TokenBucket:
        rate = rpm / 60.0
        capacity = float(burst or max(1.0, rate))
        bucket = self._buckets.get(name)
        if bucket is None or bucket.rate != rate or bucket.capacity != capacity:  # new or re-tiered
            bucket = self._buckets[name] = TokenBucket(rate, capacity, capacity, now)
        return bucket
