"""What the two browser consoles (the counter desk, ``/counter``, and the agency console,
``/agency``) do alike: sign-in from a checked credential into a server-side session, the
signed-in lookup, the checked POST prelude (a readable form, a live session, a matching CSRF
token), sign-out, the refusal words taken from the API's own error handlers, the security
headers and the content-addressed static files.

Each console keeps only what differs: the role it requires, its cookie names and path, its
words and its pages (given as two callables that render the sign-in page and a message page).
"""

# No `from __future__ import annotations`: sign_in and sign_out are routes, and FastAPI
# resolves route signatures at definition.
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from certificates import Principal
from certificates.sharing.clients import ClientRegistry
from certificates.verification.report import Message
from verify_api.http.auth import peer_certificate_fingerprint
from verify_api.http.sessions import Session, SessionStore, same_secret

__all__ = [
    "SIGNED_OUT",
    "Console",
    "api_refusal",
    "console_headers",
    "console_lang",
    "static_answer",
    "static_url",
]

LANGS = ("zh", "en")

SIGNED_OUT = Message(
    "您尚未登录，或登录已超时，请重新登录。",
    "You are not signed in, or your session timed out; please sign in again.",
)
_NO_TOKEN = Message("请输入客户端令牌。", "Please enter the client token.")
_NO_CERTIFICATE = Message(
    "此连接没有出示客户端证书。", "This connection presented no client certificate."
)

Signed = tuple[Session, Principal]


class SignInPage(Protocol):
    def __call__(
        self, request: Request, lang: str, presign: str, error: Message | None, status: int
    ) -> HTMLResponse: ...


class MessagePage(Protocol):
    def __call__(
        self,
        request: Request,
        lang: str,
        signed: Signed | None,
        messages: list[Message],
        status: int,
    ) -> HTMLResponse: ...


def console_lang(value: object) -> str:
    return value if isinstance(value, str) and value in LANGS else "zh"


def console_headers(csp: str, permissions: str) -> dict[str, str]:
    """A console answer's security headers: a strict Content-Security-Policy, no referrer
    (verification links carry QR tokens), ``nosniff``, no framing, ``no-store`` (the pages
    show personal data) and the console's Permissions-Policy."""
    return {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        "Permissions-Policy": permissions,
    }


def static_url(path: str, name: str, data: bytes) -> str:
    """A content-addressed URL of a console's static file."""
    return f"{path}/static/{name}?v={hashlib.sha256(data).hexdigest()[:16]}"


def static_answer(files: Mapping[str, tuple[bytes, str]], name: str, v: str) -> Response:
    """A console's static file: kept for long under its content-addressed URL, asked for
    again each time under any other."""
    hit = files.get(name)
    if hit is None:
        return Response(
            "未找到该文件。 / No such file.\n",
            404,
            media_type="text/plain; charset=utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )
    data, media = hit
    current = hashlib.sha256(data).hexdigest()[:16]
    cache = "public, max-age=31536000, immutable" if v == current else "no-cache"
    return Response(
        data,
        media_type=media,
        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
    )


async def api_refusal(request: Request, exc: Exception) -> tuple[int, Message]:
    """The API's own answer to ``exc`` (its status and zh/en message), from the app's error
    handlers: a console shows exactly what the API would say."""
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]]
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            response = await handler(request, exc)
            try:
                detail = json.loads(bytes(response.body))["detail"]
                message = detail["message"]
                return response.status_code, Message(str(message["zh"]), str(message["en"]))
            except (ValueError, KeyError, TypeError):
                break
    return 500, Message("服务器内部错误。", "Internal server error.")


@dataclass(frozen=True)
class Console:
    """One console's sessions: ``role`` is the client role it requires, ``check`` the API's
    own credential check for it (:meth:`ClientAuth.require`), ``cookie`` and ``presign``
    its session and pre-session cookies under ``path``; ``csrf_refused`` and ``bad_form`` its
    words, ``role_refused`` what it says to a valid credential without the role (None: the
    API's words)."""

    store: SessionStore
    clients: ClientRegistry
    role: str
    check: Callable[[Request, str | None], Awaitable[Principal]]
    cookie: str
    presign: str
    path: str
    headers: Mapping[str, str]
    csrf_refused: Message
    bad_form: Message
    sign_in_page: SignInPage
    message_page: MessagePage
    max_fields: int
    max_files: int
    role_refused: Message | None = None

    def home_url(self, lang: str) -> str:
        return f"{self.path}?lang={lang}" if lang != "zh" else self.path

    def _secure(self, request: Request) -> bool:
        return request.url.scheme == "https"

    def _active_client(self, session: Session) -> Principal | None:
        """The session's client as the registry has it now: a client revoked, or no longer
        holding the console's role, since sign-in ends its sessions at its next request."""
        info = next(
            (c for c in self.clients.list(session.agency) if c.id == session.client_id), None
        )
        if info is None or info.revoked_at is not None or self.role not in info.roles:
            self.store.end_client(session.client_id)
            return None
        return Principal(info.id, info.agency, frozenset(info.roles))

    def signed_in(self, request: Request) -> Signed | None:
        session = self.store.get(request.cookies.get(self.cookie))
        if session is None:
            return None
        if session.fingerprint is not None and (
            peer_certificate_fingerprint(request.scope) != session.fingerprint
        ):
            return None  # a certificate session holds only with that certificate
        principal = self._active_client(session)
        return (session, principal) if principal is not None else None

    def sign_in_answer(
        self, request: Request, lang: str, *, error: Message | None = None, status: int = 200
    ) -> HTMLResponse:
        """The sign-in page, with a fresh pre-session token in the form and in a cookie
        (double submit), so that a sign-in cannot be posted from another site."""
        presign = secrets.token_urlsafe(32)
        response = self.sign_in_page(request, lang, presign, error, status)
        response.set_cookie(
            self.presign,
            presign,
            httponly=True,
            samesite="strict",
            secure=self._secure(request),
            path=self.path,
        )
        return response

    async def read_form(
        self, request: Request, *, max_files: int | None = None
    ) -> tuple[dict[str, Any], str] | HTMLResponse:
        """The posted form, or the page saying it could not be read (a malformed body, too
        many fields or files): a 400 in both languages, not the framework's English."""
        files = self.max_files if max_files is None else max_files
        try:
            form = await request.form(max_files=files, max_fields=self.max_fields)
        except StarletteHTTPException:
            lang = console_lang(request.query_params.get("lang"))
            return self.message_page(request, lang, None, [self.bad_form], 400)
        fields: dict[str, Any] = dict(form.items())
        return fields, console_lang(fields.get("lang"))

    async def signed_post(
        self, request: Request, *, max_files: int | None = None
    ) -> tuple[dict[str, Any], str, Signed] | HTMLResponse:
        """A posted form of a signed-in client whose CSRF token matches, or the page that
        says why not (every console form but sign-in goes through here)."""
        parsed = await self.read_form(request, max_files=max_files)
        if isinstance(parsed, HTMLResponse):
            return parsed
        fields, lang = parsed
        signed = self.signed_in(request)
        if signed is None:
            return self.sign_in_answer(request, lang, error=SIGNED_OUT, status=401)
        if not same_secret(signed[0].csrf, str(fields.get("csrf") or "")):
            return self.message_page(request, lang, signed, [self.csrf_refused], 403)
        return fields, lang, signed

    async def sign_in(self, request: Request) -> Response:
        """``POST {path}/sign-in``: a token or the connection's client certificate, checked
        by the API itself, becomes a session cookie."""
        parsed = await self.read_form(request)
        if isinstance(parsed, HTMLResponse):
            return parsed
        fields, lang = parsed
        if not same_secret(request.cookies.get(self.presign), str(fields.get("csrf") or "")):
            return self.sign_in_answer(request, lang, error=self.csrf_refused, status=403)
        fingerprint: str | None = None
        if fields.get("method") == "certificate":
            fingerprint = peer_certificate_fingerprint(request.scope)
            if fingerprint is None:
                return self.sign_in_answer(request, lang, error=_NO_CERTIFICATE, status=400)
            authorization = None
        else:
            token = str(fields.get("token") or "").strip()
            if not token:
                return self.sign_in_answer(request, lang, error=_NO_TOKEN, status=400)
            authorization = f"Bearer {token}"
        try:
            # The API's own check: lookup by digest, rate limits, audit of every denial.
            who: Principal = await self.check(request, authorization)
        except HTTPException as exc:
            detail: dict[str, Any] = exc.detail if isinstance(exc.detail, dict) else {}
            if self.role_refused is not None and detail.get("code") == "ROLE_REQUIRED":
                error = self.role_refused
            else:
                msg = detail.get("message", {})
                error = Message(
                    str(msg.get("zh", "登录失败。")), str(msg.get("en", "Sign-in failed."))
                )
            return self.sign_in_answer(request, lang, error=error, status=exc.status_code)
        info = next((c for c in self.clients.list(who.agency) if c.id == who.client_id), None)
        raw, _session = self.store.create(
            client_id=who.client_id,
            agency=who.agency,
            roles=who.roles,
            name=info.name if info else who.client_id,
            credential="certificate" if fingerprint else "token",
            fingerprint=fingerprint,
        )
        response = RedirectResponse(self.home_url(lang), 303, headers=dict(self.headers))
        # HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it;
        # Secure under TLS; no Max-Age: gone with the browser, and idle-timed on the server.
        response.set_cookie(
            self.cookie,
            raw,
            httponly=True,
            samesite="strict",
            secure=self._secure(request),
            path=self.path,
        )
        response.delete_cookie(self.presign, path=self.path)
        return response

    async def sign_out(self, request: Request) -> Response:
        """``POST {path}/sign-out``: the session ends, its cookie goes."""
        post = await self.signed_post(request)
        if isinstance(post, HTMLResponse):
            return post
        _fields, lang, _signed = post
        self.store.end(request.cookies.get(self.cookie))
        response = RedirectResponse(self.home_url(lang), 303, headers=dict(self.headers))
        response.delete_cookie(self.cookie, path=self.path)
        return response
