"""The page a citizen's phone opens from the QR code: a plain answer, in their language.

Self-contained (no external fonts, scripts or images) so it loads on a weak connection and leaks
no visit to third parties. Every value is HTML-escaped. For elderly people: large text and high
contrast (each a choice the route remembers), and the verdict read aloud, by the browser's
own voice where it has one for the page's language, otherwise from a WAV the server makes
(``/v/{id}/audio``). With JavaScript off the verdict is all there, and the audio is a plain
link. The one inline script is allowed by its hash in the page's Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import urlencode

from certificates import DESK_TZ, Verdict, VerificationReport
from certificates.verification.report import CheckStatus

__all__ = [
    "PAGE_CSP",
    "PageFacts",
    "beijing_time",
    "not_found_page",
    "spoken_text",
    "verification_page",
]

_TEXT = {
    "zh": {
        "title": "电子证照核验",
        Verdict.VALID: "证照有效",
        Verdict.INVALID: "证照无效",
        Verdict.INDETERMINATE: "暂时无法确认",
        "valid_hint": "此证照由发证机构签发，内容未被篡改，且仍在有效期内。",
        "invalid_hint": "请勿采信此证照。",
        "indeterminate_hint": "系统暂时无法确认此证照，请稍后再试或咨询发证机构。",
        "type": "证照类型",
        "subject": "持证主体",
        "issuer": "发证机构",
        "id": "证照编号",
        "issued": "签发日期",
        "until": "有效期至",
        "long_term": "长期",
        "no_end": "未设截止日期",
        "PASSED": "通过",
        "FAILED": "未通过",
        "INDETERMINATE": "无法确定",
        "tz": "北京时间",
        "status": "状态",
        "details": "核验明细",
        "large": "大字版",
        "normal": "标准字号",
        "not_found": "未找到该证照，或核验链接不完整。请重新扫描证照上的二维码。",
        "checked": "核验时间",
        "status_active": "正常",
        "status_revoked": "已撤销",
        "status_suspended": "已暂停",
        "listen": "朗读结果",
        "listen_file": "收听语音",
        "contrast_high": "高对比度",
        "contrast_normal": "标准对比度",
        "said_valid_until": "有效期至",
        "said_status": "当前状态",
    },
    "en": {
        "title": "Certificate verification",
        Verdict.VALID: "Certificate is valid",
        Verdict.INVALID: "Certificate is NOT valid",
        Verdict.INDETERMINATE: "Cannot be confirmed right now",
        "valid_hint": "Issued by the agency shown, unaltered, and still in force.",
        "invalid_hint": "Do not rely on this certificate.",
        "indeterminate_hint": "We cannot confirm this certificate at the moment. "
        "Please try again later or ask the issuing agency.",
        "type": "Type",
        "subject": "Holder",
        "issuer": "Issued by",
        "id": "Certificate no.",
        "issued": "Issued on",
        "until": "Valid until",
        "long_term": "No expiry",
        "no_end": "No end date",
        "PASSED": "Passed",
        "FAILED": "Failed",
        "INDETERMINATE": "Undecided",
        "tz": "Beijing time (UTC+8)",
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
        "listen": "Read aloud",
        "listen_file": "Listen (audio)",
        "contrast_high": "High contrast",
        "contrast_normal": "Normal contrast",
        "said_valid_until": "Valid until",
        "said_status": "Status",
    },
}

_STYLE = {
    Verdict.VALID: ("#0a7d32", "✔", "valid"),
    Verdict.INVALID: ("#b3001b", "✖", "invalid"),
    Verdict.INDETERMINATE: ("#9a6700", "?", "indeterminate"),
}

# The certificate number never wraps (its parts are read out and typed as one): on a narrow
# screen in large text it shrinks with the screen's width instead, never below normal text
# on a 360-pixel phone.
_CSS = """
*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,"PingFang SC",
"Noto Sans CJK SC","Microsoft YaHei",sans-serif;font-size:var(--fs);line-height:1.5;color:#1b1b1b;
background:#f4f5f7}main{max-width:40rem;margin:0 auto;padding:1rem}
.verdict{border-radius:1rem;color:#fff;padding:1.25rem;text-align:center;margin:0 0 1rem}
.verdict .icon{font-size:3.5em;line-height:1;display:block}.verdict h1{margin:.3em 0 .2em;
font-size:1.6em}.verdict p{margin:0}
dl{background:#fff;border-radius:1rem;padding:1rem;margin:0 0 1rem}
dt{color:#555;font-size:.85em}dd{margin:0 0 .6rem;font-weight:600;overflow-wrap:break-word}
details{background:#fff;border-radius:1rem;padding:1rem}summary{cursor:pointer;font-weight:600}
.verdict .reason{margin:.6em 0 0;font-weight:600;font-size:1.05em}
ul.checks{list-style:none;padding:0;margin:.5rem 0 0}ul.checks li{display:flex;gap:.5em;
margin:0 0 .6rem;align-items:baseline}ul.checks .mark{font-weight:700;white-space:nowrap;
min-width:5.5em}li.FAILED{color:#b3001b}li.INDETERMINATE{color:#7a5200}li.PASSED{color:#0a7d32}
.not-valid li.PASSED{color:#3d3d3d}.id{white-space:nowrap;font-size:min(1em,4.9vw)}
nav{display:flex;gap:1rem;justify-content:flex-end;margin:0 0 .75rem}
nav a{color:#0b57d0}footer{color:#595959;font-size:.8em;margin-top:1rem;text-align:center}
nav{flex-wrap:wrap}nav a,button.speak{min-height:44px;display:inline-flex;align-items:center}
button.speak,a.speak{font:inherit;font-weight:600;border:2px solid #0b57d0;border-radius:.6rem;
background:#fff;color:#0b57d0;padding:.3rem .8rem;cursor:pointer;margin:0 0 1rem}
a:focus-visible,button:focus-visible,summary:focus-visible{outline:3px solid #1b1b1b;
outline-offset:2px}
.hc{background:#000;color:#fff}.hc dl,.hc details{background:#000;border:2px solid #fff}
.hc dt{color:#fff}.hc nav a,.hc footer{color:#ffeb3b}.hc button.speak,.hc a.speak{background:#000;
color:#ffeb3b;border-color:#ffeb3b}.hc li.FAILED,.hc li.INDETERMINATE,.hc li.PASSED{color:#fff}
[hidden]{display:none!important}.hc .verdict{border:3px solid #fff}
.hc a:focus-visible,.hc button:focus-visible{outline-color:#fff}
"""

# The read-aloud button: the browser's voice for the page's language if it has one, else the
# server's WAV. Hidden until this script runs, so without JavaScript only the audio link shows.
_SCRIPT = (
    "(function(){var b=document.getElementById('speak');if(!b)return;"
    "var l=document.getElementById('listen');b.hidden=false;if(l)l.hidden=true;"
    "var want=document.documentElement.lang.slice(0,2);"
    "b.addEventListener('click',function(){"
    "var text=document.getElementById('spoken').textContent;var s=window.speechSynthesis;"
    "var v=s?s.getVoices().filter(function(x){return (x.lang||'').toLowerCase()"
    ".indexOf(want)===0;})[0]:null;"
    "if(v){s.cancel();var u=new SpeechSynthesisUtterance(text);u.voice=v;u.lang=v.lang;"
    "u.rate=0.85;s.speak(u);b.setAttribute('data-spoke','voice');}"
    "else{var a=new Audio(b.getAttribute('data-audio'));a.play();"
    "b.setAttribute('data-spoke','audio');}});})();"
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
# No source but the page itself: inline style, the one script above by its hash, the audio
# from this origin; no frames, no forms posting elsewhere.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{_SCRIPT_HASH}'; media-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


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


def _link(cert_id: str, token: str, lang: str, large: bool, contrast: bool, path: str = "") -> str:
    # Both choices are always spelled out, so a link also resets a remembered one.
    query = {
        "t": token,
        "lang": lang,
        "size": "large" if large else "normal",
        "contrast": "high" if contrast else "normal",
    }
    return f"/v/{escape(cert_id)}{path}?{escape(urlencode(query))}"


_HC = ' class="hc"'
# A loudspeaker drawn inline: an emoji needs a colour-emoji font that many desktops lack.
_SPEAKER = (
    '<svg aria-hidden="true" focusable="false" width="1.2em" height="1.2em" viewBox="0 0 24 24" '
    'style="margin-right:.35em"><path d="M3 9h4l5-4v14l-5-4H3z" fill="currentColor"/>'
    '<path d="M15 9a4 4 0 0 1 0 6M17.5 6.5a7.5 7.5 0 0 1 0 11" fill="none" '
    'stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg>'
)


def _frame(lang: str, large: bool, title: str, body: str, *, contrast: bool = False) -> str:
    fs = "22px" if large else "17px"
    return (
        f'<!doctype html><html lang="{_html_lang(lang)}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>:root{{--fs:{fs}}}{_CSS}</style></head>"
        f"<body{_HC if contrast else ''}><main>{body}</main>"
        f"<script>{_SCRIPT}</script></body></html>"
    )


def spoken_text(report: VerificationReport, facts: PageFacts, *, lang: str) -> str:
    """What the read-aloud button says: the verdict, its reason and the key facts."""
    t = _TEXT[lang]
    sep = "。" if lang == "zh" else ". "
    parts = [
        t[report.verdict],
        _banner_line(report, lang).rstrip("。."),
        facts.type_name,
        f"{t['subject']} {facts.subject}",
        f"{t['issuer']} {facts.issuer}",
        f"{t['said_valid_until']} {_until(report, facts, lang)}",
        f"{t['said_status']} {t.get(f'status_{facts.status}', facts.status)}",
    ]
    return sep.join(parts) + sep.strip()


def _banner_line(report: VerificationReport, lang: str) -> str:
    """The banner's sentence under the verdict: for a certificate that does not verify, the
    one-line reason itself (the first failing check, e.g. revoked and why), not a pointer to
    lines further down that a phone shows only after scrolling."""
    t = _TEXT[lang]
    if report.verdict is Verdict.VALID:
        return t["valid_hint"]
    reason = report.reason
    text = reason.zh if lang == "zh" else reason.en
    hint = t["invalid_hint"] if report.verdict is Verdict.INVALID else t["indeterminate_hint"]
    return f"{hint}{'' if lang == 'zh' else ' '}{text}"


def _until(report: VerificationReport, facts: PageFacts, lang: str) -> str:
    if facts.valid_until:
        return facts.valid_until
    # "长期" (long-term) reads as reassurance; under a verdict that is not VALID it is only
    # said that there is no end date.
    return _TEXT[lang]["long_term" if report.verdict is Verdict.VALID else "no_end"]


def beijing_time(at: datetime, lang: str) -> str:
    """A moment as people here read it: Beijing time, the deployment's zone, named."""
    return f"{at.astimezone(DESK_TZ).strftime('%Y-%m-%d %H:%M')} {_TEXT[lang]['tz']}"


_MARK = {CheckStatus.PASSED: "✔", CheckStatus.FAILED: "✖", CheckStatus.INDETERMINATE: "?"}
_ORDER = {CheckStatus.FAILED: 0, CheckStatus.INDETERMINATE: 1, CheckStatus.PASSED: 2}


def _check_items(report: VerificationReport, lang: str) -> str:
    """Each check with an icon and a word (never colour alone), the failing ones first."""
    t = _TEXT[lang]
    zh = lang == "zh"
    checks = sorted(report.checks, key=lambda c: _ORDER[c.status])
    return "".join(
        f'<li class="{c.status.value}" data-code="{c.code.value}"><span class="mark">'
        f'<span aria-hidden="true">{_MARK[c.status]}</span> {escape(t[c.status.value])}'
        f"</span><span>{escape(c.message.zh if zh else c.message.en)}</span></li>"
        for c in checks
    )


def verification_page(
    report: VerificationReport,
    facts: PageFacts,
    *,
    lang: str,
    large: bool,
    contrast: bool = False,
) -> str:
    t = _TEXT[lang]
    verdict = report.verdict
    colour, icon, cls = _STYLE[verdict]
    other = "en" if lang == "zh" else "zh"
    cid, tok = facts.cert_id, facts.token
    nav = (
        f'<nav><a href="{_link(cid, tok, other, large, contrast)}" lang="{_html_lang(other)}">'
        f"{'English' if other == 'en' else '中文'}</a>"
        f'<a href="{_link(cid, tok, lang, not large, contrast)}">'
        f"{t['normal'] if large else t['large']}</a>"
        f'<a href="{_link(cid, tok, lang, large, not contrast)}">'
        f"{t['contrast_normal'] if contrast else t['contrast_high']}</a></nav>"
    )
    audio = _link(cid, tok, lang, large, contrast, "/audio")
    listen = (
        f'<button type="button" class="speak" id="speak" hidden data-audio="{audio}">'
        f"{_SPEAKER}{escape(t['listen'])}</button>"
        f'<a class="speak" id="listen" href="{audio}">'
        f"{_SPEAKER}{escape(t['listen_file'])}</a>"
        f'<p id="spoken" hidden>{escape(spoken_text(report, facts, lang=lang))}</p>'
    )
    status_word = t.get(f"status_{facts.status}", facts.status)
    rows = [
        (t["type"], facts.type_name, ""),
        (t["subject"], facts.subject, ""),
        (t["issuer"], facts.issuer, ""),
        (t["id"], facts.cert_id, "id"),
        (t["issued"], facts.issued_on, ""),
        (t["until"], _until(report, facts, lang), ""),
        (t["status"], status_word, ""),
    ]
    dl = "".join(
        f"<dt>{escape(k)}</dt><dd" + (f' class="{c}"' if c else "") + f">{escape(v)}</dd>"
        for k, v, c in rows
    )
    if verdict is Verdict.VALID:
        said = f"<p>{escape(t['valid_hint'])}</p>"
    else:
        hint = t["invalid_hint"] if verdict is Verdict.INVALID else t["indeterminate_hint"]
        reason = report.reason
        # The reason itself, unlabelled: it is a sentence ("证照已被撤销，原因：…"), and a
        # "原因：" before it would say "reason" twice.
        said = (
            f'<p>{escape(hint)}</p><p class="reason" id="reason">'
            f"{escape(reason.zh if lang == 'zh' else reason.en)}</p>"
        )
    body = (
        nav + f'<section class="verdict {cls}" style="background:{colour}" role="status" '
        f'data-verdict="{verdict.value}"><span class="icon" aria-hidden="true">{icon}</span>'
        f"<h1>{escape(t[verdict])}</h1>{said}</section>"
        f"{listen}<dl>{dl}</dl>"
        f'<details class="{"valid" if verdict is Verdict.VALID else "not-valid"}"'
        f"{' open' if verdict is not Verdict.VALID else ''}>"
        f'<summary>{escape(t["details"])}</summary><ul class="checks">'
        f"{_check_items(report, lang)}</ul></details>"
        f"<footer>{escape(t['checked'])}: {escape(beijing_time(report.checked_at, lang))}"
        "</footer>"
    )
    return _frame(lang, large, t["title"], body, contrast=contrast)


def _html_lang(lang: str) -> str:
    return "zh-CN" if lang == "zh" else "en"


def not_found_page(*, lang: str, large: bool, contrast: bool = False) -> str:
    t = _TEXT[lang]
    colour, icon, _ = _STYLE[Verdict.INDETERMINATE]
    body = (
        f'<section class="verdict" style="background:{colour}" role="status">'
        f'<span class="icon" aria-hidden="true">{icon}</span><h1>{escape(t["title"])}</h1>'
        f"<p>{escape(t['not_found'])}</p></section>"
    )
    return _frame(lang, large, t["title"], body, contrast=contrast)
