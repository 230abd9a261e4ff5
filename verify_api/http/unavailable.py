"""A database that cannot answer is a 503 with a reason, wherever in a request it shows.

Store calls happen in routes, in the fast paths and in the rate limits (whose buckets live in
the store when hosts share PostgreSQL). Routes' errors reach the app's exception handlers;
the middlewares' do not, so this wraps them all: a store error that escapes before the answer
has started becomes 503 with ``Retry-After``, never a 500 and never a traceback. The database
rolls back the transaction that failed, so nothing is half-written, and the pool's pre-ping
reconnects by itself once the server is back.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certificates.store.engine import UNAVAILABLE_ERRORS
from verify_api.http.asgi import send_json

__all__ = ["STORE_UNAVAILABLE_BODY", "StoreUnavailableMiddleware"]

log = logging.getLogger(__name__)

STORE_UNAVAILABLE_BODY = json.dumps(
    {
        "detail": {
            "code": "STORE_UNAVAILABLE",
            "message": {
                "zh": "暂时无法访问数据库，请几秒后重试；未做任何更改。",
                "en": "The database cannot be reached; try again in a few seconds. "
                "Nothing was changed.",
            },
        }
    },
    ensure_ascii=False,
    separators=(",", ":"),
).encode()
RETRY_AFTER = {"Retry-After": "2"}


class StoreUnavailableMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except UNAVAILABLE_ERRORS as exc:
            # The type only: a driver's message can name hosts and statements.
            log.warning("database unavailable: %s", type(exc).__name__)
            if started:
                raise  # half an answer is on the wire: the server closes the connection
            await send_json(send, 503, STORE_UNAVAILABLE_BODY, RETRY_AFTER)
