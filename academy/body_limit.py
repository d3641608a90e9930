"""Request-body limits enforced while the body streams in, before any handler parses it."""

from __future__ import annotations

import codecs
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from academy.openai_wire import openai_error


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` is a 413 and a JSON body that is not UTF-8 a 400,
    decided as the body streams in, so an oversized upload is never read into memory whole.
    A declared Content-Length over the limit is refused before a byte is read."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            return await self._too_large()(scope, receive, send)
        ctype = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
        utf8 = codecs.getincrementaldecoder("utf-8")() if ctype.endswith(b"json") else None
        seen = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > self.max_bytes:
                    raise HTTPException(413, self._too_large_message())
                try:
                    if utf8 is not None:
                        utf8.decode(chunk, final=not message.get("more_body", False))
                except UnicodeDecodeError as exc:
                    raise HTTPException(400, f"the body is not valid UTF-8 ({exc.reason})") from None
            return message

        await self.app(scope, limited_receive, send)

    def _too_large_message(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes"

    def _too_large(self) -> JSONResponse:
        return openai_error(413, self._too_large_message())
