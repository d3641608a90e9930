"""Per-backend back-pressure and timeouts on one backend, and the default model when the teacher is
not allowed (academy/backends, academy/routing/academy_policy.py). Fallback chains through the real
router: tests/integration/test_fallback.py; the 503 from a real server: tests/e2e/test_fallback.py."""

from __future__ import annotations

import asyncio
import time

import pytest

from academy.backends import BackendOverloaded, BackendTimeout
from academy.backends.reference import ReferenceBackend
from academy.config import ModelConfig, RouterConfig
from academy.routing.academy_policy import Estimate, choose_model


def test_a_saturated_backend_refuses_at_once_and_a_slow_one_times_out():
    cfg = ModelConfig(
        name="t",
        backend="reference",
        role="teacher",
        price_in=1,
        price_out=1,
        options={"latency_ms": 300},
        max_concurrency=1,
        max_queue=1,
    )
    backend = ReferenceBackend(cfg)

    async def run() -> None:
        running = asyncio.ensure_future(backend.agenerate(["What is 1 plus 1?"]))
        queued = asyncio.ensure_future(backend.agenerate(["What is 2 plus 2?"]))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(BackendOverloaded) as refused:
            await backend.agenerate(["What is 3 plus 3?"])
        assert time.monotonic() - started < 0.25 and refused.value.retry_after > 0  # not after 300 ms
        assert [c.text for c in await running + await queued] == ["2", "4"]  # the queue is served
        assert backend.admission.running == 0 and backend.admission.waiting == 0  # slots given back
        slow = ReferenceBackend(cfg.model_copy(update={"timeout_s": 0.1}))
        with pytest.raises(BackendTimeout):
            await slow.agenerate(["What is 4 plus 4?"])
        assert slow.admission.running == 0

    asyncio.run(run())


def test_without_the_teacher_the_best_estimated_allowed_model_is_the_default():
    cfg = RouterConfig(quality_floor=0.9, min_evidence=1.0)
    prices = {"teacher": 10.0, "ta": 2.0, "student": 0.1}
    estimates = {"teacher": Estimate(1.0, 5), "ta": Estimate(0.6, 5), "student": Estimate(0.5, 5)}
    assert choose_model(estimates, prices, "teacher", cfg, {"ta", "student"})[0] == "ta"
    tied = estimates | {"student": Estimate(0.6, 5)}
    assert choose_model(tied, prices, "teacher", cfg, {"ta", "student"})[0] == "ta"  # the priciest
    assert choose_model(estimates, prices, "teacher", cfg, {"student"})[0] == "student"
    assert choose_model(estimates, prices, "teacher", cfg)[0] == "teacher"
