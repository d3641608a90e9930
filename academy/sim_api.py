"""A SIMULATED paid API: an OpenAI-compatible HTTP server over local backends and a rubric judge.

Academy's ``openai`` backend and ``llm`` judge talk to real providers in production. Offline (tests,
the demo) they talk to this server instead, over real HTTP on loopback: the client code, the wire
format, timeouts and malformed replies are all exercised for real; only the model behind the
endpoint is simulated. ``academy sim-api`` starts it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from academy.backends.base import Backend
from academy.backends.reference import unit_draw
from academy.judges.base import Judge, JudgeRequest
from academy.openai_wire import backend_reply, chat_completion, openai_error, read_chat

JUDGE_FIELDS = ("QUESTION", "ANSWER", "REFERENCE ANSWER")


def parse_judge_prompt(text: str) -> JudgeRequest:
    """Recover question/answer/reference from the llm judge's user message sections."""
    sections: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        header = line.rstrip(":")
        if line.endswith(":") and header in JUDGE_FIELDS:
            current = header
            sections[current] = ""
        elif current:
            sections[current] += ("\n" if sections[current] else "") + line
    return JudgeRequest(
        sections.get("QUESTION", ""), sections.get("ANSWER", ""), reference=sections.get("REFERENCE ANSWER")
    )


def create_sim_app(
    backends: dict[str, Backend], judges: dict[str, Judge] | None = None, malformed_rate: float = 0.0
) -> FastAPI:
    """Serve each backend under its model name; each judge answers rubric JSON under its own name.

    ``malformed_rate`` makes that share of judge replies prose instead of JSON (deterministic per
    prompt), so clients' handling of misbehaving judges can be tested.
    """
    judges = judges or {}
    app = FastAPI(title="Academy simulated OpenAI-compatible API")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        names = [*backends, *judges]
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "owned_by": "simulated"} for n in names],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        parsed = await read_chat(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        model, prompt = parsed
        if model in judges:
            return JSONResponse(await _judge_reply(judges[model], model, prompt, malformed_rate))
        if model not in backends:
            return openai_error(404, f"model {model!r} not found", "model")
        return await backend_reply(backends[model], model, prompt)

    return app


async def _judge_reply(judge: Judge, model: str, prompt: str, malformed_rate: float) -> dict[str, Any]:
    if unit_draw("malformed", prompt) < malformed_rate:
        return chat_completion(uuid.uuid4().hex, model, "The answer looks fine to me overall.", 50, 8)
    [judgement] = await judge.ajudge([parse_judge_prompt(prompt)])
    correctness = round(10 * (judgement.score or 0.0))
    rubric = {"relevance": 10, "correctness": correctness, "completeness": correctness, "clarity": 9}
    return chat_completion(uuid.uuid4().hex, model, json.dumps(rubric), 80, 20)
