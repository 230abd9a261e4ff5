"""Secrets and holder identifiers never appear in logs, the audit log or the ledger."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from certificates.sharing.clients import ClientRegistry

from .conftest import SECRETS, World


def _exercise(world: World) -> None:
    c = world.client
    for (agency, role), token in world.tokens.items():
        headers = {"Authorization": f"Bearer {token}"}
        for ctype, cert in world.certs.items():
            c.get(
                "/api/v1/lookup",
                params={"type": ctype, "holder": cert["holder"], "purpose": "leak-check"},
                headers=headers,
            )
            c.get(f"/api/v1/certificates/{cert['id']}/details?purpose=leak-check", headers=headers)
        c.get("/api/v1/agreements", headers=headers)
        # A token with one character changed, and a holder in an unknown type.
        c.get("/api/v1/agreements", headers={"Authorization": f"Bearer {token[:-1]}x"})
        c.get(
            "/api/v1/lookup",
            params={"type": "no-such-type", "holder": "110101199003070011", "purpose": "x"},
            headers=headers,
        )
        c.post(
            "/api/v1/lookup",
            json={"type": "business-licence", "holder": "91110108MA01C3Q5RA", "purpose": "p"},
            headers=headers,
        )
        # Malformed input echoes nothing of the holder back into logs.
        c.get("/api/v1/lookup", params={"type": "x" * 100, "holder": "h" * 100}, headers=headers)


def test_no_secret_or_holder_in_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _exercise(world)
    _, token = ClientRegistry(world.rt.store).add("transport", "leak test", ["verifier"])
    assert token is not None
    SECRETS.append(token)
    # The test's own HTTP client (httpx) logs request URLs on the *client* side; that is the
    # caller's log, not the service's, and why POST /api/v1/lookup exists. Everything else,
    # every logger of the service and its libraries, is searched.
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}"
        for r in caplog.records
        if r.name != "httpx"
    )
    assert logged or caplog.records
    holders = [cert["holder"] for cert in world.certs.values()] + ["110101199003070011"]
    for secret in SECRETS:
        assert secret not in logged
    for holder in holders:
        assert holder not in logged and holder.lower() not in logged


def test_no_holder_or_secret_in_audit_log_or_ledger(world: World) -> None:
    _exercise(world)
    with sqlite3.connect(world.home.root / "certificates.db") as db:
        audit = "\n".join(repr(row) for row in db.execute("SELECT * FROM audit_log"))
    ledger = (world.home.root / "ledger.db").read_bytes()
    assert "lookup" in audit
    for cert in world.certs.values():
        assert cert["holder"] not in audit
        assert cert["holder"].encode() not in ledger
    for secret in SECRETS:
        assert secret not in audit
        assert secret.encode() not in ledger


def test_reprs_hide_secrets(world: World) -> None:
    assert world.rt.sharing is not None
    assert "****" in repr(world.rt.sharing._holder_key)
    who = ClientRegistry(world.rt.store).by_token(world.tokens[("transport", "verifier")])
    assert who is not None
    assert world.tokens[("transport", "verifier")] not in repr(who)
