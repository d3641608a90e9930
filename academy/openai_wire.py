"""OpenAI's wire format, written once: the router's API and the simulated provider both answer in it."""

from __future__ import annotations

import time
from typing import Any

from fastapi.responses import JSONResponse


def openai_error(status: int, message: str, param: str | None = None) -> JSONResponse:
    """An OpenAI-style error body; 4xx are the client's mistakes, 5xx the server's."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return JSONResponse(status_code=status, content=body)


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
