"""Upload size limit, enforced on the raw ASGI stream before any multipart parsing.

Checking only Content-Length would let a chunked upload through, and checking after parsing
means the whole body was already read to disk; counting bytes as they arrive does neither.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verify_api.http.asgi import send_json

__all__ = ["BodyLimitMiddleware"]


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _reject(send, self.max_bytes)
                return
        seen = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # The body parser caught _TooLarge and answers 400 "error parsing the body":
                # the caller must hear 413 instead, so that answer is replaced, not sent.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _reject(send, self.max_bytes)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _reject(send, self.max_bytes)


async def _reject(send: Send, limit: int) -> None:
    import json

    body: dict[str, Any] = {
        "detail": {
            "code": "UPLOAD_TOO_LARGE",
            "message": {
                "zh": f"上传文件超过大小限制（{limit} 字节）。",
                "en": f"The upload exceeds the size limit of {limit} bytes.",
            },
        }
    }
    await send_json(send, 413, json.dumps(body, ensure_ascii=False).encode())
