"""OpenAI's wire format, written once: the router's API and the simulated provider both answer in it."""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi.responses import JSONResponse

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
