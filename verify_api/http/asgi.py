"""The one way the HTTP middlewares answer by themselves, before any route: a complete JSON
response in two ASGI messages. (The status fast path writes its own, inline: it is the
hottest path of the service and a call costs more than the answer there.)"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import Send

__all__ = ["send_json"]


async def send_json(
    send: Send, status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *[(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
