"""What a refusal from a lower layer means to a person, in Chinese and English.

The signing layer and the ledger explain a refusal in their own (English, technical) words:
"not a PDF (no %PDF header)", "ALREADY_REVOKED: …". Those words are for logs. A person at a
counter or an agency gets a typed code mapped here to a complete sentence in each language,
so no Chinese message ever carries an English fragment from below.
"""

from __future__ import annotations

__all__ = ["STATUS_REFUSALS", "UNREADABLE", "status_refusal", "unreadable"]

# Why an uploaded file could not be read (UnreadableDocument.code).
UNREADABLE: dict[str, tuple[str, str]] = {
    "EMPTY": ("文件是空的。", "The file is empty."),
    "NOT_PDF": (
        "该文件不是 PDF 文件，请上传证照的 PDF 原件。",
        "The file is not a PDF; upload the certificate's PDF.",
    ),
    "ENCRYPTED": (
        "该 PDF 文件已加密，无法核验；证照的 PDF 从不加密。",
        "The PDF is encrypted and cannot be checked; certificates are never encrypted.",
    ),
    "MALFORMED": (
        "该 PDF 文件已损坏或不完整，无法读取。",
        "The PDF is damaged or incomplete and cannot be read.",
    ),
    "SEAL_UNREADABLE": (
        "该 PDF 文件中的电子印章无法读取。",
        "The electronic seal in the PDF cannot be read.",
    ),
    "NOT_EVALUATED": (
        "该文件未能完成检查，请重新上传；如仍失败，请联系发证机构。",
        "The file could not be checked; upload it again, and ask the issuing agency if it "
        "fails again.",
    ),
}

# Why a status change was refused (RevocationRefused.code): the ledger's codes
# (chaincode.ErrorCode) and this layer's own.
STATUS_REFUSALS: dict[str, tuple[str, str]] = {
    "ALREADY_REVOKED": (
        "该证照已被撤销。撤销是最终的，之后不能再暂停、恢复或再次撤销。",
        "The certificate is revoked, and revocation is final: it cannot be suspended, "
        "reinstated or revoked again.",
    ),
    "INVALID_TRANSITION": (
        "该操作不适用于证照当前的状态：只有正常的证照可以暂停，只有已暂停的证照可以恢复。",
        "This change does not apply to the certificate's current state: only an active "
        "certificate can be suspended, and only a suspended one reinstated.",
    ),
    "NOT_ISSUER": (
        "只有发证机构可以变更该证照的状态。",
        "Only the issuing agency may change this certificate's status.",
    ),
    "NOT_FOUND": ("账本上没有该证照的登记。", "The ledger has no entry for this certificate."),
    "BAD_ARGUMENT": (
        "账本拒绝了该操作：请求的参数不正确。",
        "The ledger refused the change: an argument is malformed.",
    ),
    "UNKNOWN_AGENCY": (
        "账本上没有登记本机构，无法变更证照状态。",
        "This agency is not registered on the ledger, so it cannot change a status.",
    ),
    "CORRUPT_STATE": (
        "账本中该证照的记录已损坏，请联系系统管理员。",
        "The ledger's record of this certificate is damaged; contact the administrator.",
    ),
    "REASON_REQUIRED": ("请填写原因。", "A reason is required."),
    "REASON_TOO_LONG": ("原因过长，请精简后再提交。", "The reason is too long; shorten it."),
    "NO_BATCH": (
        "当前账本不支持在一笔交易中批量撤销，未撤销任何证照。",
        "This ledger cannot revoke several certificates in one transaction; nothing was revoked.",
    ),
}
_STATUS_DEFAULT = (
    "账本拒绝了该操作，未作任何更改。",
    "The ledger refused the change; nothing was changed.",
)


def unreadable(code: str) -> tuple[str, str]:
    return UNREADABLE.get(code, UNREADABLE["MALFORMED"])


def status_refusal(code: str) -> tuple[str, str]:
    return STATUS_REFUSALS.get(code, _STATUS_DEFAULT)
