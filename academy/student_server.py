"""``academy serve-student``: one registered student behind an OpenAI-compatible endpoint.

Why: a router process that loads every student's weights itself cannot scale students apart from
routing. Served here, a student runs where its hardware is, and routers reach it through the
``openai`` backend once the registry's ``academy.served_at`` version tag says where it is.

Generation is the router's own ``HFBackend`` (same micro-batching, stop tokens and answer split), so
a remote student answers exactly what a locally loaded one would. The model is pinned to the version
the ``models:/`` URI resolved to at start: moving ``@production`` later does not change what this
server serves (the tag is per version, so routers load a new version themselves until it is served).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from academy.backends.hf import HFBackend
from academy.config import AcademyConfig, ModelConfig
from academy.openai_wire import backend_reply, openai_error, read_chat

URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


class StudentServerError(ValueError):
    """The model URI is malformed or names nothing registered; the message says which."""


@dataclass(frozen=True)
class ServedModel:
    """What one student server serves: the registered name and the version its URI resolved to."""

    name: str
    version: int

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def resolve(cfg: AcademyConfig, uri: str) -> ServedModel:
    """``models:/name@alias`` or ``models:/name/N`` -> the registered version it names now."""
    from registry.model_registry import ModelRegistry, RegistryError

    match = URI.match(uri)
    if match is None:
        raise StudentServerError(
            f"model must be models:/<name>@<alias> or models:/<name>/<version>, got {uri!r}"
        )
    name = match["name"]
    registry = ModelRegistry.from_config(cfg)
    if not registry.exists():
        raise StudentServerError(f"no registry at {registry.tracking_uri}: nothing registered to serve")
    try:
        if match["version"]:
            return ServedModel(name, registry.version(name, int(match["version"])).version)
        info = registry.aliased(name, match["alias"])
    except RegistryError as exc:
        raise StudentServerError(str(exc)) from None
    if info is None:
        raise StudentServerError(f"{name} has no @{match['alias']} version")
    return ServedModel(name, info.version)


def load_backend(cfg: AcademyConfig, served: ServedModel, max_new_tokens: int | None = None) -> HFBackend:
    """The student's ``HFBackend`` on its pinned version, loaded now so a broken version fails the
    start instead of the first request. Generation options come from the configured model of the
    same name (else the first hf model), so remote answers match local ones."""
    import mlflow

    mlflow.set_tracking_uri(cfg.registry.resolved_tracking_uri(cfg.paths.home))  # models:/ resolves here
    template = next((m for m in cfg.models if m.name == served.name and m.backend == "hf"), None)
    template = template or next((m for m in cfg.models if m.backend == "hf"), None)
    options = {k: v for k, v in (template.options if template else {}).items() if k != "path"}
    if max_new_tokens is not None:
        options["max_new_tokens"] = max_new_tokens
    model = ModelConfig(
        name=served.name,
        backend="hf",
        role="student",
        price_in=template.price_in if template else 0.0,
        price_out=template.price_out if template else 0.0,
        options={**options, "path": served.uri},
        **(
            {"max_concurrency": template.max_concurrency, "max_queue": template.max_queue} if template else {}
        ),
    )
    backend = HFBackend(model, home=cfg.paths.home)
    backend.reload(served.uri, version=str(served.version))
    return backend


def create_student_app(backend: HFBackend, served: ServedModel) -> FastAPI:
    """``/v1/chat/completions`` and ``/v1/models`` for the one student, ``/health`` with what it
    serves and how many completions it answered (so a caller can tell it was really asked)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await backend.aclose()  # stop the micro-batcher thread after queued prompts

    app = FastAPI(title=f"Academy student {served.name} v{served.version}", lifespan=lifespan)
    app.state.requests = 0

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "model": served.name,
            "version": served.version,
            "requests": app.state.requests,
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        entry = {"id": served.name, "object": "model", "owned_by": "academy", "version": served.version}
        return {"object": "list", "data": [entry]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        parsed = await read_chat(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        model, prompt = parsed
        if model != served.name:
            return openai_error(
                404, f"model {model!r} not found; this server serves {served.name!r}", "model"
            )
        app.state.requests += 1
        return await backend_reply(backend, model, prompt)

    return app
