"""The consoles' session store on its own, on either engine of the store: digests only, idle
timeout, lifetime, no secret in a repr, one set of sessions for every host."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from certificates.store.database import Store
from verify_api.http.sessions import Session, SessionStore, same_secret


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Opens a store on the test's database (each one standing in for a host)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    Store.open(tmp_path / "c.db", create=True, url=url).close()

    def opened() -> Store:
        store = Store.open(tmp_path / "c.db", url=url)
        request.addfinalizer(store.close)
        return store

    return opened


@pytest.fixture
def database(open_store: Callable[[], Store]) -> Store:
    return open_store()


def _store(database: Store, clock: Clock) -> SessionStore:
    return SessionStore(database, idle=60, lifetime=600, clock=clock)


def _new(store: SessionStore) -> tuple[str, Session]:
    return store.create(
        client_id="cl_0123456789abcdef",
        agency="transport",
        roles=frozenset({"verifier"}),
        name="desk 1",
        credential="token",
    )


def test_only_the_digest_of_the_session_id_is_stored(database: Store) -> None:
    store = _store(database, Clock())
    raw, session = _new(store)
    assert len(raw) >= 43  # 256 bits, URL-safe
    with database.session() as s:
        rows = s.connection().execute(text("SELECT * FROM console_sessions")).fetchall()
    assert [r[0] for r in rows] == [hashlib.sha256(raw.encode()).hexdigest()]
    assert all(raw not in str(value) for value in rows[0])
    assert store.get(raw) == session
    assert session.csrf not in repr(session)


def test_another_host_sees_the_session_and_its_end(open_store: Callable[[], Store]) -> None:
    # Two stores on one database: two hosts behind a load balancer.
    here, there = _store(open_store(), Clock()), _store(open_store(), Clock())
    raw, session = _new(here)
    assert there.get(raw) == session
    there.end(raw)
    assert here.get(raw) is None


def test_idle_sessions_end_and_use_keeps_them(database: Store) -> None:
    clock = Clock()
    store = _store(database, clock)
    raw, _ = _new(store)
    for _ in range(5):  # used every 50 s: alive past the idle timeout of 60 s
        clock.now += 50
        assert store.get(raw) is not None
    clock.now += 61
    assert store.get(raw) is None
    assert store.get(raw) is None  # and gone for good


def test_lifetime_ends_even_a_busy_session(database: Store) -> None:
    clock = Clock()
    store = _store(database, clock)
    raw, _ = _new(store)
    while clock.now < 1_000_000.0 + 590:
        clock.now += 30
        assert store.get(raw) is not None
    clock.now += 30
    assert store.get(raw) is None


def test_sign_out_and_client_revocation_end_sessions(database: Store) -> None:
    store = _store(database, Clock())
    a, _ = _new(store)
    b, _ = _new(store)
    store.end(a)
    assert store.get(a) is None and store.get(b) is not None
    store.end_client("cl_0123456789abcdef")
    assert store.get(b) is None


def test_unknown_and_odd_ids(database: Store) -> None:
    store = _store(database, Clock())
    assert store.get(None) is None
    assert store.get("") is None
    assert store.get("x" * 10_000) is None
    assert not same_secret("", "") and not same_secret(None, "a") and same_secret("a", "a")
