"""The frames between server workers and the audit writer process (``audit_service``).

A frame is a 4-byte big-endian length and that many bytes of JSON:

- request: a list of events, each ``[action, result, client_id, agency, cert_id, cert_type,
  purpose, [fields...], reason]``;
- reply, in order, one per request on the same connection: ``[first_seq, at, first_prev,
  [hash, ...]]`` once every event of the request is durably chained, or ``{"error": text}``
  when nothing of it was written.

Both ends are processes of the same deployment and user (the writer checks the peer's uid),
but the writer still parses requests strictly: a malformed frame is refused as a whole and
never half-written.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import orjson

from certificates.audit.model import AuditEntry, AuditEvent

__all__ = [
    "HEADER",
    "MAX_FRAME",
    "WireError",
    "check_events",
    "check_reply",
    "decode_events",
    "decode_reply",
    "encode_error",
    "encode_events",
    "encode_reply",
    "frame",
    "split_frames",
]

HEADER = struct.Struct(">I")
# One frame holds what one event loop tick or one writer batch produced; far below this.
MAX_FRAME = 8 * 1024 * 1024
MAX_EVENTS = 50_000
# Far above what the service writes (20 joined purposes or types come to 1,299 characters).
_MAX_TEXT = 4096
_MAX_FIELDS = 200


class WireError(ValueError):
    """A frame that is not what the protocol allows; the connection is closed."""


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def split_frames(buf: bytearray) -> list[bytes]:
    """Remove and return the complete frames at the start of ``buf``. An oversize header
    raises, but only once the frames before it have been returned (the next call raises)."""
    out: list[bytes] = []
    start, end = 0, len(buf)
    while end - start >= 4:
        (n,) = HEADER.unpack_from(buf, start)
        if n > MAX_FRAME:
            if out:
                break
            raise WireError(f"frame of {n} bytes is larger than the limit")
        if end - start - 4 < n:
            break
        out.append(bytes(buf[start + 4 : start + 4 + n]))
        start += 4 + n
    if start:
        del buf[:start]
    return out


def encode_events(events: Sequence[AuditEvent]) -> bytes:
    # An event is a tuple of strings, None and one tuple of strings: JSON arrays as they are.
    return frame(orjson.dumps([tuple(e) for e in events]))


def _bad_text(value: object) -> bool:
    return type(value) is not str or len(value) > _MAX_TEXT


def _check(
    action: object,
    result: object,
    client_id: object,
    optional: tuple[object, ...],
    fields: list[object] | tuple[object, ...],
) -> None:
    if _bad_text(action) or _bad_text(result) or _bad_text(client_id):
        raise WireError("an event's action, result or client is not a short string")
    for value in optional:
        if value is not None and _bad_text(value):
            raise WireError("an event field is neither null nor a short string")
    if len(fields) > _MAX_FIELDS or any(map(_bad_text, fields)):
        raise WireError("an event's field names are not a list of short strings")


def _event(row: object) -> AuditEvent:
    if type(row) is not list or len(row) != 9:
        raise WireError("an event is not a list of nine values")
    action, result, client_id, agency, cert_id, cert_type, purpose, fields, reason = row
    if type(fields) is not list:
        raise WireError("an event's field names are not a list of short strings")
    _check(action, result, client_id, (agency, cert_id, cert_type, purpose, reason), fields)
    return AuditEvent(
        action, result, client_id, agency, cert_id, cert_type, purpose, tuple(fields), reason
    )


def check_events(events: Sequence[AuditEvent]) -> None:
    """Refuse (``WireError``) what the writer would refuse, before it joins a frame: one
    caller's bad event must not fail the other callers whose events share the frame."""
    for e in events:
        if not _plainly_valid(e):  # the common case decided cheaply; anything else in full
            if type(e.fields) is not tuple:
                raise WireError("an event's field names are not a tuple of short strings")
            _check(e.action, e.result, e.client_id, (*e[3:7], e.reason), e.fields)


def _plainly_valid(e: AuditEvent) -> bool:
    """True when ``e`` is certainly valid: strings (or None where allowed) whose lengths add
    up to the limit at most (so each is within it). Written out, without loops: it runs for
    every lookup, and the general check costs several times more."""
    action, result, client_id, agency, cert_id, cert_type, purpose, fields, reason = e
    if not (
        type(action) is str
        and type(result) is str
        and type(client_id) is str
        and type(fields) is tuple
        and (agency is None or type(agency) is str)
        and (cert_id is None or type(cert_id) is str)
        and (cert_type is None or type(cert_type) is str)
        and (purpose is None or type(purpose) is str)
        and (reason is None or type(reason) is str)
    ):
        return False
    size = len(action) + len(result) + len(client_id)
    size += len(agency or "") + len(cert_id or "") + len(cert_type or "")
    size += len(purpose or "") + len(reason or "")
    for name in fields:
        if type(name) is not str:
            return False
        size += len(name)
    return size <= _MAX_TEXT and len(fields) <= _MAX_FIELDS


def decode_events(payload: bytes) -> list[AuditEvent]:
    try:
        rows = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise WireError("the request is not JSON") from exc
    if type(rows) is not list or not rows or len(rows) > MAX_EVENTS:
        raise WireError("the request is not a non-empty list of events")
    return [_event(row) for row in rows]


def encode_reply(entries: Sequence[AuditEntry]) -> bytes:
    first = entries[0]
    return frame(orjson.dumps([first.seq, first.at, first.prev_hash, [e.hash for e in entries]]))


def encode_error(message: str) -> bytes:
    return frame(orjson.dumps({"error": message}))


def _reply(payload: bytes, n: int) -> tuple[int, str, str, list[str]] | str:
    try:
        reply = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise WireError("the reply is not JSON") from exc
    if isinstance(reply, dict):
        return str(reply.get("error") or "the audit writer refused the entries")
    try:
        seq, at, prev, hashes = reply
    except (TypeError, ValueError) as exc:
        raise WireError("the reply is not [seq, at, prev, hashes]") from exc
    if type(hashes) is not list or len(hashes) != n or type(seq) is not int:
        raise WireError("the reply does not answer the request it follows")
    return seq, at, prev, hashes


def _checked_entries(at: object, prev: object, hashes: Sequence[object]) -> None:
    if type(at) is not str or type(prev) is not str or any(type(h) is not str for h in hashes):
        raise WireError("the reply's time or hashes are not strings")


def check_reply(payload: bytes, n: int) -> str | None:
    """``None`` when the reply confirms ``n`` entries written, else the writer's error."""
    reply = _reply(payload, n)
    return reply if isinstance(reply, str) else None


def decode_reply(payload: bytes, events: Sequence[AuditEvent]) -> list[AuditEntry] | str:
    """The entries for ``events`` (the request this reply answers), or the writer's error."""
    reply = _reply(payload, len(events))
    if isinstance(reply, str):
        return reply
    seq, at, prev, hashes = reply
    _checked_entries(at, prev, hashes)
    out: list[AuditEntry] = []
    for event, digest in zip(events, hashes, strict=True):
        out.append(AuditEntry(seq, at, event, prev, digest))
        seq += 1
        prev = digest
    return out
