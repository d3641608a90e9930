"""The router's OpenAI-compatible HTTP API (FastAPI + uvicorn).

``POST /v1/chat/completions`` answers in OpenAI's response shape plus an ``academy`` object saying
which route, model, score and cost were used. Every error is OpenAI-style JSON with a 4xx code for
bad input; no traceback ever reaches a client. App state lives in the lifespan, not in globals.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
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

from academy.body_limit import BodyLimit
from academy.config import AcademyConfig, LimitsConfig
from academy.dashboard import build_router as dashboard_router
from academy.gateway.cache import CachedAnswer
from academy.gateway.db import GatewayError
from academy.gateway.http import build_router as gateway_router
from academy.gateway.service import Gateway, Principal
from academy.openai_wire import chat_completion, openai_error
from academy.routing import NoAllowedModelError, OverloadedError, RouteRequest, RouteResult
from academy.routing.academy_policy import NoAnswerError
from academy.runtime import Runtime
from academy.store import QueryRecord
from academy.wal import TrafficLogError

log = logging.getLogger(__name__)
ROUTED_MODEL = "academy"
TENANT_HEADER = "x-academy-tenant"
REQUEST_ID_HEADERS = ("x-request-id", "idempotency-key")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


def _number(low: float, high: float, what: str) -> Any:
    """An optional OpenAI sampling field: accepted (Academy's models decide how they sample) but
    range-checked as OpenAI does, so a client's mistake is a 400 here too, not silently ignored."""
    return Field(None, ge=low, le=high, strict=True, allow_inf_nan=False, description=what)


# What ``messages`` must contain, in the OpenAPI schema (query_text enforces it).
USER_MESSAGE = {
    "type": "object",
    "properties": {"role": {"const": "user"}, "content": {"type": "string", "pattern": "\\S"}},
    "required": ["role", "content"],
}


class ChatRequest(BaseModel):
    """The OpenAI request fields Academy reads or checks; other fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(
        ROUTED_MODEL,
        description="Academy picks the model; any other name is a 404",
        json_schema_extra={"enum": [ROUTED_MODEL, "auto"]},
    )
    messages: list[ChatMessage] = Field(
        min_length=1,
        description="The last user message is the query: it must hold text",
        json_schema_extra={"contains": USER_MESSAGE},
    )
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, strict=True, description="<= gateway.limits.max_tokens")
    max_completion_tokens: int | None = Field(None, ge=1, strict=True, description="as max_tokens")
    temperature: float | None = _number(0, 2, "0 to 2")
    top_p: float | None = _number(0, 1, "0 to 1")
    presence_penalty: float | None = _number(-2, 2, "-2 to 2")
    frequency_penalty: float | None = _number(-2, 2, "-2 to 2")
    n: int | None = Field(None, ge=1, le=1, strict=True, description="must be 1: one choice is returned")


class OpenAIErrorBody(BaseModel):
    """The error shape every 4xx/5xx has (documented so OpenAPI clients and fuzzers know it)."""

    error: dict[str, Any]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": OpenAIErrorBody, "description": what}
    for code, what in {
        400: "Invalid request (JSON, UTF-8, fields, limits)",
        404: "Unknown model",
        409: "Request id used by another tenant",
        401: "Missing, invalid or revoked API key (once keys exist)",
        403: "The key may not do this (another tenant, not an admin, a model outside the tier)",
        413: "Body larger than gateway.limits.max_body_bytes",
        429: "Rate limit or quota reached; see Retry-After",
        503: "Every model that could answer is at capacity; see Retry-After",
        504: "Not answered within server.request_timeout_s",
    }.items()
}


# Documented (not declared as handler parameters) so OpenAPI clients and fuzzers send them too.
CHAT_HEADERS = [
    {
        "name": "X-Academy-Tenant",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": 128, "pattern": "^[ -~]*$"},
    },
    {
        "name": "X-Request-ID",
        "in": "header",
        "required": False,
        "description": "Retries with the same id get the first answer, unpaid (also: Idempotency-Key)",
        "schema": {"type": "string", "maxLength": 128, "pattern": "^[ -~]*$"},
    },
]


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


def check_limits(request: ChatRequest, limits: LimitsConfig) -> None:
    """The config-dependent limits (the type and range checks are ChatRequest's)."""
    if len(request.messages) > limits.max_messages:
        raise BadRequest(f"at most {limits.max_messages} messages are accepted", param="messages")
    for name in ("max_tokens", "max_completion_tokens"):
        value = getattr(request, name)
        if value is not None and value > limits.max_tokens:
            raise BadRequest(f"{name} must be at most {limits.max_tokens}", param=name)


def query_text(request: ChatRequest, max_chars: int) -> str:
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
    if len(text) > max_chars:
        raise BadRequest(f"the user message is longer than {max_chars} characters", param="messages")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escape (\ud800) no model or store can take
        raise BadRequest("the user message is not valid Unicode", param="messages") from None
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


def create_app(
    config: AcademyConfig, runtime: Runtime | None = None, gateway: Gateway | None = None
) -> FastAPI:
    """The ASGI app. Pass ``runtime`` / ``gateway`` to share them (tests, demo); else they are built
    at startup and closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = runtime or Runtime.build(config)
        app.state.gateway = gateway or Gateway.from_config(config)
        app.state.recent = RecentRequests()
        await app.state.runtime.start()  # replay the traffic log; hf students serve @production
        try:
            yield
        finally:
            await app.state.runtime.stop()  # finish background work, flush the traffic log
            if runtime is None:
                await app.state.runtime.aclose()
            if gateway is None:
                app.state.gateway.close()

    app = FastAPI(title="Academy router", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(gateway_router())
    app.include_router(dashboard_router())  # /dashboard: the live school (academy/dashboard/)
    limits = config.gateway.limits
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)

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

    @app.post("/v1/chat/completions", responses=ERROR_RESPONSES, openapi_extra={"parameters": CHAT_HEADERS})
    async def chat(body: ChatRequest, request: Request) -> Any:
        rt: Runtime = request.app.state.runtime
        gw: Gateway = request.app.state.gateway
        principal = gw.authenticate(request.headers.get("authorization"), request.headers.get(TENANT_HEADER))
        if body.model not in (ROUTED_MODEL, "auto"):
            raise BadRequest(f"model must be {ROUTED_MODEL!r} (Academy picks the model)", 404, "model")
        check_limits(body, limits)
        request_id = next((request.headers[h] for h in REQUEST_ID_HEADERS if h in request.headers), None)
        text = query_text(body, limits.max_query_chars)
        gw.admit(principal, text)  # rate limits and quotas, before any model is called
        try:
            payload = await asyncio.wait_for(
                answer(rt, gw, request.app.state.recent, text, principal, request_id),
                rt.config.server.request_timeout_s,
            )
        except TimeoutError:
            raise BadRequest(
                f"not answered within server.request_timeout_s = {rt.config.server.request_timeout_s} s",
                504,
            ) from None
        if body.stream:
            return StreamingResponse(stream_chunks(payload), media_type="text/event-stream")
        return payload

    return app


async def answer(
    rt: Runtime,
    gw: Gateway,
    recent: RecentRequests,
    text: str,
    principal: Principal,
    request_id: str | None,
) -> dict[str, Any]:
    """Route one query; a request id already seen returns the first attempt's answer, unpaid."""
    tenant = principal.tenant
    if not request_id:
        return await route_once(rt, gw, text, principal, uuid.uuid4().hex)
    if len(request_id) > 128:
        raise BadRequest("request id longer than 128 characters", param="x-request-id")
    seen = recent.get(request_id)
    if seen is not None:
        return replayed(seen[0], tenant, await asyncio.shield(seen[1]))
    stored = await asyncio.to_thread(rt.store.get_query, request_id)
    if stored is not None:
        return replayed(stored["tenant"], tenant, stored_body(stored))
    future = asyncio.ensure_future(route_once(rt, gw, text, principal, request_id))
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


async def route_once(
    rt: Runtime, gw: Gateway, text: str, principal: Principal, request_id: str
) -> dict[str, Any]:
    """The tenant's caches first (exact, then semantic), else the router; billed either way."""
    started, tenant = time.perf_counter(), principal.tenant
    hit = gw.cache.exact(tenant, text) if principal.cache_exact else None
    embedding = None
    if hit is None and principal.cache_semantic:
        embedding = await rt.embedder.aembed_one(text)
        hit = gw.cache.semantic(tenant, embedding)
    if hit is not None:
        return await serve_cached(rt, gw, text, principal, request_id, hit, started)
    request = RouteRequest(text, tenant, request_id, embedding=embedding, models=principal.models)
    result = await rt.router.route(request)
    served = next(a for a in result.answers if a.model == result.model and a.purpose == "serve")
    tokens_in, tokens_out = served.completion.tokens_in, served.completion.tokens_out
    if (principal.cache_exact or principal.cache_semantic) and result.embedding is not None:
        gw.cache.put(tenant, text, result.embedding, request_id, result.model, result.answer, result.score)
    gw.record(principal, request_id, result.model, result.route, tokens_in, tokens_out, result.cost)
    return completion_body(result, tokens_in, tokens_out)


async def serve_cached(
    rt: Runtime, gw: Gateway, text: str, principal: Principal, request_id: str, hit: CachedAnswer,
    started: float,
) -> dict[str, Any]:  # fmt: skip
    """A cache hit: free, logged to the traffic store as route ``cache`` (no model answered)."""
    latency_ms = (time.perf_counter() - started) * 1000
    record = QueryRecord(
        id=request_id, tenant=principal.tenant, text=text, embedding=hit.embedding, route="cache",
        final_model=hit.model, final_answer=hit.answer, final_score=hit.score, latency_ms=latency_ms,
    )  # fmt: skip
    await rt.router.log_query(record, [])
    gw.record(principal, request_id, hit.model, "cache", 0, 0, 0.0)
    body = chat_completion(request_id, hit.model, hit.answer)
    academy = {
        "request_id": request_id, "route": "cache", "model": hit.model, "score": hit.score,
        "cost_usd": 0.0, "latency_ms": round(latency_ms, 2), "cached_from": hit.request_id,
        "similarity": round(hit.similarity, 4),
    }  # fmt: skip
    return body | {"academy": academy}


FASTAPI_BODY_ERROR = "There was an error parsing the body"  # FastAPI's 400 when json.loads raises


def unreadable_body(cause: BaseException) -> str:
    """Why json.loads refused a body FastAPI's own JSONDecodeError path did not catch."""
    if isinstance(cause, RecursionError):
        return "the JSON body is nested too deeply"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "a number in the JSON body has too many digits"
    return "the body is not valid JSON"


def install_error_handlers(app: FastAPI) -> None:
    """Map every failure to OpenAI-style JSON: 4xx for the client's mistakes, no tracebacks."""

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return openai_error(exc.status, str(exc), exc.param)

    @app.exception_handler(GatewayError)
    async def refused(_: Request, exc: GatewayError) -> JSONResponse:
        return openai_error(exc.status, str(exc), code=exc.code, retry_after=exc.retry_after)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"invalid request: {where or 'body'}: {first.get('msg', 'malformed')}"
        return openai_error(400, message, where or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.__cause__ is not None and exc.detail == FASTAPI_BODY_ERROR:  # say why, not just "error"
            return openai_error(400, f"invalid request: {unreadable_body(exc.__cause__)}")
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
