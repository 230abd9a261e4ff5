"""The start page (``/``): where a newcomer lands, in Chinese (default) or English
(``?lang=en``), pointing each kind of user to their console and developers to the API docs.

It shows no personal data and runs no script. Its one stylesheet is inline and allowed by its
hash, so the Content-Security-Policy allows nothing else at all; the other headers are the
citizen page's (no referrer, nosniff, no framing).
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

__all__ = ["START_CSP", "start_page", "start_router"]

_TEXT = {
    "zh": {
        "title": "CertLedger 电子证照",
        "h1": "电子证照：签发与核验",
        "lead": "加盖电子印章、在账本上登记的电子证照：任何人都可以核验真伪。",
        "citizen_h": "我想核验一张证照",
        "citizen_p": "请用手机扫描证照上的二维码，手机会打开核验结果页，无需安装任何软件。",
        "counter_h": "柜台核验",
        "counter_p": "窗口工作人员：上传证照 PDF 或扫描二维码，获得完整核验报告和可打印的回执。",
        "counter_a": "打开柜台核验台",
        "agency_h": "发证机构",
        "agency_p": "签发证照（单张或批量），查询本机构的证照，撤销、暂停或恢复证照。",
        "agency_a": "打开发证机构控制台",
        "api_h": "开发者",
        "api_p": "HTTP 接口说明（OpenAPI），由本服务自带，离线也可打开。",
        "api_a": "查看接口文档",
        "other": "English",
        "footer": "本页不收集、不显示任何个人信息。",
    },
    "en": {
        "title": "CertLedger electronic certificates",
        "h1": "Electronic certificates, issued and checked",
        "lead": "Certificates sealed with the agency's electronic seal and anchored on a "
        "ledger: anyone can check that one is genuine.",
        "citizen_h": "I want to check a certificate",
        "citizen_p": "Scan the QR code on your certificate with your phone: it opens the "
        "answer. Nothing to install.",
        "counter_h": "Counter desk",
        "counter_p": "For counter staff: upload the certificate's PDF or scan its QR code, and "
        "get the full report and a printable receipt.",
        "counter_a": "Open the counter desk",
        "agency_h": "Issuing agencies",
        "agency_p": "Issue certificates (one or a batch), find your agency's certificates, "
        "revoke, suspend or reinstate them.",
        "agency_a": "Open the agency console",
        "api_h": "Developers",
        "api_p": "The HTTP API (OpenAPI), served by this service itself, offline too.",
        "api_a": "Open the API docs",
        "other": "中文",
        "footer": "This page collects and shows no personal data.",
    },
}

_CSS = (
    "*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,"
    '"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;font-size:18px;'
    "line-height:1.5;color:#1b1b1b;background:#f4f5f7}"
    "header,main,footer{max-width:48rem;margin:0 auto;padding:0 1rem}"
    "header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;"
    "gap:.5rem;padding-top:1rem}header p{margin:0;font-weight:700;font-size:1.1em}"
    "h1{font-size:1.6em;margin:.6rem 0 .3rem}.lead{margin:0 0 1rem}"
    "ul{list-style:none;padding:0;margin:0;display:grid;gap:1rem}"
    "@media (min-width:48rem){ul{grid-template-columns:1fr 1fr}}"
    "li{background:#fff;border-radius:1rem;padding:1rem 1.1rem;border:1px solid #d0d4da}"
    "h2{font-size:1.2em;margin:0 0 .3rem}li p{margin:0 0 .6rem}"
    "li.citizen{border:2px solid #0a7d32}li.citizen p{margin:0}"
    "a{color:#0b57d0;font-weight:600}a.go{display:inline-flex;align-items:center;"
    "min-height:44px;padding:.3rem .9rem;border:2px solid #0b57d0;border-radius:.6rem;"
    "text-decoration:none;background:#fff}a.go:hover{background:#e8f0fe}"
    "header a{display:inline-flex;align-items:center;min-height:44px;padding:0 .4rem}"
    "a:focus-visible{outline:3px solid #1b1b1b;outline-offset:2px}"
    ".qr{font-size:2em;line-height:1;float:right;margin-left:.5rem}"
    "footer{color:#595959;font-size:.85em;padding-top:1.5rem;padding-bottom:1.5rem}"
)
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
# Nothing but the page and its own stylesheet: no script, image, font, frame or form.
START_CSP = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": START_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # The same for everyone, but never kept stale after an upgrade.
    "Cache-Control": "no-cache",
}
# A QR code drawn with text would be read aloud as noise: an inline, hidden-to-AT drawing.
_QR_ICON = (
    '<svg class="qr" aria-hidden="true" focusable="false" width="1em" height="1em" '
    'viewBox="0 0 24 24"><path fill="currentColor" d="M3 3h8v8H3zm2 2v4h4V5zm8-2h8v8h-8zm2 '
    '2v4h4V5zM3 13h8v8H3zm2 2v4h4v-4zm8-2h3v3h-3zm5 0h3v3h-3zm-5 5h3v3h-3zm5 0h3v3h-3z"/>'
    "</svg>"
)


def start_page(lang: str) -> str:
    t = _TEXT[lang]
    other = "en" if lang == "zh" else "zh"
    other_href = "/?lang=en" if other == "en" else "/"
    suffix = "" if lang == "zh" else "?lang=en"

    def card(key: str, href: str) -> str:
        return (
            f'<li><h2 id="{key}-h">{escape(t[f"{key}_h"])}</h2><p>{escape(t[f"{key}_p"])}</p>'
            f'<a class="go" href="{href}" aria-describedby="{key}-h">{escape(t[f"{key}_a"])}</a>'
            "</li>"
        )

    html_lang = "zh-CN" if lang == "zh" else "en"
    other_lang = "zh-CN" if other == "zh" else "en"
    return (
        f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(t['title'])}</title><style>{_CSS}</style></head><body>"
        f'<header><p>CertLedger</p><a href="{other_href}" lang="{other_lang}" '
        f'hreflang="{other_lang}">{escape(t["other"])}</a></header>'
        f'<main><h1>{escape(t["h1"])}</h1><p class="lead">{escape(t["lead"])}</p><ul>'
        f'<li class="citizen">{_QR_ICON}<h2>{escape(t["citizen_h"])}</h2>'
        f"<p>{escape(t['citizen_p'])}</p></li>"
        + card("counter", f"/counter{suffix}")
        + card("agency", f"/agency{suffix}")
        + card("api", "/docs")
        + f"</ul></main><footer><p>{escape(t['footer'])}</p></footer></body></html>"
    )


def start_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def start(lang: Annotated[str, Query(max_length=8)] = "zh") -> HTMLResponse:
        # Any other value is the default language, not an error page.
        return HTMLResponse(start_page(lang if lang in _TEXT else "zh"), headers=_HEADERS)

    return router
