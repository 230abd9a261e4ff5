"""The counter desk's pages, rendered from the desk service's values (``certificates``'s
:class:`DeskResult`, :class:`DeskRecord`): markup and words only, no rule.

Every value is HTML-escaped. No inline script and no ``style`` attribute anywhere, so the
pages run under a strict Content-Security-Policy (``script-src 'self'``, ``style-src
'self'``); behaviour comes from ``counter.js``, looks from ``counter.css`` (screen) and its
``@media print`` part (the receipt).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from urllib.parse import urlencode

import segno

from certificates import DESK_TZ, DeskRecord, DeskResult, Verdict
from certificates.types import format_date_en, format_date_zh
from certificates.verification.report import Check, CheckStatus, Message

__all__ = [
    "Assets",
    "Clerk",
    "desk_page",
    "message_page",
    "record_page",
    "result_page",
    "sign_in_page",
]

_T: dict[str, dict[str, str]] = {
    "zh": {
        "product": "电子证照柜台核验",
        "colon": "：",
        "skip": "跳到主要内容",
        "sign_in": "登录",
        "sign_in_title": "柜台核验 · 登录",
        "sign_in_lead": "请使用本窗口的核验客户端凭证登录（由管理员以 verifier 角色创建）。",
        "token": "客户端令牌",
        "token_hint": "以 clt_ 开头的令牌；不会被保存或显示。",
        "use_certificate": "使用本机客户端证书登录",
        "certificate_seen": "已检测到客户端证书。",
        "sign_out": "退出登录",
        "clerk": "核验人员",
        "desk_title": "柜台核验",
        "upload_title": "上传 PDF 文件",
        "upload_drop": "将证照 PDF 文件拖到此处，或",
        "upload_pick": "选择 PDF 文件",
        "upload_go": "核验文件",
        "scan_title": "扫描纸质证照上的二维码",
        "scan_field": "核验链接（扫码枪扫描后自动提交）",
        "scan_hint": "扫码枪：点击此输入框后扫描二维码；也可粘贴链接后按回车。",
        "scan_go": "核验链接",
        "next_scan": "下一份：扫码枪扫描或粘贴核验链接",
        "camera_go": "用摄像头扫码",
        "camera_stop": "停止摄像头",
        "camera_on": "请将证照上的二维码对准摄像头。",
        "camera_found": "已识别二维码，正在核验……",
        "camera_none": "无法打开摄像头：请允许使用摄像头，或改用扫码枪/上传文件。",
        "camera_nodecoder": "此浏览器无法识别二维码，请改用扫码枪或上传文件。",
        "today_title": "今天我核验的证照",
        "today_none": "今天还没有核验记录。",
        "time": "时间",
        "record": "审计记录号",
        "cert_id": "证照编号",
        "verdict": "结论",
        "how": "方式",
        "counter-upload": "上传文件",
        "counter-scan": "扫码",
        "result_title": "核验结果",
        "reason": "主要原因",
        "checks": "核验明细（未通过的排在前面）",
        "facts": "证照信息",
        "released": "共享协议允许查看的信息",
        "ledger": "账本登记回执",
        "backend": "账本",
        "block": "区块",
        "tx": "交易编号",
        "anchored": "登记时间",
        "type": "证照类型",
        "subject": "持证主体",
        "issuer": "发证机构",
        "issued": "签发日期",
        "until": "有效期至",
        "long_term": "长期",
        "status": "登记状态",
        "facts_note": "以下是本系统登记的该编号证照的信息，可与所出示的文件对照；"
        "它们不能证明该文件是真的。",
        "receipt": "核验回执",
        "print": "打印回执",
        "again": "继续核验",
        "receipt_qr": "扫描此码查看本次核验的审计记录",
        "checked_at": "核验时间",
        "record_title": "核验审计记录",
        "hash": "记录哈希（审计链）",
        "record_lead": "这是柜台核验写入防篡改审计日志的记录。",
        "other_lang": "English",
        "no_cert": "文件中没有可识别的证照。",
        "PASSED": "通过",
        "FAILED": "未通过",
        "INDETERMINATE": "无法确定",
        "VALID": "证照有效",
        "INVALID": "证照无效",
        "INDETERMINATE_v": "暂时无法确认",
        "not-found": "未找到",
        "valid_hint": "由发证机构签发，签章后未被改动，账本登记一致，仍在有效期内。",
        "invalid_hint": "请勿采信此证照。",
        "indeterminate_hint": "暂时无法确认，请稍后再试或联系发证机构。",
        "tz": "北京时间（UTC+8）",
        "status_active": "正常",
        "status_revoked": "已撤销",
        "status_suspended": "已暂停",
        "status_pending": "登记中",
        "error_title": "无法完成操作",
        "back": "返回柜台",
    },
    "en": {
        "product": "Certificate counter desk",
        "colon": ": ",
        "skip": "Skip to main content",
        "sign_in": "Sign in",
        "sign_in_title": "Counter desk · Sign in",
        "sign_in_lead": "Sign in with this counter's verifier client credential (made by an "
        "administrator with the verifier role).",
        "token": "Client token",
        "token_hint": "The token starting with clt_; it is neither stored nor shown.",
        "use_certificate": "Sign in with this device's client certificate",
        "certificate_seen": "A client certificate was presented.",
        "sign_out": "Sign out",
        "clerk": "Clerk",
        "desk_title": "Counter desk",
        "upload_title": "Upload a PDF",
        "upload_drop": "Drop the certificate PDF here, or",
        "upload_pick": "Choose a PDF file",
        "upload_go": "Verify file",
        "scan_title": "Scan the QR code on paper",
        "scan_field": "Verification link (a hardware scanner submits it by itself)",
        "scan_hint": "Hardware scanner: click into this field, then scan. Or paste the link "
        "and press Enter.",
        "scan_go": "Verify link",
        "next_scan": "Next one: scan, or paste a verification link",
        "camera_go": "Scan with the camera",
        "camera_stop": "Stop the camera",
        "camera_on": "Hold the certificate's QR code in front of the camera.",
        "camera_found": "QR code read; verifying…",
        "camera_none": "The camera cannot be opened: allow camera access, or use a scanner "
        "or upload the file.",
        "camera_nodecoder": "This browser cannot read QR codes; use a scanner or upload the file.",
        "today_title": "My verifications today",
        "today_none": "No verifications yet today.",
        "time": "Time",
        "record": "Audit record no.",
        "cert_id": "Certificate no.",
        "verdict": "Verdict",
        "how": "How",
        "counter-upload": "upload",
        "counter-scan": "scan",
        "result_title": "Verification result",
        "reason": "Main reason",
        "checks": "What was checked (failures first)",
        "facts": "The certificate",
        "released": "Released under the sharing agreements",
        "ledger": "Ledger receipt",
        "backend": "Ledger",
        "block": "Block",
        "tx": "Transaction",
        "anchored": "Anchored at",
        "type": "Type",
        "subject": "Holder",
        "issuer": "Issued by",
        "issued": "Issued on",
        "until": "Valid until",
        "long_term": "No expiry",
        "status": "Registered status",
        "facts_note": "What this service has registered under this number, to compare with the "
        "document shown; it does not make the document genuine.",
        "receipt": "Verification receipt",
        "print": "Print receipt",
        "again": "Verify another",
        "receipt_qr": "Scan to open this verification's audit record",
        "checked_at": "Verified at",
        "record_title": "Verification audit record",
        "hash": "Entry hash (audit chain)",
        "record_lead": "The record this counter verification wrote to the tamper-evident "
        "audit log.",
        "other_lang": "中文",
        "no_cert": "The file carries no certificate this service recognises.",
        "PASSED": "Passed",
        "FAILED": "Failed",
        "INDETERMINATE": "Undecided",
        "VALID": "Certificate is valid",
        "INVALID": "Certificate is NOT valid",
        "INDETERMINATE_v": "Cannot be confirmed now",
        "not-found": "Not found",
        "valid_hint": "Issued by the agency shown, unaltered since sealing, matching the "
        "ledger, and in force.",
        "invalid_hint": "Do not rely on this certificate.",
        "indeterminate_hint": "Cannot be confirmed now; try again later or ask the issuer.",
        "tz": "Beijing time (UTC+8)",
        "status_active": "In force",
        "status_revoked": "Revoked",
        "status_suspended": "Suspended",
        "status_pending": "Being anchored",
        "error_title": "This could not be done",
        "back": "Back to the desk",
    },
}

_ICON = {"PASSED": "✔", "FAILED": "✖", "INDETERMINATE": "?"}
_VERDICT_CLASS = {"VALID": "valid", "INVALID": "invalid", "INDETERMINATE": "indeterminate"}
_ORDER = {CheckStatus.FAILED: 0, CheckStatus.INDETERMINATE: 1, CheckStatus.PASSED: 2}


@dataclass(frozen=True)
class Assets:
    """The static files' URLs, with their content hashes (cache-busting)."""

    css: str
    js: str
    qr: str  # the QR decoder (jsQR), or "" when it is not installed


@dataclass(frozen=True)
class Clerk:
    name: str
    client_id: str
    csrf: str


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _msg(m: Message, lang: str) -> str:
    return m.zh if lang == "zh" else m.en


def local_time(at: datetime | None, lang: str, *, seconds: bool = True) -> str:
    if at is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{at.astimezone(DESK_TZ).strftime(fmt)} {_T[lang]['tz']}"


def _day(value: date | None, lang: str) -> str:
    """A date as the certificate prints it (2026年12月3日 / 3 December 2026)."""
    if value is None:
        return "—"
    return format_date_zh(value) if lang == "zh" else format_date_en(value)


def _local_date(at: datetime | None, lang: str) -> str:
    return _day(at.astimezone(DESK_TZ).date(), lang) if at else "—"


def _url(path: str, lang: str) -> str:
    return f"{path}?{urlencode({'lang': lang})}" if lang != "zh" else path


def _frame(
    *,
    lang: str,
    title: str,
    body: str,
    assets: Assets,
    clerk: Clerk | None,
    switch_to: str,
    scripts: bool = True,
    decoder: bool = False,
) -> str:
    t = _T[lang]
    other = "en" if lang == "zh" else "zh"
    who = ""
    if clerk is not None:
        who = (
            f'<span class="who">{_e(t["clerk"])}{t["colon"]}'
            f"<strong>{_e(clerk.name)}</strong></span>"
            f'<form method="post" action="/counter/sign-out" class="inline">'
            f'<input type="hidden" name="csrf" value="{_e(clerk.csrf)}">'
            f'<input type="hidden" name="lang" value="{_e(lang)}">'
            f'<button type="submit" class="link">{_e(t["sign_out"])}</button></form>'
        )
    script = ""
    if scripts:
        # The QR decoder (250 kB) only where the camera is: the desk page.
        qr = f'<script src="{_e(assets.qr)}" defer></script>' if assets.qr and decoder else ""
        script = f'{qr}<script src="{_e(assets.js)}" defer></script>'
    return (
        f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{_e(title)} · {_e(t['product'])}</title>"
        f'<link rel="stylesheet" href="{_e(assets.css)}">{script}</head>'
        f'<body><a class="skip" href="#main">{_e(t["skip"])}</a>'
        f'<header class="bar"><a class="brand" href="{_e(_url("/counter", lang))}">'
        f"{_e(t['product'])}</a>"
        f'<nav class="tools" aria-label="{_e(t["product"])}">'
        f'<a href="{_e(switch_to)}" lang="{"en" if other == "en" else "zh-CN"}" '
        f'hreflang="{"en" if other == "en" else "zh-CN"}">{_e(t["other_lang"])}</a>{who}</nav>'
        f'</header><main id="main" tabindex="-1">{body}</main></body></html>'
    )


def _alert(messages: Sequence[Message], lang: str) -> str:
    """An error in the page's language first, then the other (staff may read either)."""
    if not messages:
        return ""
    other = "en" if lang == "zh" else "zh"
    items = "".join(
        f'<p>{_e(_msg(m, lang))}</p><p class="second" lang="{"en" if other == "en" else "zh-CN"}">'
        f"{_e(_msg(m, other))}</p>"
        for m in messages
    )
    return f'<div class="alert" role="alert" id="error">{items}</div>'


def sign_in_page(
    *,
    lang: str,
    csrf: str,
    assets: Assets,
    error: Message | None = None,
    certificate: bool = False,
) -> str:
    t = _T[lang]
    cert_form = ""
    if certificate:
        cert_form = (
            f'<form method="post" action="/counter/sign-in" class="card">'
            f"<p>{_e(t['certificate_seen'])}</p>"
            f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
            f'<input type="hidden" name="lang" value="{_e(lang)}">'
            '<input type="hidden" name="method" value="certificate">'
            f'<button type="submit" class="primary">{_e(t["use_certificate"])}</button></form>'
        )
    described = "token-hint error" if error else "token-hint"
    invalid = ' aria-invalid="true"' if error else ""
    body = (
        f'<h1>{_e(t["sign_in_title"])}</h1><p class="lead">{_e(t["sign_in_lead"])}</p>'
        + _alert([error] if error else [], lang)
        + cert_form
        + f'<form method="post" action="/counter/sign-in" class="card" id="sign-in">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
        f'<input type="hidden" name="lang" value="{_e(lang)}">'
        '<input type="hidden" name="method" value="token">'
        f'<label for="token">{_e(t["token"])}</label>'
        f'<input id="token" name="token" type="password" autocomplete="off" required autofocus '
        f'spellcheck="false" aria-describedby="{described}"{invalid}>'
        f'<p class="hint" id="token-hint">{_e(t["token_hint"])}</p>'
        f'<button type="submit" class="primary">{_e(t["sign_in"])}</button></form>'
    )
    return _frame(
        lang=lang,
        title=t["sign_in_title"],
        body=body,
        assets=assets,
        clerk=None,
        switch_to=_url("/counter", "en" if lang == "zh" else "zh"),
        scripts=False,
    )


def _verdict_word(verdict: str, lang: str) -> str:
    t = _T[lang]
    return t["INDETERMINATE_v"] if verdict == "INDETERMINATE" else t.get(verdict, verdict)


def _today_table(records: Sequence[DeskRecord], lang: str) -> str:
    t = _T[lang]
    if not records:
        return f'<p id="today-none">{_e(t["today_none"])}</p>'
    rows = "".join(
        f'<tr class="v-{_e(_VERDICT_CLASS.get(r.verdict, "indeterminate"))}">'
        f'<td data-label="{_e(t["time"])}">{_e(r.at.astimezone(DESK_TZ).strftime("%H:%M:%S"))}'
        f'</td><td data-label="{_e(t["record"])}">'
        f'<a href="{_e(_url(f"/counter/records/{r.seq}", lang))}">{r.seq}</a></td>'
        f'<td class="id" data-label="{_e(t["cert_id"])}">{_e(r.cert_id or "—")}</td>'
        f'<td class="verdict-cell" data-label="{_e(t["verdict"])}">'
        f'<span><span aria-hidden="true">{_ICON.get(_check_of(r.verdict), "?")}</span> '
        f"{_e(_verdict_word(r.verdict, lang))}</span></td>"
        f'<td data-label="{_e(t["how"])}">{_e(t.get(r.source, r.source))}</td></tr>'
        for r in records
    )
    return (
        f'<div class="table-wrap"><table id="today"><caption class="sr-only">'
        f"{_e(t['today_title'])} ({_e(t['tz'])})</caption><thead><tr>"
        f'<th scope="col">{_e(t["time"])}</th><th scope="col">{_e(t["record"])}</th>'
        f'<th scope="col">{_e(t["cert_id"])}</th><th scope="col">{_e(t["verdict"])}</th>'
        f'<th scope="col">{_e(t["how"])}</th></tr></thead><tbody>{rows}</tbody></table></div>'
    )


def _check_of(verdict: str) -> str:
    return {"VALID": "PASSED", "INVALID": "FAILED"}.get(verdict, "INDETERMINATE")


def desk_page(
    *,
    lang: str,
    clerk: Clerk,
    assets: Assets,
    today: Sequence[DeskRecord],
    max_upload_bytes: int,
    too_large: Message,
    error: Sequence[Message] = (),
    link: str = "",
) -> str:
    t = _T[lang]
    hidden = (
        f'<input type="hidden" name="csrf" value="{_e(clerk.csrf)}">'
        f'<input type="hidden" name="lang" value="{_e(lang)}">'
    )
    texts = {
        "data-camera-on": t["camera_on"],
        "data-camera-found": t["camera_found"],
        "data-camera-none": t["camera_none"],
        "data-camera-nodecoder": t["camera_nodecoder"],
        "data-camera-go": t["camera_go"],
        "data-camera-stop": t["camera_stop"],
        "data-too-large": _msg(too_large, lang),
        "data-max-bytes": str(max_upload_bytes),
    }
    data = " ".join(f'{k}="{_e(v)}"' for k, v in texts.items())
    body = (
        f"<h1>{_e(t['desk_title'])}</h1>"
        + _alert(error, lang)
        + f'<div class="desk" id="desk" {data}>'
        # 1. a PDF: dropped or picked
        f'<section class="card" aria-labelledby="upload-title">'
        f'<h2 id="upload-title">{_e(t["upload_title"])}</h2>'
        f'<form method="post" action="/counter/verify" enctype="multipart/form-data" '
        f'id="upload-form">{hidden}'
        # The native file control is kept (focusable, keyboard-operable) but drawn as the
        # label's button: its own words follow the browser's language, not the page's.
        f'<div class="drop" id="drop"><p class="drop-text">{_e(t["upload_drop"])}</p>'
        f'<input id="file" name="file" type="file" accept="application/pdf,.pdf" required '
        f'class="file">'
        f'<label for="file" class="button secondary">{_e(t["upload_pick"])}</label>'
        "</div>"
        f'<p class="status" id="upload-status" role="status" aria-live="polite"></p>'
        f'<button type="submit" class="primary">{_e(t["upload_go"])}</button></form></section>'
        # 2. and 3. a link: from the camera, or typed by a keyboard-wedge scanner
        f'<section class="card" aria-labelledby="scan-title">'
        f'<h2 id="scan-title">{_e(t["scan_title"])}</h2>'
        f'<form method="post" action="/counter/scan" id="scan-form">{hidden}'
        f'<label for="link">{_e(t["scan_field"])}</label>'
        f'<input id="link" name="link" type="text" inputmode="url" autocomplete="off" '
        f'spellcheck="false" required maxlength="2048" value="{_e(link)}" class="scan-field" '
        f'aria-describedby="link-hint">'
        f'<p class="hint" id="link-hint">{_e(t["scan_hint"])}</p>'
        f'<div class="buttons"><button type="submit" class="primary">{_e(t["scan_go"])}</button>'
        f'<button type="button" id="camera" class="secondary" hidden>{_e(t["camera_go"])}'
        "</button></div></form>"
        '<div id="camera-box" class="camera" hidden><video id="video" muted playsinline '
        'aria-hidden="true"></video></div>'
        '<p class="status" id="camera-status" role="status" aria-live="polite"></p></section>'
        "</div>"
        f'<section class="card" aria-labelledby="today-title">'
        f'<h2 id="today-title">{_e(t["today_title"])}</h2>{_today_table(today, lang)}</section>'
    )
    return _frame(
        lang=lang,
        title=t["desk_title"],
        body=body,
        assets=assets,
        clerk=clerk,
        switch_to=_url("/counter", "en" if lang == "zh" else "zh"),
        decoder=True,
    )


def _sorted_checks(checks: Sequence[Check]) -> list[Check]:
    # Stable: within each group the verifier's order (the order the checks were made) stays.
    return sorted(checks, key=lambda c: _ORDER[c.status])


def _status_word(status: str, reason: str | None, lang: str) -> str:
    word = _T[lang].get(f"status_{status}", status)
    if not reason:
        return word
    return f"{word}（{reason}）" if lang == "zh" else f"{word} ({reason})"


def _dl(rows: Sequence[tuple[str, str]], cls: str = "") -> str:
    items = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in rows)
    return f'<dl class="facts {cls}">{items}</dl>'


def _qr_svg(url: str, label: str) -> str:
    svg = segno.make(url, error="m").svg_inline(scale=4, border=2, title=label, omitsize=True)
    return f'<div class="qr" role="img" aria-label="{_e(label)}">{svg}</div>'


def _actions(lang: str, where: str = "") -> str:
    t = _T[lang]
    return (
        f'<div class="buttons no-print {where}"><button type="button" class="primary print" '
        f'hidden>{_e(t["print"])}</button><a class="button secondary" '
        f'href="{_e(_url("/counter", lang))}">{_e(t["again"])}</a></div>'
    )


def _next_scan(lang: str, clerk: Clerk) -> str:
    """The scanner's field on the result page too: at a counter the next certificate is
    scanned while this result is still on the screen."""
    t = _T[lang]
    return (
        f'<form method="post" action="/counter/scan" class="next-scan no-print" id="next-form">'
        f'<input type="hidden" name="csrf" value="{_e(clerk.csrf)}">'
        f'<input type="hidden" name="lang" value="{_e(lang)}">'
        f'<label for="next-link">{_e(t["next_scan"])}</label><div class="row">'
        f'<input id="next-link" name="link" type="text" inputmode="url" autocomplete="off" '
        f'spellcheck="false" required maxlength="2048" class="scan-field">'
        f'<button type="submit" class="secondary">{_e(t["scan_go"])}</button></div></form>'
    )


def result_page(
    *,
    lang: str,
    clerk: Clerk,
    assets: Assets,
    result: DeskResult,
    record_url: str,
) -> str:
    t = _T[lang]
    report, record = result.report, result.record
    verdict = report.verdict
    cls = _VERDICT_CLASS[verdict.value]
    checks = _sorted_checks(report.checks)
    # The report's own one-line reason, as the API and the CLI give it (a VALID banner's
    # hint already says it).
    reason = (
        f'<p class="reason"><strong>{_e(t["reason"])}{t["colon"]}</strong>'
        f"{_e(_msg(report.reason, lang))}</p>"
        if verdict is not Verdict.VALID
        else ""
    )
    banner = (
        f'<section class="verdict {cls}" id="verdict" data-verdict="{verdict.value}" '
        f'aria-labelledby="verdict-word">'
        f'<span class="icon" aria-hidden="true">{_ICON[_check_of(verdict.value)]}</span>'
        f'<div><h1 id="verdict-word">{_e(_verdict_word(verdict.value, lang))}</h1>'
        f"<p>{_e(t[f'{cls}_hint'])}</p>{reason}</div></section>"
    )
    items = "".join(
        f'<li class="check {c.status.value.lower()}" data-code="{_e(c.code.value)}" '
        f'data-status="{_e(c.status.value)}"><span class="badge">'
        f'<span aria-hidden="true">{_ICON[c.status.value]}</span> {_e(t[c.status.value])}'
        f'</span> <span class="text">{_e(_msg(c.message, lang))}</span></li>'
        for c in checks
    )
    checks_html = (
        f'<section class="card" aria-labelledby="checks-title"><h2 id="checks-title">'
        f'{_e(t["checks"])}</h2><ol class="checks" id="checks">{items}</ol></section>'
    )
    cert = report.certificate
    if cert is not None:
        facts = _dl(
            [
                (t["cert_id"], cert.id),
                (t["type"], _msg(cert.type_name, lang)),
                (t["subject"], cert.subject or "—"),
                (t["issuer"], _msg(cert.issuer_name, lang)),
                (t["issued"], _local_date(cert.issued_at, lang)),
                (t["until"], _day(cert.valid_until, lang) if cert.valid_until else t["long_term"]),
                (t["status"], _status_word(cert.status, cert.status_reason, lang)),
            ]
        )
        meaning = report.ledger_status
        if meaning is not None and verdict is not Verdict.VALID:
            # "正常" on the ledger beside a red verdict: say what it does and does not mean.
            facts += f'<p class="note" id="ledger-status">{_e(_msg(meaning, lang))}</p>'
        if verdict is not Verdict.VALID:
            facts = f'<p class="note" id="facts-note">{_e(t["facts_note"])}</p>' + facts
    else:
        facts = f"<p>{_e(t['no_cert'])}</p>"
    released = ""
    if result.released is not None:
        r = result.released
        inner = (
            _dl([(_msg(label, lang), _msg(value, lang)) for label, value in r.fields], "released")
            if r.allowed and r.fields
            else ""
        )
        released = (
            f'<h3 id="released-title">{_e(t["released"])}</h3>'
            f'<p class="basis" data-basis="{_e(r.basis)}">{_e(_msg(r.message, lang))}</p>{inner}'
        )
    facts_html = (
        f'<section class="card" aria-labelledby="facts-title" id="facts">'
        f'<h2 id="facts-title">{_e(t["facts"])}</h2>{facts}{released}</section>'
    )
    ledger = report.ledger
    ledger_html = (
        f'<section class="card" aria-labelledby="ledger-title" id="ledger">'
        f'<h2 id="ledger-title">{_e(t["ledger"])}</h2>'
        + _dl(
            [
                (t["backend"], ledger.backend),
                (t["block"], "—" if ledger.block is None else str(ledger.block)),
                (t["tx"], ledger.tx_id or "—"),
                (t["anchored"], local_time(ledger.anchored_at, lang)),
            ],
            "mono",
        )
        + "</section>"
    )
    receipt = (
        f'<section class="receipt card" id="receipt" aria-labelledby="receipt-title">'
        f'<h2 id="receipt-title">{_e(t["receipt"])}</h2><div class="receipt-body">'
        + _dl(
            [
                (t["checked_at"], local_time(record.at, lang)),
                (t["clerk"], f"{clerk.name} ({record.client_id})"),
                (t["record"], str(record.seq)),
                (t["cert_id"], record.cert_id or "—"),
                (t["verdict"], _verdict_word(verdict.value, lang)),
            ],
            "receipt-facts",
        )
        + f'<figure class="receipt-qr">{_qr_svg(record_url, t["receipt_qr"])}'
        f'<figcaption>{_e(t["receipt_qr"])}<br><span class="url">{_e(record_url)}</span>'
        f"</figcaption></figure></div>"
        f"{_actions(lang)}</section>"
    )
    # The actions twice: under the verdict (no scrolling on a long report) and on the receipt.
    body = (
        banner
        + _actions(lang, "top")
        + _next_scan(lang, clerk)
        + checks_html
        + facts_html
        + ledger_html
        + receipt
    )
    return _frame(
        lang=lang,
        title=t["result_title"],
        body=f'<div class="result">{body}</div>',
        assets=assets,
        clerk=clerk,
        switch_to=_url(f"/counter/records/{record.seq}", "en" if lang == "zh" else "zh"),
    )


def record_page(
    *, lang: str, clerk: Clerk, assets: Assets, record: DeskRecord, clerk_names: Mapping[str, str]
) -> str:
    t = _T[lang]
    name = clerk_names.get(record.client_id, "")
    cls = _VERDICT_CLASS.get(record.verdict, "indeterminate")
    body = (
        f'<h1>{_e(t["record_title"])} {record.seq}</h1><p class="lead">{_e(t["record_lead"])}</p>'
        f'<section class="verdict {cls} small" data-verdict="{_e(record.verdict)}">'
        f'<span class="icon" aria-hidden="true">{_ICON[_check_of(record.verdict)]}</span>'
        f'<div><p class="word">{_e(_verdict_word(record.verdict, lang))}</p></div></section>'
        '<section class="card" id="record">'
        + _dl(
            [
                (t["record"], str(record.seq)),
                (t["checked_at"], local_time(record.at, lang)),
                (t["clerk"], f"{name} ({record.client_id})" if name else record.client_id),
                (t["cert_id"], record.cert_id or "—"),
                (t["verdict"], _verdict_word(record.verdict, lang)),
                (t["how"], t.get(record.source, record.source)),
                (t["hash"], record.hash),
            ],
            "mono-last",
        )
        + f'<div class="buttons"><a class="button secondary" href="{_e(_url("/counter", lang))}">'
        f"{_e(t['back'])}</a></div></section>"
    )
    return _frame(
        lang=lang,
        title=f"{t['record_title']} {record.seq}",
        body=body,
        assets=assets,
        clerk=clerk,
        switch_to=_url(f"/counter/records/{record.seq}", "en" if lang == "zh" else "zh"),
    )


def message_page(
    *, lang: str, assets: Assets, clerk: Clerk | None, messages: Sequence[Message], back: str
) -> str:
    t = _T[lang]
    body = (
        f"<h1>{_e(t['error_title'])}</h1>"
        + _alert(messages, lang)
        + f'<p><a class="button secondary" href="{_e(_url(back, lang))}">{_e(t["back"])}</a></p>'
    )
    return _frame(
        lang=lang,
        title=t["error_title"],
        body=body,
        assets=assets,
        clerk=clerk,
        switch_to=_url(back, "en" if lang == "zh" else "zh"),
    )
