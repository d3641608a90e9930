"""OpenAI's wire format, written once: the router's API and the simulated provider both answer in it."""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse

if TYPE_CHECKING:
    from academy.backends.base import Backend

ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def openai_error(
    status: int,
    message: str,
    param: str | None = None,
    *,
    code: str | int | None = None,
    retry_after: float | None = None,
) -> JSONResponse:
    """An OpenAI-style error body; 4xx are the client's mistakes, 5xx the server's.

    ``retry_after`` (seconds) becomes the ``Retry-After`` header of a 429 or 503, rounded up, so
    clients (the official SDKs honour it) back off instead of hammering.
    """
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code or status}}
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
    return JSONResponse(status_code=status, content=body, headers=headers)


def chat_completion(
    completion_id: str, model: str, content: str, tokens_in: int = 0, tokens_out: int = 0
) -> dict[str, Any]:
    """A ``chat.completion`` object with one assistant choice and its token usage."""
    return {
        "id": f"chatcmpl-{completion_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
    }


def user_prompt(body: Any) -> tuple[str, str] | None:
    """``(model, last user message)`` of a chat request body; None when it has neither."""
    try:
        model, messages = body["model"], body["messages"]
        prompt = next(m["content"] for m in reversed(messages) if m.get("role") == "user")
    except (KeyError, TypeError, StopIteration, AttributeError):
        return None
    return (model, prompt) if isinstance(model, str) and isinstance(prompt, str) else None


async def read_chat(request: Any) -> tuple[str, str] | JSONResponse:
    """``(model, last user message)`` of a chat request, or the 400 to answer when it is not one."""
    try:
        parsed = user_prompt(await request.json())
    except json.JSONDecodeError:
        parsed = None
    if parsed is None:
        return openai_error(400, "body needs 'model' and 'messages' with a user message")
    return parsed


async def backend_reply(backend: Backend, model: str, prompt: str) -> JSONResponse:
    """One backend's answer as a ``chat.completion``; overload, timeout and failure as the
    status codes OpenAI clients retry or report (503 + Retry-After, 504, 502)."""
    import uuid

    from academy.backends.base import BackendOverloaded, BackendTimeout

    try:
        [completion] = await backend.agenerate([prompt])
    except BackendOverloaded as exc:
        return openai_error(503, str(exc), retry_after=exc.retry_after)
    except BackendTimeout as exc:
        return openai_error(504, str(exc))
    if completion.error:
        return openai_error(502, completion.error)
    return JSONResponse(
        chat_completion(uuid.uuid4().hex, model, completion.text, completion.tokens_in, completion.tokens_out)
    )
