"""Mutual-TLS client certificates: `clients add --certificate-out` issues from the PKI and
registers only the fingerprint; the server's TLS context trusts only the issuing CA, checked
with real handshakes over memory BIOs."""

from __future__ import annotations

import hashlib
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from certificates.sharing.clients import ClientRegistry
from signing import Secret
from signing.tls import ensure_server_certificate
from verify_api.cli.main import app as cli_app
from verify_api.http.auth import peer_certificate_fingerprint
from verify_api.http.tls import server_ssl_context, tls_extension

from .conftest import PASSPHRASE, SECRETS, World

ENV = {"CERTLEDGER_PASSPHRASE": PASSPHRASE}
NAME = "Zhang Wei, counter 9"  # a person's name: it must not reach the certificate


def _add(world: World, out: Path, *extra: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(
        cli_app,
        [
            "--home",
            str(world.home.root),
            "clients",
            "add",
            "--agency",
            "transport",
            "--name",
            NAME,
            "--role",
            "verifier",
            "--certificate-out",
            str(out),
            *extra,
        ],
        env=ENV if env is None else env,
    )


@pytest.fixture(scope="module")
def added(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    r = _add(world, tmp_path_factory.mktemp("certs"), "--json")
    assert r.exit_code == 0, r.output
    body: dict[str, Any] = json.loads(r.output)
    SECRETS.append(body["certificate"]["key_passphrase"])
    return body


def test_issued_certificate_is_registered_by_fingerprint_only(
    world: World, added: dict[str, Any]
) -> None:
    files = added["certificate"]["files"]
    cert = x509.load_pem_x509_certificates(Path(files["certificate"]).read_bytes())[0]
    fingerprint = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    assert added["certificate"]["fingerprint"] == fingerprint
    assert added["token"] is None and added["credential"] == "certificate"
    who = ClientRegistry(world.rt.store).by_certificate(fingerprint)
    assert who is not None and who.client_id == added["id"]
    assert who.agency == "transport" and who.roles == {"verifier"}
    # The certificate names the client id and agency; the client's name stays in the registry.
    assert cert.subject.rfc4514_string() == (
        f"CN={added['id']},OU=transport,O=CertLedger API Clients,C=CN"
    )
    der = cert.public_bytes(Encoding.DER)
    assert b"Zhang" not in der and NAME.encode() not in der
    # Nothing of the key or its passphrase is kept by the deployment.
    db = (world.home.root / "certificates.db").read_bytes()
    assert added["certificate"]["key_passphrase"].encode() not in db
    assert not any(world.home.root.rglob(f"{added['id']}*"))


def test_revoking_the_client_stops_the_certificate(world: World, tmp_path: Path) -> None:
    r = _add(world, tmp_path, "--json")
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    SECRETS.append(body["certificate"]["key_passphrase"])
    registry = ClientRegistry(world.rt.store)
    assert registry.by_certificate(body["certificate"]["fingerprint"]) is not None
    r = CliRunner().invoke(
        cli_app, ["--home", str(world.home.root), "clients", "revoke", body["id"]]
    )
    assert r.exit_code == 0, r.output
    assert registry.by_certificate(body["certificate"]["fingerprint"]) is None


def test_bad_requests_fail_with_a_reason(world: World, tmp_path: Path) -> None:
    before = len(ClientRegistry(world.rt.store).list())
    r = _add(world, tmp_path / "a", "--validity-days", "0")
    assert r.exit_code == 4 and "1 to 825 days" in r.output
    r = _add(world, tmp_path / "b", "--cert", str(tmp_path / "x.pem"))
    assert r.exit_code == 4 and "not both" in r.output
    r = _add(world, tmp_path / "c", env={"CERTLEDGER_PASSPHRASE": ""})
    assert r.exit_code == 5 and "CERTLEDGER_PASSPHRASE" in r.output
    r = _add(world, tmp_path / "d", env={"CERTLEDGER_PASSPHRASE": "wrong passphrase, long"})
    assert r.exit_code == 5 and "does not decrypt" in r.output
    assert len(ClientRegistry(world.rt.store).list()) == before
    assert not any(tmp_path.iterdir())


# -- the server's TLS context, with real handshakes ----------------------------------------


def _handshake(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> tuple[ssl.SSLObject | None, str | None]:
    """A TLS handshake over memory BIOs; the server's SSL object, or the server's error."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
    done = {"server": False, "client": False}
    for _ in range(20):
        for side, obj in (("client", client), ("server", server)):
            if done[side]:
                continue
            try:
                obj.do_handshake()
                done[side] = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                if side == "server":
                    return None, str(exc)
                raise
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            # TLS 1.3: the server checks the client's certificate on its Finished message.
            try:
                server.read(1)
            except ssl.SSLWantReadError:
                return server, None
            except ssl.SSLError as exc:
                return None, str(exc)
    raise AssertionError("handshake did not finish")


@pytest.fixture(scope="module")
def server_ctx(world: World) -> ssl.SSLContext:
    files = ensure_server_certificate(world.home.pki, Secret(PASSPHRASE), ("127.0.0.1",))
    return server_ssl_context(files.certificate, files.key, files.client_ca, Secret(PASSPHRASE))


def _client_ctx(world: World, cert: str | None = None, key: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(world.home.trust_roots))
    if cert is not None:
        password = PASSPHRASE if key and "pki" in key else None
        ctx.load_cert_chain(cert, key, password)
    return ctx


def test_issued_client_certificate_is_accepted_and_reaches_the_scope(
    world: World, server_ctx: ssl.SSLContext, added: dict[str, Any]
) -> None:
    files = added["certificate"]["files"]
    ctx = ssl.create_default_context(cafile=files["trust_root"])
    ctx.load_cert_chain(files["certificate"], files["key"], added["certificate"]["key_passphrase"])
    server, error = _handshake(server_ctx, ctx)
    assert error is None and server is not None
    ext = tls_extension(server)
    assert ext["client_cert_name"] == f"CN={added['id']},OU=transport,O=CertLedger API Clients,C=CN"
    assert ext["tls_version"] == 0x0304 and ext["client_cert_error"] is None
    scope = {"extensions": {"tls": ext}}
    assert peer_certificate_fingerprint(scope) == added["certificate"]["fingerprint"]
    # A certificate the server reports as unverified is never used.
    unverified = {**ext, "client_cert_error": "unknown CA"}
    assert peer_certificate_fingerprint({"extensions": {"tls": unverified}}) is None
    assert peer_certificate_fingerprint({}) is None


def test_no_client_certificate_is_allowed(world: World, server_ctx: ssl.SSLContext) -> None:
    server, error = _handshake(server_ctx, _client_ctx(world))
    assert error is None and server is not None
    assert tls_extension(server)["client_cert_chain"] == []
    assert peer_certificate_fingerprint({"extensions": {"tls": tls_extension(server)}}) is None


def test_issuing_ca_certificate_without_client_auth_is_refused(
    world: World, server_ctx: ssl.SSLContext
) -> None:
    # The server's own certificate chains to the trusted CA but is for serverAuth only.
    pki = world.home.pki
    ctx = _client_ctx(world, str(pki / "tls" / "server.pem"), str(pki / "tls" / "server.key.pem"))
    server, error = _handshake(server_ctx, ctx)
    assert server is None and error is not None and "unsuitable certificate purpose" in error
