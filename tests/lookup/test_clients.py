"""Clients and roles: tokens stored only as digests, revocation, the `clients` CLI, rate limits
and uniform answers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certificates.ids import CertificateId, token_digest
from certificates.sharing.clients import ClientError, ClientRegistry
from verify_api.app import create_app
from verify_api.cli.main import app as cli_app
from verify_api.http.ratelimit import RateLimiter, RateLimits

from .conftest import SECRETS, TestClient, World


def test_tokens_are_stored_only_as_digests(world: World) -> None:
    db = (world.home.root / "certificates.db").read_bytes()
    for token in world.tokens.values():
        assert token.encode() not in db
    registry = ClientRegistry(world.rt.store)
    digests = {c.id for c in registry.list()}
    assert digests  # listing works and carries no credential
    listed = json.dumps([c.to_json() for c in registry.list()])
    assert not any(t in listed for t in world.tokens.values())
    assert token_digest(world.tokens[("transport", "issuer")]) not in listed


def test_init_tokens_are_issuer_clients(world: World) -> None:
    clients = ClientRegistry(world.rt.store).list()
    for agency in ("market-regulation", "human-resources", "transport"):
        mine = [c for c in clients if c.agency == agency and c.roles == ("issuer",)]
        assert len(mine) == 1


def test_bad_roles_and_agencies_are_refused(world: World) -> None:
    registry = ClientRegistry(world.rt.store)
    with pytest.raises(ClientError, match="unknown role"):
        registry.add("transport", "x", ["superuser"])
    with pytest.raises(ClientError, match="unknown agency"):
        registry.add("nowhere", "x", ["verifier"])
    with pytest.raises(ClientError, match="at least one role"):
        registry.add("transport", "x", [])


def test_cli_add_list_revoke(world: World) -> None:
    runner = CliRunner()
    home = ["--home", str(world.home.root)]
    r = runner.invoke(
        cli_app,
        [
            *home,
            "clients",
            "add",
            "--agency",
            "transport",
            "--name",
            "counter 7",
            "--role",
            "verifier",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    added = json.loads(r.output)
    token = added["token"]
    SECRETS.append(token)
    assert added["roles"] == ["verifier"] and token.startswith("clt_transport_")
    headers = {"Authorization": f"Bearer {token}"}
    assert world.client.get("/api/v1/agreements", headers=headers).status_code == 200

    r = runner.invoke(cli_app, [*home, "clients", "list", "--agency", "transport", "--json"])
    assert r.exit_code == 0
    listed = json.loads(r.output)
    assert added["id"] in {c["id"] for c in listed}
    assert token not in r.output

    r = runner.invoke(cli_app, [*home, "clients", "revoke", added["id"]])
    assert r.exit_code == 0, r.output
    time.sleep(1.1)  # the server caches a valid token for at most one second
    r = world.client.get("/api/v1/agreements", headers=headers)
    assert r.status_code == 401 and r.json()["detail"]["code"] == "BAD_TOKEN"

    r = runner.invoke(
        cli_app, [*home, "clients", "add", "--agency", "transport", "--name", "x", "--role", "god"]
    )
    assert r.exit_code != 0 and "unknown role" in r.output


def test_requests_without_a_credential_are_denied_and_audited(world: World) -> None:
    assert world.rt.audit is not None
    before = len(world.rt.audit.entries())
    r = world.client.get("/api/v1/agreements")
    assert r.status_code == 401 and r.json()["detail"]["code"] == "MISSING_TOKEN"
    r = world.client.get("/api/v1/agreements", headers={"Authorization": "Basic eDp5"})
    assert r.status_code == 401 and r.json()["detail"]["code"] == "MISSING_TOKEN"
    denials = [
        e.event
        for e in world.rt.audit.entries()[before:]
        if e.event.action == "authenticate" and e.event.result == "denied"
    ]
    assert [d.reason for d in denials] == ["MISSING_TOKEN GET /api/v1/agreements"] * 2
    assert all(d.client_id == "unknown" for d in denials)


def test_certificate_clients_register_a_fingerprint(world: World, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.ledger.ledger_helpers import make_node

    _, cert = make_node("mtls client")
    pem = tmp_path / "client.pem"
    pem.write_bytes(cert.public_bytes(Encoding.PEM))
    r = CliRunner().invoke(
        cli_app,
        [
            "--home",
            str(world.home.root),
            "clients",
            "add",
            "--agency",
            "transport",
            "--name",
            "mtls client",
            "--role",
            "verifier",
            "--cert",
            str(pem),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    assert body["token"] is None and body["credential"] == "certificate"
    import hashlib

    fp = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    who = ClientRegistry(world.rt.store).by_certificate(fp)
    assert who is not None and who.agency == "transport" and who.roles == {"verifier"}


def test_token_bucket() -> None:
    limiter = RateLimiter(rate=1.0, burst=2.0)
    assert limiter.hit("a") == 0 and limiter.hit("a") == 0
    wait = limiter.hit("a")
    assert 0 < wait <= 1.0
    assert limiter.hit("b") == 0  # buckets are per key
    assert RateLimiter(0, 0).hit("a") == 0  # rate 0: off


def test_public_and_client_rate_limits(world: World) -> None:
    limits = RateLimits(public_rate=1, public_burst=3, client_rate=1, client_burst=2)
    app = create_app(world.rt, background_anchoring=False, limits=limits)
    cid = world.certs["business-licence"]["id"]
    with TestClient(app) as c:
        codes = [c.get(f"/api/v1/certificates/{cid}").status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[-1] == 429
        r = c.get(f"/api/v1/certificates/{cid}")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["detail"]["code"] == "RATE_LIMITED"
        assert c.get("/healthz").status_code == 200  # never limited
        headers = world.auth("transport", "verifier")
        codes = [c.get("/api/v1/agreements", headers=headers).status_code for _ in range(4)]
        assert codes[:2] == [200, 200] and codes[-1] == 429
        # Another client is not slowed down by the first.
        other = world.auth("market-regulation", "verifier")
        assert c.get("/api/v1/agreements", headers=other).status_code == 200


def test_token_guessing_is_rate_limited_per_ip(world: World) -> None:
    limits = RateLimits(public_rate=1, public_burst=2, client_rate=100, client_burst=100)
    app = create_app(world.rt, background_anchoring=False, limits=limits)
    with TestClient(app) as c:
        codes = [
            c.get("/api/v1/agreements", headers={"Authorization": f"Bearer guess-{i}"}).status_code
            for i in range(5)
        ]
    assert codes[:2] == [401, 401] and codes[-1] == 429


def test_unknown_and_malformed_ids_get_the_same_answer(world: World) -> None:
    unknown = world.client.get("/api/v1/certificates/BL-MR-2026-99999999-01-0")
    malformed = world.client.get("/api/v1/certificates/not-an-id")
    assert unknown.status_code == malformed.status_code == 404
    assert unknown.content == malformed.content
    # The QR page: unknown id, wrong token and no token are indistinguishable.
    cid = world.certs["business-licence"]["id"]
    pages = [
        world.client.get(f"/v/{cid}?t=wrong"),
        world.client.get(f"/v/{cid}"),
        world.client.get("/v/BL-MR-2026-99999999-01-0?t=wrong"),
    ]
    assert {p.status_code for p in pages} == {404}
    assert len({p.content for p in pages}) == 1
    # A foreign verifier without an agreement gets 403 for existing and made-up ids alike:
    # the decision rests on the id's type, so existence cannot be probed.
    headers = world.auth("transport", "verifier")
    real = world.certs["qualification-certificate"]["id"]
    a = world.client.get(f"/api/v1/certificates/{real}/details?purpose=x", headers=headers)
    parsed = CertificateId.parse(real)
    made_up = str(CertificateId.make(parsed.type_prefix, "human-resources", 2026, 99_999_999))
    b = world.client.get(f"/api/v1/certificates/{made_up}/details?purpose=x", headers=headers)
    assert a.status_code == b.status_code == 403
    assert a.content == b.content
