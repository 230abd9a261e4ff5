"""Personal data is encrypted at rest: after issuing through a real server (a person's
qualification certificate, a company's licence) and subscribing a webhook, neither a dump of the
database nor its raw files (WAL included) hold a holder's name, an ID number, a credit code, the
webhook secret or a PDF in clear; the server still shows and serves all of it. A store written
before encryption existed is encrypted on the next start with the passphrase."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from certificates import Home
from certificates.store.cipher import FieldCipher
from certificates.store.database import Store
from signing import Secret
from verify_api.runtime import open_runtime

from .conftest import PASSPHRASE, example, make_deployment, start_server, stop_server

pytestmark = pytest.mark.e2e


def _everything_on_disk(home: Path) -> bytes:
    db = home / "certificates.db"
    conn = sqlite3.connect(db)
    try:
        dump = "\n".join(conn.iterdump()).encode()
    finally:
        conn.close()
    raw = b"".join(p.read_bytes() for p in home.glob("certificates.db*"))
    return dump + raw


def test_a_database_dump_holds_no_personal_data(
    tmp_path_factory: pytest.TempPathFactory, catalogue: list[dict[str, Any]]
) -> None:
    dep = make_deployment(tmp_path_factory.mktemp("at-rest") / "home")
    server = start_server(dep, {"CERTLEDGER_WEBHOOK_ALLOW": "127.0.0.1"})
    person = example(catalogue, "qualification-certificate")
    company = example(catalogue, "business-licence")
    try:
        with server.client() as c:
            issued = []
            for agency, ctype, data in (
                ("human-resources", "qualification-certificate", person),
                ("market-regulation", "business-licence", company),
            ):
                r = c.post(
                    "/api/v1/certificates",
                    headers=dep.auth(agency),
                    json={"type": ctype, "data": data},
                )
                assert r.status_code == 201, r.text
                issued.append((agency, r.json()))
            r = c.post(
                "/api/v1/subscriptions",
                headers=dep.auth("market-regulation"),
                json={"url": "http://127.0.0.1:9/hook", "events": ["status.changed"]},
            )
            assert r.status_code == 201, r.text
            secret = r.json()["secret"]
            # Still readable where it should be: the PDFs download intact.
            for agency, body in issued:
                pdf = c.get(body["pdf_url"], headers=dep.auth(agency))
                assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    finally:
        stop_server(server)

    disk = _everything_on_disk(dep.home)
    secrets_in_clear = {
        "holder name": person["holder_name"],
        "ID number": person["id_number"],
        "credit code": company["credit_code"],
        "legal representative": company["legal_representative"],
        "webhook secret": secret,
    }
    for what, value in secrets_in_clear.items():
        assert value.encode() not in disk, f"{what} found in clear in the database"
    assert b"%PDF-" not in disk, "a PDF found in clear in the database"


def test_a_store_from_before_is_encrypted_on_the_next_start(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path / "home")
    home = Home(dep.home)
    # What an older version wrote: a row in clear (inserted directly, as it did), and no
    # marker that the store was ever encrypted (and, being older than the migrations, no
    # record of a schema version either).
    conn = sqlite3.connect(home.database)
    conn.execute("DROP TABLE IF EXISTS store_meta")
    conn.execute("DROP TABLE IF EXISTS alembic_version")
    conn.execute(
        "INSERT INTO certificates (id, cert_type, agency, state, status, subject, holder_digest, "
        "data_json, token_digest, sealed_digest, pdf, issued_at, valid_from) VALUES "
        "('BL-MR-2020-00000001-01-X', 'business-licence', 'market-regulation', 'anchored', "
        "'active', 'x', 'd', '{\"credit_code\": \"91110108OLDROW0001\"}', 't', 's', "
        "X'255044462D312E370A', '2020-01-01 00:00:00', '2020-01-01')"
    )
    conn.commit()
    conn.close()
    assert b"91110108OLDROW0001" in _everything_on_disk(dep.home)

    # The next start with the passphrase encrypts it.
    open_runtime(home, passphrase=Secret(PASSPHRASE)).close()

    store = Store.open(home.database)
    try:
        store.use_cipher(FieldCipher.open_or_create(home.data_key, Secret(PASSPHRASE)))
        row = store.get("BL-MR-2020-00000001-01-X")
        assert row is not None
        assert row.data_json == '{"credit_code": "91110108OLDROW0001"}'
        assert row.pdf == b"%PDF-1.7\n"
    finally:
        store.close()
    # Nor left in freed pages or the WAL.
    assert b"91110108OLDROW0001" not in _everything_on_disk(dep.home)
