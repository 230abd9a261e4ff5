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
from typing import Any

import orjson

from ._audit_model import AuditEntry, AuditEvent

__all__ = [
    "HEADER",
    "MAX_FRAME",
    "WireError",
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
_MAX_TEXT = 1000
_MAX_FIELDS = 200


class WireError(ValueError):
    """A frame that is not what the protocol allows; the connection is closed."""


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def split_frames(buf: bytearray) -> list[bytes]:
    """Remove and return the complete frames at the start of ``buf``."""
    out: list[bytes] = []
    start, end = 0, len(buf)
    while end - start >= 4:
        (n,) = HEADER.unpack_from(buf, start)
        if n > MAX_FRAME:
            raise WireError(f"frame of {n} bytes is larger than the limit")
        if end - start - 4 < n:
            break
        out.append(bytes(buf[start + 4 : start + 4 + n]))
        start += 4 + n
    if start:
        del buf[:start]
    return out


def _row(e: AuditEvent) -> list[Any]:
    return [
        e.action,
        e.result,
        e.client_id,
        e.agency,
        e.cert_id,
        e.cert_type,
        e.purpose,
        e.fields,
        e.reason,
    ]


def encode_events(events: Sequence[AuditEvent]) -> bytes:
    return frame(orjson.dumps([_row(e) for e in events]))


def _text(value: Any, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise WireError("an event field is not a string of at most 1000 characters")
    return value


def decode_events(payload: bytes) -> list[AuditEvent]:
    try:
        rows = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise WireError("the request is not JSON") from exc
    if not isinstance(rows, list) or not rows or len(rows) > MAX_EVENTS:
        raise WireError("the request is not a non-empty list of events")
    events: list[AuditEvent] = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 9:
            raise WireError("an event is not a list of nine values")
        fields = row[7]
        if not isinstance(fields, list) or len(fields) > _MAX_FIELDS:
            raise WireError("an event's field list is not a list")
        events.append(
            AuditEvent(
                action=_text(row[0], optional=False),  # type: ignore[arg-type]
                result=_text(row[1], optional=False),  # type: ignore[arg-type]
                client_id=_text(row[2], optional=False),  # type: ignore[arg-type]
                agency=_text(row[3], optional=True),
                cert_id=_text(row[4], optional=True),
                cert_type=_text(row[5], optional=True),
                purpose=_text(row[6], optional=True),
                fields=tuple(_text(f, optional=False) for f in fields),  # type: ignore[misc]
                reason=_text(row[8], optional=True),
            )
        )
    return events


def encode_reply(entries: Sequence[AuditEntry]) -> bytes:
    first = entries[0]
    return frame(orjson.dumps([first.seq, first.at, first.prev_hash, [e.hash for e in entries]]))


def encode_error(message: str) -> bytes:
    return frame(orjson.dumps({"error": message}))


def decode_reply(payload: bytes, events: Sequence[AuditEvent]) -> list[AuditEntry] | str:
    """The entries for ``events`` (the request this reply answers), or the writer's error."""
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
    if not isinstance(hashes, list) or len(hashes) != len(events):
        raise WireError("the reply does not answer the request it follows")
    out: list[AuditEntry] = []
    for event, digest in zip(events, hashes, strict=True):
        out.append(AuditEntry(seq, at, event, prev, digest))
        seq += 1
        prev = digest
    return out
