"""The certificate database's files are readable by the service's user only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from certificates.store.database import Store


def test_a_new_database_and_its_journal_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a common default that would leave the file world-readable
    try:
        store = Store.open(tmp_path / "certificates.db", create=True)
        with store.session() as s:  # a write, so SQLite creates the -wal and -shm files
            s.connection().exec_driver_sql("CREATE TABLE probe (x INTEGER)")
            s.commit()
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in tmp_path.iterdir()}
        store.close()
    finally:
        os.umask(old)
    assert set(modes) == {"certificates.db", "certificates.db-wal", "certificates.db-shm"}
    assert modes == dict.fromkeys(modes, 0o600)
