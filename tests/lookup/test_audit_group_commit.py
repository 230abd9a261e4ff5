"""The audit log's writer: group commit (one writer thread, many waiters, one transaction per
batch), one chain across processes, fail closed, and the canonical form the hashes cover."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from certificates.audit.log import AuditEvent, AuditLog, AuditUnavailable, canonical_body
from certificates.store.database import Store

_REFERENCE = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False}

_values = st.one_of(st.none(), st.text(), st.integers(min_value=-(2**63), max_value=2**63 - 1))
_bodies = st.fixed_dictionaries(
    {
        "seq": st.integers(min_value=1, max_value=2**62),
        "at": st.text(),
        "client_id": st.text(),
        "agency": _values,
        "action": st.text(),
        "cert_id": _values,
        "cert_type": _values,
        "purpose": _values,
        "fields": st.lists(st.text(), max_size=5),
        "result": st.text(),
        "reason": _values,
    }
)


@settings(max_examples=300, deadline=None)
@given(_bodies)
def test_canonical_form_is_the_json_definition(body: dict[str, Any]) -> None:
    reference = json.dumps(body, allow_nan=False, **_REFERENCE).encode("utf-8")  # type: ignore[arg-type]
    assert canonical_body(body) == reference


def test_what_orjson_refuses_still_has_a_canonical_form() -> None:
    body = {"seq": 2**70, "b": "x"}  # beyond 64 bits: orjson refuses, json does not
    assert canonical_body(body) == json.dumps(body, **_REFERENCE).encode()  # type: ignore[arg-type]


def _store(path: Path) -> Store:
    return Store.open(path, create=True)


def test_concurrent_callers_share_batches_and_every_entry_is_durable(tmp_path: Path) -> None:
    store = _store(tmp_path / "store.db")
    audit = AuditLog(store)
    batches: list[int] = []
    write = audit._write_batch

    def counting(events: list[AuditEvent]) -> Any:
        batches.append(len(events))
        return write(events)

    audit._write_batch = counting  # type: ignore[method-assign]

    async def burst() -> list[int]:
        other = Store.open(tmp_path / "store.db")
        seen: list[int] = []

        async def one(i: int) -> None:
            [entry] = await audit.record_async([AuditEvent("view", "ok", f"cl_{i}")])
            # Durable when the caller resumes: another connection reads it.
            with other.session() as s:
                row = (
                    s.connection()
                    .execute(
                        text("SELECT client_id FROM audit_log WHERE seq = :n"), {"n": entry.seq}
                    )
                    .first()
                )
            assert row is not None and row[0] == f"cl_{i}"
            seen.append(entry.seq)

        await asyncio.gather(*[one(i) for i in range(200)])
        other.close()
        return seen

    seqs = asyncio.run(burst())
    assert sorted(seqs) == list(range(1, 201))
    assert sum(batches) == 200 and len(batches) < 200  # grouped: fewer commits than entries
    assert audit.verify().ok
    audit.close()
    store.close()


def test_a_batch_larger_than_one_statement_is_all_or_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path / "store.db")
    audit = AuditLog(store)
    audit.record(AuditEvent("view", "ok", "first"))
    many = [AuditEvent("lookup", "allowed", f"cl_{i}", cert_id=f"X-{i}") for i in range(150)]
    entries = asyncio.run(audit.record_async(many))
    assert [e.seq for e in entries] == list(range(2, 152))
    # Another process took seq 152 meanwhile: the next big batch collides on its first row,
    # is rolled back as a whole and written again on the fresh head.
    other = AuditLog(store)
    other.record(AuditEvent("view", "ok", "other process"))
    entries = asyncio.run(audit.record_async(many))
    assert [e.seq for e in entries] == list(range(153, 303))
    report = audit.verify()
    assert report.ok and report.entries_checked == 302
    audit.close()
    other.close()
    store.close()


_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from certificates.audit.log import AuditEvent, AuditLog
    from certificates.store.database import Store

    store = Store.open(Path(sys.argv[1]))
    audit = AuditLog(store)
    name = sys.argv[2]

    async def main():
        for round_ in range(10):
            await asyncio.gather(*[
                audit.record_async([AuditEvent("view", "ok", f"{name}-{round_}-{i}")])
                for i in range(15)
            ])
            audit.record(AuditEvent("issue", "ok", f"{name}-{round_}-sync"))

    asyncio.run(main())
    audit.close()
    store.close()
    """
)


def test_worker_processes_write_one_chain(tmp_path: Path) -> None:
    """Like several server workers: each process has its own writer and a cached head."""
    path = tmp_path / "store.db"
    _store(path).close()
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), f"p{n}"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(3)
    ]
    for p in procs:
        _out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()
    store = Store.open(path)
    audit = AuditLog(store)
    report = audit.verify()
    assert report.ok and report.entries_checked == 3 * 10 * 16, report.reason
    clients = {e.event.client_id for e in audit.entries()}
    assert len(clients) == 3 * 10 * 16  # every entry exactly once
    store.close()


def test_a_failing_database_fails_closed(tmp_path: Path) -> None:
    store = _store(tmp_path / "store.db")
    audit = AuditLog(store)
    audit.record(AuditEvent("view", "ok", "before"))
    with store.session() as s:
        s.connection().execute(text("DROP TABLE audit_log"))
        s.commit()
    with pytest.raises(AuditUnavailable):
        audit.record(AuditEvent("view", "ok", "lost"))
    with pytest.raises(AuditUnavailable):
        asyncio.run(audit.record_async([AuditEvent("view", "ok", "lost too")]))
    audit.close()
    store.close()


def test_a_float_in_an_edited_row_is_hashed_by_the_definition() -> None:
    body = {"seq": 1, "agency": float("nan")}
    with pytest.raises(ValueError):  # allow_nan=False: never the hash of a null agency
        canonical_body(body)
    body = {"seq": 1, "agency": 1e16}
    assert canonical_body(body) == json.dumps(body, **_REFERENCE).encode()  # type: ignore[arg-type]
