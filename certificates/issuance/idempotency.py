"""Idempotent single issuance: a request sent twice with the same ``Idempotency-Key`` (a
network timeout, a retrying client) issues one certificate.

The rule: a key belongs to one agency; the same key with the same request (type and data,
compared by a SHA-256 of their canonical JSON) answers the certificate issued the first time,
as it is now, and issues nothing; the same key with another request is refused. The key's
record is written in the transaction that stores the certificate (``Store.add_pending``), so
there is no moment with a certificate and no key, and of two requests racing with one key only
one stores a certificate: the other's transaction is rolled back and it answers the winner's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Protocol

from sqlmodel import Session

from certificates.issuance.issued import Alongside, Issued
from certificates.issuance.refusals import BatchRefusal, IdempotencyRefused
from certificates.sharing.clients import Principal
from certificates.store.batches import BatchStore, LinkLost
from certificates.types import CertificateType, ValidatedData

__all__ = ["IdempotentIssuance", "key_digest", "request_digest"]

MAX_KEY_LENGTH = 200


def key_digest(key: str) -> str:
    """The stored form of a client's key: its SHA-256 (the key itself is the client's).

    :raises IdempotencyRefused: the key is empty, too long or not printable ASCII.
    """
    if not (0 < len(key) <= MAX_KEY_LENGTH) or not all(" " < c < "\x7f" for c in key):
        raise IdempotencyRefused(
            "BAD_IDEMPOTENCY_KEY",
            f"幂等键须为 1 至 {MAX_KEY_LENGTH} 个可打印的 ASCII 字符（不含空格）。",
            f"An idempotency key is 1 to {MAX_KEY_LENGTH} printable ASCII characters, "
            "without spaces.",
        )
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def request_digest(cert_type: str, data: Mapping[str, object]) -> str:
    canonical = json.dumps(
        {"type": cert_type, "data": data},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _key_reused() -> IdempotencyRefused:
    return IdempotencyRefused(
        "IDEMPOTENCY_KEY_REUSED",
        "该幂等键已用于另一份不同的签发请求；未签发任何证照。请为新的请求使用新的键。",
        "This idempotency key was used for a different issuance request; nothing was issued. "
        "Use a new key for a new request.",
    )


class Issuing(Protocol):
    """What this needs of the issuance service (which owns an instance of this class)."""

    def validate(self, ctype: CertificateType, data: Mapping[str, object]) -> ValidatedData: ...

    def issue_chunk_as(
        self,
        who: Principal,
        ctype: CertificateType,
        values: Sequence[ValidatedData],
        *,
        alongside: Alongside,
    ) -> list[tuple[int, Issued]]: ...

    def stored(self, cert_id: str, token: str) -> Issued | None: ...


class IdempotentIssuance:
    def __init__(self, service: Issuing, keys: BatchStore) -> None:
        self._service = service
        self._keys = keys

    def issue(
        self, who: Principal, ctype: CertificateType, data: Mapping[str, object], key: str
    ) -> Issued:
        kd = key_digest(key)
        rd = request_digest(ctype.code, data)
        earlier = self._earlier(who, kd, rd)
        if earlier is not None:
            return earlier
        validated = self._service.validate(ctype, data)  # CertificateDataError -> 422

        def take(s: Session, stored: Sequence[tuple[int, Issued]]) -> None:
            for _n, issued in stored:
                self._keys.take_key(s, who.agency, kd, rd, issued.cert_id, issued.token)

        try:
            return self._service.issue_chunk_as(who, ctype, [validated], alongside=take)[0][1]
        except LinkLost:
            # Another request with this key stored its certificate first: answer that one.
            earlier = self._earlier(who, kd, rd)
            if earlier is None:  # pragma: no cover - the key's row is never deleted
                raise
            return earlier
        except BatchRefusal:
            # Refused as a duplicate (ALREADY_ISSUED, or the race for its key lost): if the
            # certificate in the way is this very request's, sent again, answer it.
            earlier = self._earlier(who, kd, rd)
            if earlier is None:
                raise
            return earlier

    def _earlier(self, who: Principal, kd: str, rd: str) -> Issued | None:
        found = self._keys.key(who.agency, kd)
        if found is None:
            return None
        stored_digest, cert_id, token = found
        if stored_digest != rd:
            raise _key_reused()
        return self._service.stored(cert_id, token)
