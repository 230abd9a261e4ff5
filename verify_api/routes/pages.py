"""The page a citizen's phone opens from the QR code: a plain answer, in their language.

Self-contained (no external fonts, scripts or images) so it loads on a weak connection and leaks
no visit to third parties. Every value is HTML-escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode

from certificates import Verdict, VerificationReport

__all__ = ["PageFacts", "not_found_page", "verification_page"]

_TEXT = {
    "zh": {
        "title": "电子证照核验",
        Verdict.VALID: "证照有效",
        Verdict.INVALID: "证照无效",
        Verdict.INDETERMINATE: "暂时无法确认",
        "valid_hint": "此证照由发证机构签发，内容未被篡改，且仍在有效期内。",
        "invalid_hint": "请勿采信此证照。原因见下方。",
        "indeterminate_hint": "系统暂时无法确认此证照，请稍后再试或咨询发证机构。",
        "type": "证照类型",
        "subject": "持证主体",
        "issuer": "发证机构",
        "id": "证照编号",
        "issued": "签发日期",
        "until": "有效期至",
        "long_term": "长期",
        "status": "状态",
        "details": "核验明细",
        "large": "大字版",
        "normal": "标准字号",
        "not_found": "未找到该证照，或核验链接不完整。请重新扫描证照上的二维码。",
        "checked": "核验时间",
        "status_active": "正常",
        "status_revoked": "已撤销",
        "status_suspended": "已暂停",
    },
    "en": {
        "title": "Certificate verification",
        Verdict.VALID: "Certificate is valid",
        Verdict.INVALID: "Certificate is NOT valid",
        Verdict.INDETERMINATE: "Cannot be confirmed right now",
        "valid_hint": "Issued by the agency shown, unaltered, and still in force.",
        "invalid_hint": "Do not rely on this certificate. The reasons are listed below.",
        "indeterminate_hint": "We cannot confirm this certificate at the moment. "
        "Please try again later or ask the issuing agency.",
        "type": "Type",
        "subject": "Holder",
        "issuer": "Issued by",
        "id": "Certificate no.",
        "issued": "Issued on",
        "until": "Valid until",
        "long_term": "No expiry",
        "status": "Status",
        "details": "What was checked",
        "large": "Large text",
        "normal": "Normal text",
        "not_found": "No such certificate, or the link is incomplete. "
        "Please scan the QR code on the certificate again.",
        "checked": "Checked at",
        "status_active": "In force",
        "status_revoked": "Revoked",
        "status_suspended": "Suspended",
    },
}

_STYLE = {
    Verdict.VALID: ("#0a7d32", "✔", "valid"),
    Verdict.INVALID: ("#b3001b", "✖", "invalid"),
    Verdict.INDETERMINATE: ("#9a6700", "?", "indeterminate"),
}

_CSS = """
*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,"PingFang SC",
"Noto Sans CJK SC","Microsoft YaHei",sans-serif;font-size:var(--fs);line-height:1.5;color:#1b1b1b;
background:#f4f5f7}main{max-width:40rem;margin:0 auto;padding:1rem}
.verdict{border-radius:1rem;color:#fff;padding:1.25rem;text-align:center;margin:0 0 1rem}
.verdict .icon{font-size:3.5em;line-height:1;display:block}.verdict h1{margin:.3em 0 .2em;
font-size:1.6em}.verdict p{margin:0}
dl{background:#fff;border-radius:1rem;padding:1rem;margin:0 0 1rem}
dt{color:#555;font-size:.85em}dd{margin:0 0 .6rem;font-weight:600;word-break:break-all}
details{background:#fff;border-radius:1rem;padding:1rem}summary{cursor:pointer;font-weight:600}
ul{padding-left:1.2rem}li.FAILED{color:#b3001b}li.INDETERMINATE{color:#9a6700}
li.PASSED{color:#0a7d32}nav{display:flex;gap:1rem;justify-content:flex-end;margin:0 0 .75rem}
nav a{color:#0b57d0}footer{color:#666;font-size:.8em;margin-top:1rem;text-align:center}
"""


@dataclass(frozen=True)
class PageFacts:
    cert_id: str
    token: str
    type_name: str
    subject: str
    issuer: str
    issued_on: str
    valid_until: str | None
    status: str


def _link(cert_id: str, token: str, lang: str, large: bool) -> str:
    query = {"t": token, "lang": lang}
    if large:
        query["size"] = "large"
    return f"/v/{escape(cert_id)}?{escape(urlencode(query))}"


def _frame(lang: str, large: bool, title: str, body: str) -> str:
    fs = "22px" if large else "17px"
    return (
        f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>:root{{--fs:{fs}}}{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def verification_page(
    report: VerificationReport, facts: PageFacts, *, lang: str, large: bool
) -> str:
    t = _TEXT[lang]
    verdict = report.verdict
    colour, icon, cls = _STYLE[verdict]
    hint = t[f"{cls}_hint"]
    other = "en" if lang == "zh" else "zh"
    nav = (
        f'<nav><a href="{_link(facts.cert_id, facts.token, other, large)}">'
        f"{'English' if other == 'en' else '中文'}</a>"
        f'<a href="{_link(facts.cert_id, facts.token, lang, not large)}">'
        f"{t['normal'] if large else t['large']}</a></nav>"
    )
    status_word = t.get(f"status_{facts.status}", facts.status)
    rows = [
        (t["type"], facts.type_name),
        (t["subject"], facts.subject),
        (t["issuer"], facts.issuer),
        (t["id"], facts.cert_id),
        (t["issued"], facts.issued_on),
        (t["until"], facts.valid_until or t["long_term"]),
        (t["status"], status_word),
    ]
    zh = lang == "zh"
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    items = "".join(
        f'<li class="{c.status.value}">{escape(c.message.zh if zh else c.message.en)}</li>'
        for c in report.checks
    )
    when = report.checked_at.strftime("%Y-%m-%d %H:%M UTC")
    body = (
        nav + f'<section class="verdict {cls}" style="background:{colour}" role="status" '
        f'data-verdict="{verdict.value}"><span class="icon" aria-hidden="true">{icon}</span>'
        f"<h1>{escape(t[verdict])}</h1><p>{escape(hint)}</p></section>"
        f"<dl>{dl}</dl>"
        f"<details{' open' if verdict is not Verdict.VALID else ''}>"
        f"<summary>{escape(t['details'])}</summary><ul>{items}</ul></details>"
        f"<footer>{escape(t['checked'])}: {escape(when)}</footer>"
    )
    return _frame(lang, large, t["title"], body)


def not_found_page(*, lang: str, large: bool) -> str:
    t = _TEXT[lang]
    colour, icon, _ = _STYLE[Verdict.INDETERMINATE]
    body = (
        f'<section class="verdict" style="background:{colour}" role="status">'
        f'<span class="icon" aria-hidden="true">{icon}</span><h1>{escape(t["title"])}</h1>'
        f"<p>{escape(t['not_found'])}</p></section>"
    )
    return _frame(lang, large, t["title"], body)
