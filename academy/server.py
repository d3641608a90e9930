"""The router's OpenAI-compatible HTTP API (FastAPI + uvicorn).

``POST /v1/chat/completions`` answers in OpenAI's response shape plus an ``academy`` object saying
which route, model, score and cost were used. Every error is OpenAI-style JSON with a 4xx code for
bad input; no traceback ever reaches a client. App state lives in the lifespan, not in globals.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from academy.config import AcademyConfig
from academy.openai_wire import chat_completion, openai_error
from academy.routing import NoAllowedModelError, OverloadedError, RouteRequest, RouteResult
from academy.routing.academy_policy import NoAnswerError
from academy.runtime import Runtime
from academy.wal import TrafficLogError

log = logging.getLogger(__name__)
ROUTED_MODEL = "academy"
MAX_QUERY_CHARS = 8000
TENANT_HEADER = "x-academy-tenant"
REQUEST_ID_HEADERS = ("x-request-id", "idempotency-key")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The OpenAI request fields Academy reads; others (temperature, max_tokens ...) are accepted."""

    model_config = ConfigDict(extra="allow")
    model: str = ROUTED_MODEL
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False


class RecentRequests:
    """Requests answered (or being answered) by this process, by request id.

    Logging to the store happens after the response, so a client retry can arrive before the first
    attempt is stored: it must then wait for, and share, the first attempt's answer rather than pay
    for the models again. Bounded, oldest dropped first; older ids are found in the store.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[str, asyncio.Future]] = OrderedDict()

    def get(self, request_id: str) -> tuple[str, asyncio.Future] | None:
        return self._items.get(request_id)

    def put(self, request_id: str, tenant: str, future: asyncio.Future) -> None:
        self._items[request_id] = (tenant, future)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def forget(self, request_id: str) -> None:
        self._items.pop(request_id, None)


class BadRequest(ValueError):
    """A request Academy cannot answer; becomes a 4xx OpenAI-style error."""

    def __init__(self, message: str, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.param = status, param


def query_text(request: ChatRequest) -> str:
    """The last user message as plain text (string content or a list of text parts)."""
    user = [m for m in request.messages if m.role == "user"]
    if not user:
        raise BadRequest("messages must contain a user message", param="messages")
    content = user[-1].content
    if isinstance(content, list):
        content = " ".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
    text = (content or "").strip()
    if not text:
        raise BadRequest("the user message is empty", param="messages")
    if len(text) > MAX_QUERY_CHARS:
        raise BadRequest(f"the user message is longer than {MAX_QUERY_CHARS} characters", param="messages")
    return text


def completion_body(result: RouteResult, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    body = chat_completion(result.request_id, result.model, result.answer, tokens_in, tokens_out)
    return body | {"academy": academy_info(result)}


def academy_info(result: RouteResult) -> dict[str, Any]:
    return {
        "request_id": result.request_id,
        "route": result.route,
        "model": result.model,
        "score": result.score,
        "score_source": result.score_source,
        "cost_usd": result.cost,
        "latency_ms": round(result.latency_ms, 2),
        "decision_ms": round(result.decision_ms, 2),
        "max_similarity": result.max_similarity,
        "estimates": result.estimates,
        "reason": result.reason,
    }


def stored_body(row: dict[str, Any]) -> dict[str, Any]:
    """The response for a request id already answered (``replayed`` marks it free)."""
    body = chat_completion(row["id"], row["final_model"], row["final_answer"])
    academy = {
        "request_id": row["id"],
        "route": row["route"],
        "model": row["final_model"],
        "score": row["final_score"],
    }
    return body | {"academy": academy}


def stream_chunks(body: dict[str, Any]) -> AsyncIterator[str]:
    """Server-sent events for ``stream: true``: the whole answer in one delta, then [DONE]."""

    async def events() -> AsyncIterator[str]:
        base = {k: body[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
        content = body["choices"][0]["message"]["content"]
        first = base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": content}}]}
        last = base | {
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "academy": body["academy"],
        }
        for chunk in (first, last):
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return events()


def create_app(config: AcademyConfig, runtime: Runtime | None = None) -> FastAPI:
    """The ASGI app. Pass ``runtime`` to share one (tests, demo); else it is built at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = runtime or Runtime.build(config)
        app.state.recent = RecentRequests()
        await app.state.runtime.start()  # replay the traffic log; hf students serve @production
        try:
            yield
        finally:
            await app.state.runtime.stop()  # finish background work, flush the traffic log
            if runtime is None:
                await app.state.runtime.aclose()

    app = FastAPI(title="Academy router", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        rt: Runtime = request.app.state.runtime
        return {"status": "ok", "models": list(rt.backends), "router": rt.config.router.name}

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        rt: Runtime = request.app.state.runtime
        data = [{"id": ROUTED_MODEL, "object": "model", "owned_by": "academy", "role": "router"}]
        data += [
            {"id": n, "object": "model", "owned_by": "academy", "role": b.role}
            for n, b in rt.backends.items()
        ]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request) -> Any:
        rt: Runtime = request.app.state.runtime
        if body.model not in (ROUTED_MODEL, "auto"):
            raise BadRequest(f"model must be {ROUTED_MODEL!r} (Academy picks the model)", 404, "model")
        tenant = request.headers.get(TENANT_HEADER) or rt.config.server.default_tenant
        if len(tenant) > 128 or not tenant.isprintable():
            raise BadRequest("tenant must be at most 128 printable characters", param=TENANT_HEADER)
        request_id = next((request.headers[h] for h in REQUEST_ID_HEADERS if h in request.headers), None)
        text = query_text(body)
        payload = await answer(rt, request.app.state.recent, text, tenant, request_id)
        if body.stream:
            return StreamingResponse(stream_chunks(payload), media_type="text/event-stream")
        return payload

    return app


async def answer(
    rt: Runtime, recent: RecentRequests, text: str, tenant: str, request_id: str | None
) -> dict[str, Any]:
    """Route one query; a request id already seen returns the first attempt's answer, unpaid."""
    if not request_id:
        return await route_once(rt, text, tenant, uuid.uuid4().hex)
    if len(request_id) > 128:
        raise BadRequest("request id longer than 128 characters", param="x-request-id")
    seen = recent.get(request_id)
    if seen is not None:
        return replayed(seen[0], tenant, await asyncio.shield(seen[1]))
    stored = await asyncio.to_thread(rt.store.get_query, request_id)
    if stored is not None:
        return replayed(stored["tenant"], tenant, stored_body(stored))
    future = asyncio.ensure_future(route_once(rt, text, tenant, request_id))
    recent.put(request_id, tenant, future)
    try:
        return await asyncio.shield(future)
    except Exception:
        recent.forget(request_id)  # a failed attempt may be retried for real
        raise


def replayed(owner: str, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
    if owner != tenant:
        raise BadRequest("request id already used", 409, "x-request-id")
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return body | {"usage": usage, "academy": body["academy"] | {"cost_usd": 0.0, "replayed": True}}


async def route_once(rt: Runtime, text: str, tenant: str, request_id: str) -> dict[str, Any]:
    result = await rt.router.route(RouteRequest(text, tenant, request_id))
    served = next(a for a in result.answers if a.model == result.model and a.purpose == "serve")
    return completion_body(result, served.completion.tokens_in, served.completion.tokens_out)


def install_error_handlers(app: FastAPI) -> None:
    """Map every failure to OpenAI-style JSON: 4xx for the client's mistakes, no tracebacks."""

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return openai_error(exc.status, str(exc), exc.param)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"invalid request: {where or 'body'}: {first.get('msg', 'malformed')}"
        return openai_error(400, message, where or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return openai_error(exc.status_code, str(exc.detail))

    @app.exception_handler(NoAnswerError)
    async def no_answer(_: Request, exc: NoAnswerError) -> JSONResponse:
        return openai_error(502, f"no model could answer: {exc}")

    @app.exception_handler(OverloadedError)
    async def overloaded(_: Request, exc: OverloadedError) -> JSONResponse:
        return openai_error(
            503, f"overloaded, retry later: {exc}", code="overloaded", retry_after=exc.retry_after
        )

    @app.exception_handler(NoAllowedModelError)
    async def no_allowed_model(_: Request, exc: NoAllowedModelError) -> JSONResponse:
        return openai_error(403, str(exc), "model", code="model_not_allowed")

    @app.exception_handler(TrafficLogError)
    async def unlogged(_: Request, exc: TrafficLogError) -> JSONResponse:
        return openai_error(
            503, f"request not accepted: {exc}", code="traffic_log_unavailable", retry_after=1
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error while serving a request")
        return openai_error(500, f"internal error ({type(exc).__name__}); the request was not answered")
