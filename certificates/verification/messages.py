"""Bilingual messages for verification checks, kept in one catalogue so wording stays consistent."""

from __future__ import annotations

from certificates.verification.report import Message

__all__ = ["M"]


class M:
    SEAL_MISSING = Message("文件中没有电子印章。", "The document carries no electronic seal.")
    SEAL_FOUND = Message("文件带有电子印章。", "The document carries an electronic seal.")
    INTACT = Message(
        "电子印章完好，签章后内容未被篡改。", "The seal is intact: the sealed content is unaltered."
    )
    NOT_INTACT = Message(
        "电子印章校验失败：签章覆盖的内容已被改动。",
        "The seal does not verify: the sealed content was altered.",
    )
    TRUSTED = Message(
        "签章证书链接到已配置的信任根。", "The seal certificate chains to a configured trust root."
    )
    UNTRUSTED = Message(
        "签章证书不属于本系统信任的证书体系。",
        "The seal certificate does not chain to a configured trust root.",
    )
    TRUST_UNDECIDED = Message(
        "无法确定签章证书是否可信。", "Could not decide whether the seal certificate is trusted."
    )
    TS_OK = Message(
        "时间戳有效，证明签章时间。", "The timestamp is valid and proves when the seal was made."
    )
    TS_BAD = Message("时间戳无效或不可信。", "The timestamp is invalid or not trusted.")
    TS_MISSING = Message("缺少可信时间戳。", "No trusted timestamp was found.")
    UNCHANGED = Message(
        "签章后文件未被修改。", "The document has not been changed since it was sealed."
    )
    CHANGED = Message(
        "签章后文件被修改（追加了内容、批注或其他改动）。",
        "The document was changed after sealing (added content, annotations or other edits).",
    )
    CHANGE_UNDECIDED = Message(
        "无法确定签章后文件是否被修改。",
        "Could not decide whether the document changed after sealing.",
    )
    ID_OK = Message("证照编号格式正确。", "The certificate number is well formed.")
    ID_MISSING = Message(
        "文件中没有有效的证照编号，不是本系统签发的证照。",
        "The document carries no valid certificate number; it was not issued by this service.",
    )
    ANCHORED = Message(
        "证照摘要已在账本上登记，与文件一致。",
        "The document digest is anchored on the ledger and matches.",
    )
    NOT_ON_LEDGER = Message(
        "账本上没有该证照的登记。", "The ledger has no entry for this certificate."
    )
    PENDING = Message(
        "证照已签章，正在登记到账本，请稍后再试。",
        "The certificate is sealed and is being anchored on the ledger; try again shortly.",
    )
    DIGEST_MISMATCH = Message(
        "文件摘要与账本登记不一致。", "The document digest does not match the ledger entry."
    )
    LEDGER_DOWN = Message(
        "暂时无法访问账本，无法确认证照状态。",
        "The ledger cannot be reached; the certificate's status cannot be confirmed.",
    )
    ISSUER_OK = Message(
        "签章机构与账本登记的发证机构一致。",
        "The sealing agency is the issuer recorded on the ledger.",
    )
    ISSUER_MISMATCH = Message(
        "签章机构与账本登记的发证机构不一致。",
        "The seal does not belong to the issuer recorded on the ledger.",
    )
    ACTIVE = Message("证照未被撤销。", "The certificate has not been revoked.")
    EXPIRY_OK = Message("证照在有效期内。", "The certificate is within its validity period.")
    EXPIRED = Message("证照已过有效期。", "The certificate has expired.")
    NOT_YET_VALID = Message("证照尚未生效。", "The certificate is not yet valid.")
    SEAL_CERT_GOOD = Message(
        "签章时印章证书未被吊销。", "The seal certificate was not revoked when the seal was made."
    )
    SEAL_CERT_REVOKED_LATER = Message(
        "印章证书在签章之后才被吊销；时间戳证明签章在先，签章仍然有效。",
        "The seal certificate was revoked after the seal was made; the timestamp proves the "
        "seal came first, so the seal stays valid.",
    )
    SEAL_CERT_REVOKED = Message(
        "签章时印章证书已被吊销。",
        "The seal certificate was already revoked when the seal was made.",
    )
    SEAL_CERT_UNKNOWN = Message(
        "缺少吊销信息，无法确定签章时印章证书是否已被吊销。",
        "Revocation data is missing, so whether the seal certificate was revoked when the seal "
        "was made cannot be decided.",
    )
    # Neutral on purpose: this line also stands under a red verdict (a revoked certificate
    # with no expiry date), where "长期有效" would read as reassurance.
    LONG_TERM = Message("证照未设截止日期。", "The certificate has no expiry date.")
    UNKNOWN_STATUS = Message(
        "账本上该证照的状态无法识别。", "The ledger records a status this service does not know."
    )


def revoked(reason: str | None) -> Message:
    r = reason or "—"
    return Message(f"证照已被撤销，原因：{r}", f"The certificate was revoked. Reason: {r}")


def suspended(reason: str | None) -> Message:
    r = reason or "—"
    return Message(f"证照已被暂停使用，原因：{r}", f"The certificate is suspended. Reason: {r}")


def with_detail(base: Message, detail: str) -> Message:
    """``base`` plus the checker's own (English) explanation, e.g. which data was missing, in
    the English message only: the Chinese one stays wholly Chinese."""
    return Message(base.zh, f"{base.en} ({detail})")
