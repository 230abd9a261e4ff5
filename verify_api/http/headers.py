"""Security headers on every answer of the service, the API's included, not only the pages'.

Each page sets its own strict Content-Security-Policy and caching; this middleware fills in
what an answer did not set, so no route can forget them:

* ``Referrer-Policy: no-referrer``: verification tokens travel in URLs (the QR link), and a
  browser must never hand them to another site in a ``Referer``.
* ``X-Content-Type-Options: nosniff``: a JSON answer or an uploaded-document report is never
  sniffed into HTML.
* ``Content-Security-Policy``: ``frame-ancestors 'none'`` everywhere (no framing, so no
  click-jacking of the consoles); an answer that is not HTML also gets ``default-src 'none'``,
  since nothing in JSON, a PDF or a WAV may load anything. An HTML answer without its own
  policy (Swagger UI at ``/docs``) gets framing refused only, as its own scripts must run.
* ``Cache-Control: no-store`` where an answer said nothing about caching: the API's answers
  carry personal data (an agency's certificates, lookups, PDFs) or live status, and a shared
  cache keeping them is the failure to avoid. Answers that may be cached say so themselves
  (content-hashed static files, the CRL).

It runs outermost, so the fast paths' and the limits' own answers (429, 413) get them too; the
cost is one look at the header names of each answer.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeadersMiddleware"]

_CSP = b"content-security-policy"
_ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
)
_CSP_HTML = b"frame-ancestors 'none'"
_CSP_OTHER = b"default-src 'none'; frame-ancestors 'none'"


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` (ASGI form, lower-case names) with each missing security header added."""
    present = {name.lower() for name, _ in headers}
    added = [pair for pair in _ALWAYS if pair[0] not in present]
    if _CSP not in present:
        html = any(
            name.lower() == b"content-type" and value.startswith(b"text/html")
            for name, value in headers
        )
        added.append((_CSP, _CSP_HTML if html else _CSP_OTHER))
    return [*headers, *added] if added else headers


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(list(message.get("headers", ())))
            await send(message)

        await self.app(scope, receive, send_secured)
