"""The citizen's routes: the page the QR code opens, and its spoken answer.

The page's large-text and high-contrast choices are remembered in two cookies that hold only
that choice (``v_size``, ``v_contrast``; path ``/v``, a year, SameSite=Lax), so an elderly
person who chose large text once gets it on the next certificate they scan. A choice in the
query wins and is remembered again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from certificates import AGENCIES, CERTIFICATE_TYPES, DESK_TZ, VerificationReport
from verify_api.http.ids import canonical_id
from verify_api.http.speech import SpeechUnavailable, synthesize
from verify_api.routes.pages import (
    PAGE_CSP,
    PageFacts,
    not_found_page,
    spoken_text,
    verification_page,
)
from verify_api.runtime import Runtime

__all__ = ["citizen_router"]

_YEAR = 365 * 24 * 3600
_SIZE_COOKIE, _CONTRAST_COOKIE = "v_size", "v_contrast"
_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def citizen_router(rt: Runtime) -> APIRouter:
    router = APIRouter(tags=["public"])

    def facts_of(cert_id: str, t: str, lang: str) -> tuple[PageFacts, VerificationReport] | None:
        page = rt.public.page(canonical_id(cert_id), t)
        if page is None:
            return None
        view = page.view
        ctype = CERTIFICATE_TYPES.get(view.cert_type)
        issuer = AGENCIES.get(view.agency)
        zh = lang == "zh"
        facts = PageFacts(
            cert_id=view.id,
            token=t,
            type_name=(ctype.name_zh if zh else ctype.name_en) if ctype else view.cert_type,
            subject=view.subject,
            issuer=(issuer.name_zh if zh else issuer.name_en) if issuer else view.agency,
            # The day in Beijing time (the deployment's zone), as the certificate prints it.
            issued_on=view.issued_at.astimezone(DESK_TZ).date().isoformat(),
            valid_until=view.valid_until.isoformat() if view.valid_until else None,
            status=page.status,
        )
        return facts, page.report

    @router.get("/v/{cert_id}", response_class=HTMLResponse)
    def verification_page_route(
        request: Request,
        cert_id: str,
        t: Annotated[str, Query(max_length=200)] = "",
        lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
        size: Annotated[str | None, Query(pattern="^(normal|large)$")] = None,
        contrast: Annotated[str | None, Query(pattern="^(normal|high)$")] = None,
    ) -> HTMLResponse:
        large = (size or request.cookies.get(_SIZE_COOKIE)) == "large"
        high = (contrast or request.cookies.get(_CONTRAST_COOKIE)) == "high"
        found = facts_of(cert_id, t, lang)
        # Unknown id and wrong token get the same answer, so ids cannot be probed.
        if found is None:
            response = HTMLResponse(
                not_found_page(lang=lang, large=large, contrast=high), status_code=404
            )
        else:
            facts, report = found
            response = HTMLResponse(
                verification_page(report, facts, lang=lang, large=large, contrast=high)
            )
        response.headers.update(_HEADERS)
        if size is not None:
            response.set_cookie(_SIZE_COOKIE, size, max_age=_YEAR, path="/v", samesite="lax")
        if contrast is not None:
            response.set_cookie(
                _CONTRAST_COOKIE, contrast, max_age=_YEAR, path="/v", samesite="lax"
            )
        return response

    @router.get("/v/{cert_id}/audio", response_class=Response)
    def verification_audio(
        cert_id: str,
        t: Annotated[str, Query(max_length=200)] = "",
        lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
        size: Annotated[str | None, Query(pattern="^(normal|large)$")] = None,
        contrast: Annotated[str | None, Query(pattern="^(normal|high)$")] = None,
    ) -> Response:
        del size, contrast  # the page's link carries them; they change nothing spoken
        found = facts_of(cert_id, t, lang)
        if found is None:
            return JSONResponse(
                {
                    "code": "NOT_FOUND",
                    "message": {
                        "zh": "未找到该证照，或核验链接不完整。",
                        "en": "No such certificate, or the link is incomplete.",
                    },
                },
                status_code=404,
            )
        facts, report = found
        try:
            wav = synthesize(spoken_text(report, facts, lang=lang), lang)
        except SpeechUnavailable as exc:
            return JSONResponse(
                {
                    "code": "SPEECH_UNAVAILABLE",
                    "message": {
                        "zh": "暂时无法生成语音，请使用页面上的文字结果。",
                        "en": f"The spoken answer is not available right now ({exc}); "
                        "the written answer on the page is complete.",
                    },
                },
                status_code=503,
            )
        # Holds the holder's name: never stored by a shared cache.
        return Response(
            wav,
            media_type="audio/wav",
            headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
        )

    return router
