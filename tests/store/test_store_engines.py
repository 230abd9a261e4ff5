"""The store on both engines: the schema by migrations, the same answers from SQLite and
PostgreSQL, and a database URL's password never in a message."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

# Every table's model in the metadata:
import certificates.store.batches
import certificates.store.console_sessions
import certificates.store.rate_buckets
import certificates.store.unique_claims  # noqa: F401
from certificates.errors import ConfigurationError
from certificates.store.cipher import FieldCipher
from certificates.store.database import CertificateRow, Store
from certificates.store.engine import Database
from certificates.store.migrations import HEAD
from tests.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    opened = Store.open(tmp_path / "c.db", create=True, url=url)
    opened.use_cipher(FieldCipher.open_or_create(tmp_path / "data-key.bin", _passphrase()))
    request.addfinalizer(opened.close)
    return opened


def _passphrase() -> object:
    from signing import Secret

    return Secret("correct horse battery staple")


def _row(cert_id: str) -> CertificateRow:
    return CertificateRow(
        id=cert_id,
        cert_type="business_licence",
        agency="AMR",
        state="pending",
        subject="Example Trading Co.",
        holder_digest="h" * 64,
        data_json='{"name": "Example Trading Co."}',
        token_digest="t" * 64,
        sealed_digest="s" * 64,
        pdf=b"%PDF-1.7 sealed",
        issued_at=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
        valid_from=date(2026, 12, 1),
        valid_until=date(2031, 11, 30),
    )


def test_the_same_answers_from_either_engine(store: Store) -> None:
    store.add_pending([_row("BL-1"), _row("BL-2")])
    assert store.count_pending() == 2
    assert [r.id for r in store.pending()] == ["BL-1", "BL-2"]
    got = store.get("BL-1")
    assert got is not None
    assert got.pdf == b"%PDF-1.7 sealed"
    assert got.data_json == '{"name": "Example Trading Co."}'
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    store.mark_anchored([("BL-1", "tx1", 7, at, "{}")])
    store.set_status("BL-1", "revoked", "issued in error")
    view = store.public_view("BL-1")
    assert view is not None
    assert (view.state, view.status, view.status_reason) == (
        "anchored",
        "revoked",
        "issued in error",
    )
    assert view.issued_at == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    assert view.valid_until == date(2031, 11, 30)
    assert view.anchored_at == at
    assert store.count_pending() == 1
    assert [store.next_serial("BL/AMR/2026") for _ in range(3)] == [1, 2, 3]
    assert [cid for cid, _, _ in store.sealed_pdfs()] == ["BL-1", "BL-2"]
    store.save_seal_check("BL-1", "first")
    store.save_seal_check("BL-1", "second")
    assert store.recent_seal_check("BL-1", 60) == "second"


def test_personal_data_is_encrypted_in_either_engine(store: Store) -> None:
    store.add_pending([_row("BL-9")])
    with store.session() as s:
        raw = (
            s.connection()
            .execute(text("SELECT data_json, pdf FROM certificates WHERE id = 'BL-9'"))
            .one()
        )
    assert "Example Trading" not in raw[0]
    assert b"%PDF" not in bytes(raw[1])
    # Already encrypted: nothing left to do, on either engine's spelling of the check.
    assert store.encrypt_at_rest() == 0


def test_a_new_store_is_at_the_newest_revision(store: Store) -> None:
    with store.session() as s:
        version = s.connection().execute(text("SELECT version_num FROM alembic_version")).one()
    assert version[0] == HEAD


def test_head_names_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import certificates.store.migrations as migrations

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_migrations_build_what_the_models_declare(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A column added to a row class without its migration fails here, on both engines."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = request.getfixturevalue("postgres_url") if engine == "postgresql" else None
    store = Store.open(tmp_path / "c.db", create=True, url=url)
    store.close()
    target = (
        f"sqlite:///{tmp_path / 'c.db'}"
        if url is None
        else url.replace("postgresql://", "postgresql+psycopg://")
    )
    eng = create_engine(target)
    try:
        with eng.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    finally:
        eng.dispose()
    assert diff == []


def test_a_store_made_before_migrations_is_adopted_without_loss(tmp_path: Path) -> None:
    """Stores made before migrations began had their tables created at open: opening one now
    keeps its rows and records the revision."""
    path = tmp_path / "old.db"
    eng = create_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(eng)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO serials(scope, last) VALUES ('x', 41)"))
    eng.dispose()
    store = Store.open(path)
    try:
        assert store.next_serial("x") == 42
    finally:
        store.close()


def test_a_database_url_password_never_shows(tmp_path: Path) -> None:
    url = "postgresql://clerk:hunter2-Secret@127.0.0.1:1/certs"
    assert "hunter2" not in repr(Database.postgres(url))
    with pytest.raises(ConfigurationError) as caught:
        Store.open(tmp_path / "unused.db", url=url)
    assert "hunter2" not in str(caught.value)
    assert "127.0.0.1:1/certs" in str(caught.value)


def test_a_url_of_another_engine_is_refused_without_repeating_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Database.postgres("mysql://u:topsecret@db/x")
    assert "topsecret" not in str(caught.value)
    with pytest.raises(ConfigurationError):
        Database.postgres("not a url at all")


def test_the_test_server_runs_as_a_plain_user(postgres_server: PostgresServer) -> None:
    assert postgres_server.process is not None
    out = subprocess.run(
        ["ps", "-o", "user=", "-p", str(postgres_server.process.pid)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() != "root"
