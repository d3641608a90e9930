"""Every model overloaded: a real server answers 503 with Retry-After, and the held request is still
served (academy/backends admission, academy/server.py). Fallback chains through the real router:
tests/integration/test_fallback.py."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx

from academy.backends import BACKEND_CLS, Completion
from academy.backends.reference import ReferenceBackend
from academy.inprocess import BackgroundServer
from academy.runtime import Runtime
from academy.server import create_app
from tests.factories.fallback import config, model


@BACKEND_CLS.register("test-held")
class HeldBackend(ReferenceBackend):
    """The simulated teacher, but each call holds its slot until ``release`` is set."""

    release = threading.Event()

    async def _agenerate(self, prompts: list[str]) -> list[Completion]:
        while not self.release.is_set():
            await asyncio.sleep(0.01)
        return await super()._agenerate(prompts)


def test_every_model_overloaded_is_a_503_with_retry_after(tmp_path, embedder):
    limits = {"max_concurrency": 1, "max_queue": 0}
    models = [
        model("teacher", "teacher", 10.0, "test-held", **limits),
        model("student", "student", 0.1, "test-held", **limits),
    ]
    cfg = config(tmp_path, models)
    runtime = Runtime.build(cfg, embedder=embedder)
    body = {"model": "academy", "messages": [{"role": "user", "content": "What is 2 plus 2?"}]}
    HeldBackend.release.clear()
    with BackgroundServer(create_app(cfg, runtime)) as server:
        url = f"{server.url}/chat/completions"
        first: dict = {}
        holder = threading.Thread(target=lambda: first.update(r=httpx.post(url, json=body, timeout=60)))
        holder.start()
        try:
            deadline = time.monotonic() + 30
            while any(b.admission.running == 0 for b in runtime.backends.values()):
                assert time.monotonic() < deadline, "the first request never reached the models"
                time.sleep(0.01)
            refused = httpx.post(url, json=body, timeout=60)
        finally:
            HeldBackend.release.set()
            holder.join(timeout=60)
    asyncio.run(runtime.aclose(close_embedder=False))

    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
    error = refused.json()["error"]
    assert error["type"] == "server_error" and error["code"] == "overloaded"
    assert "overloaded" in error["message"] and "Traceback" not in refused.text
    assert first["r"].status_code == 200 and first["r"].json()["choices"][0]["message"]["content"] == "4"
