"""Event subscriptions (webhooks): who is told about what, and how bodies are signed.

Two kinds of subscriber:

- the issuing agency, about its own certificates: a foreign agency looked one up
  (``lookup.foreign``), or its status changed (``status.changed``);
- a receiving agency, about one certificate it accepted: ``status.changed`` of that id (the
  status is public anyway, so any authenticated client may follow a given id).

Bodies are signed with HMAC-SHA256 under a per-subscription secret, shown once at creation.
Unlike a token the secret cannot be kept as a digest (the service needs it to sign): it is kept
encrypted with the deployment's data key (certificates.store.cipher).
The signed string includes a timestamp, so a receiver can refuse replays of old deliveries.
Events carry ids, types, agency codes, purposes and field *names*; never a holder identifier
or a field value.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import col, select

from certificates.audit import AuditEvent, AuditLog
from certificates.errors import CertificateError
from certificates.notifications.callbacks import CallbackPolicy, CallbackRefused
from certificates.sharing.clients import Principal
from certificates.store.database import OutboxRow, Store, SubscriptionRow

__all__ = [
    "EVENTS",
    "SIGNATURE_HEADER",
    "Subscription",
    "SubscriptionError",
    "Subscriptions",
    "sign_body",
    "verify_signature",
]

EVENTS = ("lookup.foreign", "status.changed")
SIGNATURE_HEADER = "X-Certledger-Signature"
MAX_PER_AGENCY = 200
# Active subscriptions are re-read at most this long after the last read (every lookup asks
# which subscriptions it reaches). So a subscription made through another process may miss
# events for up to this many seconds; one revoked elsewhere may still have events queued that
# long, but a delivery re-reads its subscription and drops it once revoked. Changes made
# through this process apply at once.
TARGETS_CACHE_TTL = 1.0


class SubscriptionError(CertificateError):
    """A subscription request is invalid or was refused: ``code`` says why (each edge maps it
    to its own answer), with the message in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.code, self.zh, self.en = code, zh, en


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    agency: str
    url: str
    events: tuple[str, ...]
    cert_id: str | None
    created_at: datetime
    revoked_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "agency": self.agency,
            "url": self.url,
            "events": list(self.events),
            "cert_id": self.cert_id,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def sign_body(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t.body)>``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, tolerance: int = 300) -> bool:
    """What a receiver runs: the body is ours, unchanged, and recent (no replay)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
        given = parts["v1"]
    except (ValueError, KeyError):
        return False
    if abs(time.time() - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _sub(row: SubscriptionRow) -> Subscription:
    created = _aware(row.created_at)
    assert created is not None
    return Subscription(
        row.id,
        row.agency,
        row.url,
        tuple(row.events.split(",")),
        row.cert_id,
        created,
        _aware(row.revoked_at),
    )


# (id, agency, events, cert_id, url, secret) of one active subscription
_Active = tuple[str, str, tuple[str, ...], str | None, str, str]


class Subscriptions:
    def __init__(
        self, store: Store, *, audit: AuditLog, policy: CallbackPolicy | None = None
    ) -> None:
        self._store = store
        # Subscribing and unsubscribing are audited: silencing an agency's foreign-lookup
        # alerts must leave a trace.
        self._audit = audit
        # Which callback URLs may be called (server-side request forgery guard); without a
        # policy, only public https addresses.
        self.policy = policy if policy is not None else CallbackPolicy.from_entries(())
        self._lock = threading.Lock()
        self._active: tuple[float, list[_Active]] | None = None
        self._generation = 0  # bumped by every change here: a read under way is not kept

    def _changed(self) -> None:
        with self._lock:
            self._generation += 1
            self._active = None

    def _active_subscriptions(self) -> list[_Active]:
        started = time.monotonic()
        cached = self._active  # read without the lock: replaced whole, never changed
        if cached is not None and started - cached[0] < TARGETS_CACHE_TTL:
            return cached[1]
        with self._lock:
            generation = self._generation
        with self._store.session() as s:
            rows = s.exec(
                select(SubscriptionRow).where(col(SubscriptionRow.revoked_at).is_(None))
            ).all()
            active = [
                (
                    r.id,
                    r.agency,
                    tuple(r.events.split(",")),
                    r.cert_id,
                    r.url,
                    self._reveal_secret(r),
                )
                for r in rows
            ]
        with self._lock:
            if self._generation == generation:
                self._active = (started, active)
        return active

    def add(
        self,
        who: Principal,
        url: str,
        events: Iterable[str],
        *,
        cert_id: str | None = None,
        issuer_of_cert: str | None = None,
    ) -> tuple[Subscription, str]:
        """A new subscription and its signing secret (returned once)."""
        wanted = tuple(sorted(set(events)))
        if not wanted or any(e not in EVENTS for e in wanted):
            raise SubscriptionError(
                "UNKNOWN_EVENT",
                f"事件须为以下之一：{', '.join(EVENTS)}。",
                f"Events must be among: {', '.join(EVENTS)}.",
            )
        try:
            self.policy.check(url)
        except CallbackRefused as exc:
            raise SubscriptionError(
                "BAD_URL",
                "回调地址须为公网 https 地址，且不含凭据（内部地址须由运营方放行）。",
                f"{str(exc)[:1].upper()}{str(exc)[1:]}.",
            ) from exc
        if "lookup.foreign" in wanted and cert_id is not None and issuer_of_cert != who.agency:
            raise SubscriptionError(
                "NOT_ISSUER",
                "只有发证机构可以订阅其证照的查询事件。",
                "Only the issuing agency may follow lookups of its certificates.",
            )
        with self._store.session() as s:
            count = len(
                list(
                    s.exec(
                        select(SubscriptionRow.id).where(
                            SubscriptionRow.agency == who.agency,
                            col(SubscriptionRow.revoked_at).is_(None),
                        )
                    )
                )
            )
            if count >= MAX_PER_AGENCY:
                raise SubscriptionError(
                    "TOO_MANY",
                    "订阅数量已达上限。",
                    f"At most {MAX_PER_AGENCY} active subscriptions per agency.",
                )
            secret = "whsec_" + secrets.token_urlsafe(32)
            sub_id = f"sub_{secrets.token_hex(8)}"
            row = SubscriptionRow(
                id=sub_id,
                agency=who.agency,
                client_id=who.client_id,
                url=url,
                events=",".join(wanted),
                cert_id=cert_id,
                secret=self._store.conceal_secret(sub_id, secret),
                created_at=datetime.now(UTC),
            )
            s.add(row)
            s.commit()
        self._changed()
        self._audit.record(
            AuditEvent(
                "subscription-add",
                "ok",
                who.client_id,
                who.agency,
                cert_id,
                reason=f"{row.id}: {row.events}",
            )
        )
        return _sub(row), secret

    def of_agency(self, agency: str) -> list[Subscription]:
        with self._store.session() as s:
            rows = s.exec(select(SubscriptionRow).where(SubscriptionRow.agency == agency))
            return [_sub(r) for r in rows]

    def revoke(self, who: Principal, sub_id: str) -> Subscription:
        """Revoke a subscription: by the agency's issuer role, or by the client that made
        it. Any other client of the agency (a verifier at a counter, say) is refused, so it
        cannot silence the issuer's alerts about foreign lookups."""
        with self._store.session() as s:
            row = s.get(SubscriptionRow, sub_id)
            # Another agency's subscription answers like a missing one: ids are not probed.
            if row is None or row.agency != who.agency:
                raise SubscriptionError(
                    "NOT_FOUND", "未找到该订阅。", "No subscription with this id."
                )
            if not who.has("issuer") and row.client_id != who.client_id:
                self._audit.record(
                    AuditEvent(
                        "subscription-revoke",
                        "denied",
                        who.client_id,
                        who.agency,
                        reason=f"{row.id}: NOT_OWNER",
                    )
                )
                raise SubscriptionError(
                    "NOT_OWNER",
                    "只有发证角色或创建该订阅的客户端可以撤销它。",
                    "Only the agency's issuer role or the client that created a subscription "
                    "may revoke it.",
                )
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                s.add(row)
                s.commit()
                self._changed()
                self._audit.record(
                    AuditEvent(
                        "subscription-revoke", "ok", who.client_id, who.agency, reason=row.id
                    )
                )
            return _sub(row)

    # -- the outbox: deliveries survive a restart ------------------------------------------

    def queue(self, deliveries: list[tuple[str, str, str, bytes]]) -> None:
        """Store (delivery id, subscription id, event, body) rows as pending, in one commit."""
        now = datetime.now(UTC)
        with self._store.session() as s:
            s.add_all(
                OutboxRow(id=d, sub_id=sub, event=ev, body=body, created_at=now)
                for d, sub, ev, body in deliveries
            )
            s.commit()

    def settle(self, delivery_id: str, *, state: str, attempts: int) -> None:
        with self._store.session() as s:
            row = s.get(OutboxRow, delivery_id)
            if row is not None:
                row.state, row.attempts = state, attempts
                s.add(row)
                s.commit()

    def pending(self) -> list[tuple[str, str, str, bytes, int]]:
        """(delivery id, subscription id, event, body, attempts) of undelivered rows."""
        with self._store.session() as s:
            rows = s.exec(select(OutboxRow).where(OutboxRow.state == "pending")).all()
            return [(r.id, r.sub_id, r.event, r.body, r.attempts) for r in rows]

    def endpoint(self, sub_id: str) -> tuple[str, str] | None:
        """(url, secret) of an active subscription; ``None`` once it is revoked, so pending
        deliveries of a revoked subscription are dropped rather than sent."""
        with self._store.session() as s:
            row = s.get(SubscriptionRow, sub_id)
        if row is None or row.revoked_at is not None:
            return None
        return row.url, self._reveal_secret(row)

    def _reveal_secret(self, row: SubscriptionRow) -> str:
        return self._store.reveal_secret(row.id, row.secret)

    def targets(self, event: str, cert_id: str, issuer: str) -> list[tuple[str, str, str]]:
        """(subscription id, url, secret) of every active subscription ``event`` reaches."""
        out = []
        for sub_id, agency, events, sub_cert_id, url, secret in self._active_subscriptions():
            if event not in events:
                continue
            # Agency-wide subscriptions (no cert_id) reach only the agency's own certificates.
            hit = sub_cert_id == cert_id if sub_cert_id is not None else agency == issuer
            if hit and (event != "lookup.foreign" or agency == issuer):
                out.append((sub_id, url, secret))
        return out
