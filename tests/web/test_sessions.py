"""The consoles' session store on its own: digests only, idle timeout, lifetime, no secret
in a repr."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from verify_api.http.sessions import Session, SessionStore, same_secret


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _store(tmp_path: Path, clock: Clock) -> SessionStore:
    return SessionStore(tmp_path / "s.sqlite", idle=60, lifetime=600, clock=clock)


def _new(store: SessionStore) -> tuple[str, Session]:
    return store.create(
        client_id="cl_0123456789abcdef",
        agency="transport",
        roles=frozenset({"verifier"}),
        name="desk 1",
        credential="token",
    )


def test_only_the_digest_of_the_session_id_is_stored(tmp_path: Path) -> None:
    store = _store(tmp_path, Clock())
    raw, session = _new(store)
    assert len(raw) >= 43  # 256 bits, URL-safe
    rows = sqlite3.connect(tmp_path / "s.sqlite").execute("SELECT id_digest FROM console_session")
    assert [r[0] for r in rows] == [hashlib.sha256(raw.encode()).hexdigest()]
    assert raw not in (tmp_path / "s.sqlite").read_bytes().decode("latin-1")
    assert store.get(raw) == session
    assert session.csrf not in repr(session)


def test_idle_sessions_end_and_use_keeps_them(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    raw, _ = _new(store)
    for _ in range(5):  # used every 50 s: alive past the idle timeout of 60 s
        clock.now += 50
        assert store.get(raw) is not None
    clock.now += 61
    assert store.get(raw) is None
    assert store.get(raw) is None  # and gone for good


def test_lifetime_ends_even_a_busy_session(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    raw, _ = _new(store)
    while clock.now < 1_000_000.0 + 590:
        clock.now += 30
        assert store.get(raw) is not None
    clock.now += 30
    assert store.get(raw) is None


def test_sign_out_and_client_revocation_end_sessions(tmp_path: Path) -> None:
    store = _store(tmp_path, Clock())
    a, _ = _new(store)
    b, _ = _new(store)
    store.end(a)
    assert store.get(a) is None and store.get(b) is not None
    store.end_client("cl_0123456789abcdef")
    assert store.get(b) is None


def test_unknown_and_odd_ids(tmp_path: Path) -> None:
    store = _store(tmp_path, Clock())
    assert store.get(None) is None
    assert store.get("") is None
    assert store.get("x" * 10_000) is None
    assert not same_secret("", "") and not same_secret(None, "a") and same_secret("a", "a")
