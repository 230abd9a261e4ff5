"""An in-memory platform for the contract: Fabric's transaction semantics, nothing more.

- reads see committed state only (no read-your-writes);
- writes and the event are buffered and committed only if the function returns;
- history comes back newest first, as Fabric 2.x returns it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from chaincode import AgencyRecord, AnchorEntry, HistoryItem

T = TypeVar("T")

T0 = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)


class FakeStub:
    def __init__(self, platform: FakePlatform, msp: str, tx_id: str, ts: datetime) -> None:
        self._platform = platform
        self._msp = msp
        self._tx_id = tx_id
        self._ts = ts
        self.writes: dict[str, bytes] = {}
        self.event: tuple[str, bytes] | None = None

    async def get_state(self, key: str) -> bytes:
        return self._platform.state.get(key, b"")

    async def put_state(self, key: str, value: bytes) -> None:
        assert isinstance(value, bytes)
        self.writes[key] = value

    async def get_history(self, key: str) -> list[HistoryItem]:
        return list(reversed(self._platform.history.get(key, [])))

    def get_creator_msp(self) -> str:
        return self._msp

    def get_tx_id(self) -> str:
        return self._tx_id

    def get_tx_timestamp(self) -> datetime:
        return self._ts

    def set_event(self, name: str, payload: bytes) -> None:
        self.event = (name, payload)


@dataclass
class FakePlatform:
    state: dict[str, bytes] = field(default_factory=dict)
    history: dict[str, list[HistoryItem]] = field(default_factory=dict)
    events: list[tuple[str, str, bytes]] = field(default_factory=list)
    tx_count: int = 0
    last_writes: dict[str, bytes] = field(default_factory=dict)

    def invoke(
        self,
        msp: str,
        fn: Callable[..., Coroutine[Any, Any, T]],
        *args: Any,
        ts: datetime | None = None,
    ) -> T:
        self.tx_count += 1
        tx_id = f"tx{self.tx_count:04d}"
        ts = ts or T0 + timedelta(minutes=self.tx_count)
        stub = FakeStub(self, msp, tx_id, ts)
        result: T = asyncio.run(fn(stub, *args))  # raises: nothing below runs, nothing commits
        self.last_writes = dict(stub.writes)
        for key, value in stub.writes.items():
            self.state[key] = value
            self.history.setdefault(key, []).append(HistoryItem(tx_id, ts, value, False))
        if stub.event:
            self.events.append((tx_id, *stub.event))
        return result

    def snapshot(self) -> tuple[dict[str, bytes], int]:
        return dict(self.state), len(self.events)


def agency(code: str, msp: str, types: tuple[str, ...], seal: str = "a" * 64) -> AgencyRecord:
    return AgencyRecord(
        code=code,
        msp_id=msp,
        name_zh=f"{code}机关",
        name_en=f"{code} Agency",
        allowed_types=types,
        seal_fingerprints=(seal,),
    )


REGISTRY = (
    agency("MOE", "MoeMSP", ("diploma", "teacher-licence")),
    agency("MOT", "MotMSP", ("driving-licence",), seal="b" * 64),
    agency("OBS", "ObsMSP", ()),  # a verifying-only agency: may anchor nothing
)


def entry(
    cert_id: str,
    digest: str = "d" * 64,
    *,
    cert_type: str = "diploma",
    holder: str = "e" * 64,
    valid_from: str = "2025-01-01",
    valid_until: str | None = "2030-01-01",
) -> AnchorEntry:
    return AnchorEntry(cert_id, digest, holder, cert_type, valid_from, valid_until)


def hexd(n: int) -> str:
    """A distinct, valid 64-hex digest per integer."""
    return f"{n:064x}"
