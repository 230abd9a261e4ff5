"""What `certledger verify` and `certledger status` print for a person, in Chinese (the
default, as on the pages) or English: the verdict first, then its one-line reason, then the
rest. Times are Beijing time, the deployment's zone, and say so. ``--json`` is for machines
and prints the same facts unchanged."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from certificates import DESK_TZ, VerificationReport
from certificates.verification.report import CheckStatus, Message

__all__ = ["LANGS", "confirm_revoke_text", "report_lines", "status_lines", "when"]

LANGS = ("zh", "en")

_T: dict[str, dict[str, str]] = {
    "zh": {
        "VALID": "证照有效",
        "INVALID": "证照无效",
        "INDETERMINATE": "暂时无法确认",
        "reason": "原因",
        "certificate": "证照",
        "issued_by": "发证机构",
        "checks": "检查项",
        "PASSED": "通过",
        "FAILED": "未通过",
        "INDETERMINATE_c": "无法确定",
        "tz": "北京时间",
        "status": "状态",
        "type": "类型",
        "valid_until": "有效期至",
        "no_end": "未设截止日期",
        "ledger": "账本登记",
        "block": "区块",
        "tx": "交易",
        "anchored_at": "登记时间",
        "not_anchored": "尚未登记到账本",
        "history": "历史",
        "active": "正常",
        "revoked": "已撤销",
        "suspended": "已暂停",
        "pending": "正在登记到账本",
        "colon": "：",
    },
    "en": {
        "VALID": "Certificate is valid",
        "INVALID": "Certificate is NOT valid",
        "INDETERMINATE": "Cannot be confirmed right now",
        "reason": "Reason",
        "certificate": "Certificate",
        "issued_by": "issued by",
        "checks": "Checks",
        "PASSED": "passed",
        "FAILED": "failed",
        "INDETERMINATE_c": "undecided",
        "tz": "Beijing time (UTC+8)",
        "status": "Status",
        "type": "Type",
        "valid_until": "Valid until",
        "no_end": "no end date",
        "ledger": "On the ledger",
        "block": "block",
        "tx": "transaction",
        "anchored_at": "anchored at",
        "not_anchored": "not yet anchored on the ledger",
        "history": "History",
        "active": "active",
        "revoked": "revoked",
        "suspended": "suspended",
        "pending": "being anchored on the ledger",
        "colon": ": ",
    },
}
_MARK = {CheckStatus.PASSED: "✔", CheckStatus.FAILED: "✖", CheckStatus.INDETERMINATE: "?"}
_ORDER = {CheckStatus.FAILED: 0, CheckStatus.INDETERMINATE: 1, CheckStatus.PASSED: 2}


def _m(message: Message, lang: str) -> str:
    return message.zh if lang == "zh" else message.en


def when(at: datetime | None, lang: str) -> str:
    if at is None:
        return "—"
    return f"{at.astimezone(DESK_TZ).strftime('%Y-%m-%d %H:%M:%S')} {_T[lang]['tz']}"


def _status_word(status: str, lang: str) -> str:
    return _T[lang].get(status, status)


def report_lines(report: VerificationReport, lang: str) -> list[str]:
    """The report for a person: the verdict (its code too, for scripts that grep it), the
    reason, the certificate and what its ledger status means, then each check (icon and
    word, failing ones first)."""
    t = _T[lang]
    verdict = report.verdict
    lines = [
        f"{verdict.value}  {t[verdict.value]}",
        f"{t['reason']}{t['colon']}{_m(report.reason, lang)}",
    ]
    cert = report.certificate
    if cert is not None:
        lines.append(
            f"{t['certificate']}{t['colon']}{cert.id}  {_m(cert.type_name, lang)}  "
            f"{t['issued_by']} {_m(cert.issuer_name, lang)}"
        )
        meaning = report.ledger_status
        if meaning is not None:
            lines.append(_m(meaning, lang))
    lines.append(f"{t['checks']}{t['colon']}")
    for check in sorted(report.checks, key=lambda c: _ORDER[c.status]):
        word = (
            t["INDETERMINATE_c"]
            if check.status is CheckStatus.INDETERMINATE
            else t[check.status.value]
        )
        lines.append(
            f"  {_MARK[check.status]} {word:<{6 if lang == 'zh' else 9}} "
            f"{check.code.value}  {_m(check.message, lang)}"
        )
    return lines


def status_lines(body: dict[str, Any], lang: str, type_name: Message | None) -> list[str]:
    """``certledger status`` for a person, from the same body ``--json`` prints."""
    t = _T[lang]
    head = f"{body['id']}{t['colon']}{_status_word(body['status'], lang)}"
    if body.get("reason"):
        head += f"（{body['reason']}）" if lang == "zh" else f" ({body['reason']})"
    type_text = _m(type_name, lang) if type_name else body["type"]
    lines = [
        head,
        f"  {t['type']}{t['colon']}{type_text}",
        f"  {t['issued_by'].capitalize() if lang == 'en' else t['issued_by']}{t['colon']}"
        f"{body['issuer']}",
        f"  {t['valid_until']}{t['colon']}{body['valid_until'] or t['no_end']}",
    ]
    ledger = body.get("ledger")
    if ledger:
        at = datetime.fromisoformat(ledger["anchored_at"]) if ledger.get("anchored_at") else None
        lines.append(
            f"  {t['ledger']}{t['colon']}{t['block']} {ledger['block']}, "
            f"{t['tx']} {ledger['tx_id']}, {t['anchored_at']} {when(at, lang)}"
        )
    else:
        lines.append(f"  {t['ledger']}{t['colon']}{t['not_anchored']}")
    history: Sequence[dict[str, Any]] = body.get("history") or []
    if history:
        lines.append(f"  {t['history']}{t['colon']}")
        for h in history:
            reason = f"  {h['reason']}" if h.get("reason") else ""
            lines.append(
                f"    {when(datetime.fromisoformat(h['timestamp']), lang)}  "
                f"{_status_word(h['status'], lang)}  ({t['block']} {h['block_number']}){reason}"
            )
    return lines


def confirm_revoke_text(cert_id: str, lang: str) -> str:
    if lang == "zh":
        return f"撤销是最终的，之后不能暂停、恢复或再次撤销。确认撤销 {cert_id}？"
    return f"Revocation is final: it cannot be suspended, reinstated or undone. Revoke {cert_id}?"
