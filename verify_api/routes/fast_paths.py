"""The fast paths: the status, details and lookup requests answered without FastAPI's
routing and parameter machinery, which costs more than the answers themselves (about half of
the server's CPU per request). Kept honest in three ways:

* each calls exactly what its route calls (the status cache the route fills, the route's
  own dependency and endpoint methods, the app's own exception handlers);
* each takes only requests whose parameters need no parsing to be valid; any other request
  goes on to the route unchanged, so the answers (422 and the rest) stay FastAPI's;
* each has an equivalence test against its route (tests/lookup/test_details_fast_path.py,
  tests/lookup/test_fast_path_equivalence.py).
"""

# No `from __future__ import annotations`: kept like the route modules it mirrors.
import functools
import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certificates import Principal, TTLCache
from verify_api.routes.sharing import LookupEndpoints

__all__ = ["LookupFastPath", "StatusFastPath"]


class StatusFastPath:
    """Answers public status requests whose answer is in the cache the route fills
    (:attr:`certificates.verification.public.PublicService.status_cache`). A miss, or any
    other request, goes on to the real route unchanged."""

    PREFIX = "/api/v1/certificates/"

    def __init__(self, app: ASGIApp, *, cache: TTLCache[bytes]) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(self.PREFIX):
                key = path[len(self.PREFIX) :]
                # Keys are canonical ids; anything else (another form, a sub-path) misses.
                raw = self.cache.get(key) if "/" not in key else None
                if raw is not None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(raw)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": raw})
                    return
        await self.app(scope, receive, send)


_DETAILS_PREFIX = "/api/v1/certificates/"
_DETAILS_SUFFIX = "/details"
_PURPOSE_QUERY = re.compile(rb"purpose=[a-z0-9][a-z0-9_-]{0,63}")  # the route's _CODE, raw
_LOOKUP_PATH = "/api/v1/lookup"
# type, holder and purpose in the documented order, each a value that needs no decoding and
# that the route accepts as it is (type: at most 64 characters; holder: 1-64; purpose: _CODE).
_LOOKUP_QUERY = re.compile(
    rb"type=([a-z0-9-]{1,64})&holder=([0-9A-Za-z]{1,64})&purpose=([a-z0-9][a-z0-9_-]{0,63})"
)
# The same values in a POSTed body (LookupRequest), which the fast path reads whole.
_LOOKUP_KEYS = {"type", "holder", "purpose"}
_LOOKUP_TYPE = re.compile(r"[a-z0-9-]{1,64}")
_LOOKUP_HOLDER = re.compile(r"[0-9A-Za-z]{1,64}")
_LOOKUP_PURPOSE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_MAX_LOOKUP_BODY = 1024  # far above what three such values take
# What common clients send for JSON (.NET's JsonContent and older Spring add the charset);
# anything else, also JSON in other spellings, goes to the route.
_JSON_CONTENT_TYPES = frozenset(
    {b"application/json", b"application/json; charset=utf-8", b"application/json;charset=UTF-8"}
)


class _Replay:
    """A ``receive`` that first gives back the messages already read, then reads on."""

    def __init__(self, messages: list[Message], receive: Receive) -> None:
        self._messages = messages
        self._receive = receive

    async def __call__(self) -> Message:
        if self._messages:
            return self._messages.pop(0)
        return await self._receive()


class LookupFastPath:
    """Serves details and lookup requests without FastAPI's routing and parameter machinery,
    which costs more than the answer (as :class:`StatusFastPath` does for status).

    It takes only requests whose parameters need no parsing to be valid (for details one
    ``purpose`` query parameter matching the route's pattern; for lookups ``type``, ``holder``
    and ``purpose`` in that order, plain letters, digits and hyphens, or a POSTed
    ``application/json`` object with exactly those three such values; nothing to decode, at
    most one ``Authorization`` header) and then calls exactly what the route calls: the
    ``verifier`` dependency, then :meth:`LookupEndpoints.details` or
    :meth:`LookupEndpoints.lookup`. Exceptions go to the app's own exception handlers, as
    inside the route. Any other request (a missing or malformed parameter, an extra one,
    another order, another body) goes on to the route unchanged (a body it read is replayed),
    so its answers (422 and the rest) stay FastAPI's.
    """

    def __init__(self, app: ASGIApp, *, endpoints: LookupEndpoints, api: FastAPI) -> None:
        self.app = app
        self.endpoints = endpoints
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            answer: Callable[[Principal], Awaitable[Response]] | None = None
            method = scope["method"]
            if method == "GET":
                answer = self._query(scope)
            elif method == "POST" and scope["path"] == _LOOKUP_PATH:
                # The body is read here; whatever this does not take goes on to the route
                # with the body replayed, as if nothing had read it.
                answer, receive = await self._posted(scope, receive)
            if answer is not None:
                authorization: str | None = None
                single = True
                for name, value in scope["headers"]:
                    if name == b"authorization":
                        single = authorization is None
                        authorization = value.decode("latin-1")
                if single:
                    await self._serve(scope, receive, send, authorization, answer)
                    return
        await self.app(scope, receive, send)

    def _query(self, scope: Scope) -> Callable[[Principal], Awaitable[Response]] | None:
        path: str = scope["path"]
        query: bytes = scope["query_string"]
        if path.endswith(_DETAILS_SUFFIX) and path.startswith(_DETAILS_PREFIX):
            cert_id = path[len(_DETAILS_PREFIX) : -len(_DETAILS_SUFFIX)]
            if cert_id and "/" not in cert_id and _PURPOSE_QUERY.fullmatch(query):
                return functools.partial(
                    self.endpoints.details, cert_id=cert_id, purpose=query[8:].decode()
                )
        elif path == _LOOKUP_PATH:
            m = _LOOKUP_QUERY.fullmatch(query)
            if m is not None:
                return functools.partial(
                    self.endpoints.lookup,
                    type=m[1].decode(),
                    holder=m[2].decode(),
                    purpose=m[3].decode(),
                )
        return None

    async def _posted(
        self, scope: Scope, receive: Receive
    ) -> tuple[Callable[[Principal], Awaitable[Response]] | None, Receive]:
        """A lookup whose JSON body is exactly ``{"type", "holder", "purpose"}`` with plain
        values (as the GET form), and the ``receive`` the rest of the app must use."""
        content_types = [v for k, v in scope["headers"] if k == b"content-type"]
        if len(content_types) != 1 or content_types[0] not in _JSON_CONTENT_TYPES:
            return None, receive
        messages: list[Message] = []
        body = b""
        complete = False
        while len(body) <= _MAX_LOOKUP_BODY:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: the route sees the same
            body += message.get("body", b"")
            if not message.get("more_body", False):
                complete = True
                break
        replay = _Replay(messages, receive)
        if not complete or len(body) > _MAX_LOOKUP_BODY:
            return None, replay
        try:
            fields = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None, replay
        if type(fields) is not dict or fields.keys() != _LOOKUP_KEYS:
            return None, replay
        ctype, holder, purpose = fields["type"], fields["holder"], fields["purpose"]
        if not (
            type(ctype) is str
            and type(holder) is str
            and type(purpose) is str
            and _LOOKUP_TYPE.fullmatch(ctype)
            and _LOOKUP_HOLDER.fullmatch(holder)
            and _LOOKUP_PURPOSE.fullmatch(purpose)
        ):
            return None, replay
        answer = functools.partial(
            self.endpoints.lookup, type=ctype, holder=holder, purpose=purpose
        )
        return answer, replay

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        authorization: str | None,
        answer: Callable[[Principal], Awaitable[Response]],
    ) -> None:
        request = Request(scope, receive)
        try:
            who = await self.endpoints.verifier(request=request, authorization=authorization)
            response = await answer(who)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise  # as from the route: the server's last-resort handler answers 500
            result = handler(request, exc)
            response = await result if inspect.isawaitable(result) else result
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Callable[[Request, Any], Any] | None:
        """The handler the app's exception middleware would pick for ``exc``."""
        handlers = self.api.exception_handlers
        status = getattr(exc, "status_code", None)
        if isinstance(exc, StarletteHTTPException) and status in handlers:
            return handlers[status]
        for cls in type(exc).__mro__:
            if cls is Exception:
                break  # left to the server's last-resort handler, as for the route
            if cls in handlers:
                return handlers[cls]
        return None
