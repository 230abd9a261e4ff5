"""Mutual TLS against the real server: `certledger serve --tls` on a free port, client
certificates issued by `certledger clients add --certificate-out`, httpx presenting them."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from certificates.audit.log import AuditEvent
from certificates.home import Home
from tests.distinct import distinct
from verify_api.runtime import open_runtime

from .conftest import CLI, Deployment, Server, free_port, make_deployment, server_log, stop_server

pytestmark = pytest.mark.e2e

AGENCY = "transport"
PERMIT = "road-transport-permit"


@dataclass
class Issued:
    """One `clients add --certificate-out` answer."""

    id: str
    certificate: Path
    key: Path
    trust_root: Path
    passphrase: str
    fingerprint: str


@dataclass
class TlsWorld:
    server: Server
    out: Path
    permit: dict[str, Any]

    @property
    def dep(self) -> Deployment:
        return self.server.deployment

    @property
    def trust_root(self) -> Path:
        return self.dep.home / "pki" / "trust-roots.pem"

    def add_client(self, role: str, name: str) -> Issued:
        proc = self.dep.cli(
            "clients",
            "add",
            "--agency",
            AGENCY,
            "--name",
            name,
            "--role",
            role,
            "--certificate-out",
            str(self.out),
            "--json",
            check=True,
        )
        body = json.loads(proc.stdout)
        cert = body["certificate"]
        return Issued(
            body["id"],
            Path(cert["files"]["certificate"]),
            Path(cert["files"]["key"]),
            Path(cert["files"]["trust_root"]),
            cert["key_passphrase"],
            cert["fingerprint"],
        )

    def client(
        self, cert: Path | None = None, key: Path | None = None, password: str | None = None
    ) -> httpx.Client:
        # The client trusts the deployment's root for the server (the file handed out with its
        # certificate) and presents its own certificate, if any.
        ctx = ssl.create_default_context(cafile=str(self.trust_root))
        if cert is not None:
            ctx.load_cert_chain(str(cert), str(key) if key else None, password)
        return httpx.Client(base_url=self.server.url, verify=ctx, timeout=60)

    def client_of(self, issued: Issued) -> httpx.Client:
        return self.client(issued.certificate, issued.key, issued.passphrase)

    def issue(self, c: httpx.Client, headers: dict[str, str] | None = None) -> httpx.Response:
        return c.post(
            "/api/v1/certificates",
            json={"type": PERMIT, "data": distinct(PERMIT, self.permit)},  # another each time
            headers=headers,
        )


def start_tls_server(dep: Deployment) -> Server:
    """Like conftest.start_server, with `--tls`, polling /healthz over HTTPS."""
    port = int(dep.base_url.rsplit(":", 1)[1])
    with (dep.home.parent / f"server-{port}.log").open("wb") as log:
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--tls"],
            env=dep.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cafile=str(dep.home / "pki" / "trust-roots.pem"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {server_log(dep, port)}")
        try:
            if httpx.get(f"{url}/healthz", verify=ctx, timeout=1).status_code == 200:
                return Server(url, proc, dep)
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("TLS server did not become healthy in 60 s")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsWorld]:
    root = tmp_path_factory.mktemp("mtls")
    dep = make_deployment(root / "home", free_port())
    catalogue = json.loads(dep.cli("types", "--json", check=True).stdout)
    permit = dict(next(t for t in catalogue if t["code"] == PERMIT)["example"])
    server = start_tls_server(dep)
    try:
        yield TlsWorld(server, root / "client-certs", permit)
    finally:
        stop_server(server)


def _detail(r: httpx.Response) -> str:
    return str(r.json()["detail"]["code"])


def test_issuer_certificate_issues_without_a_token(tls: TlsWorld) -> None:
    issuer = tls.add_client("issuer", "transport permit system")
    with tls.client_of(issuer) as c:
        r = tls.issue(c)
        assert r.status_code == 201, r.text
        assert r.json()["issuer"] == AGENCY
        # The same connection again: the certificate is checked per request, not per handshake.
        pdf = c.get(r.json()["pdf_url"])
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_no_certificate_and_no_token_is_401(tls: TlsWorld) -> None:
    with tls.client() as c:
        r = tls.issue(c)
        assert r.status_code == 401 and _detail(r) == "MISSING_TOKEN"
        # Plain bearer tokens keep working over TLS.
        r = tls.issue(c, headers=tls.dep.auth(AGENCY))
        assert r.status_code == 201, r.text


def _foreign_client(tmp: Path, like: Issued) -> tuple[Path, Path]:
    """A client certificate from a CA of our own making, with the same subject as a real
    client's certificate: only the issuer differs."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    real = x509.load_pem_x509_certificates(like.certificate.read_bytes())[0]
    ca_name = real.issuer  # even the issuer's name is copied; its key is not
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "foreign.pem", tmp / "foreign.key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_foreign_ca_certificate_is_refused_in_the_handshake(tls: TlsWorld, tmp_path: Path) -> None:
    like = tls.add_client("issuer", "the system being imitated")
    cert, key = _foreign_client(tmp_path, like)
    # Even registering its fingerprint does not help: the handshake trusts only the issuing CA.
    tls.dep.cli(
        "clients",
        "add",
        "--agency",
        AGENCY,
        "--name",
        "foreign",
        "--role",
        "issuer",
        "--cert",
        str(cert),
        check=True,
    )
    with tls.client(cert, key) as c, pytest.raises(httpx.TransportError):
        tls.issue(c)  # TLS 1.3: the server's alert comes after the client's Finished
    # With TLS 1.2 the refusal is visibly the handshake's: it fails for the foreign certificate
    # and succeeds for the genuine one.
    port = int(tls.server.url.rsplit(":", 1)[1])

    def handshake(cert: Path, key: Path, password: str | None = None) -> None:
        ctx = ssl.create_default_context(cafile=str(tls.trust_root))
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(cert), str(key), password)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            ctx.wrap_socket(raw, server_hostname="127.0.0.1").close()

    with pytest.raises(ssl.SSLError):
        handshake(cert, key)
    handshake(like.certificate, like.key, like.passphrase)
    # The server is unharmed, and the genuine certificate still works.
    with tls.client_of(like) as c:
        assert c.get("/api/v1/agreements").status_code == 200


def test_revoked_client_certificate_is_401_and_audited(tls: TlsWorld) -> None:
    issued = tls.add_client("issuer", "system to be revoked")
    with tls.client_of(issued) as c:
        assert c.get("/api/v1/agreements").status_code == 200
        tls.dep.cli("clients", "revoke", issued.id, check=True)
        time.sleep(1.1)  # a server caches a valid credential for at most one second
        # The same keep-alive connection, whose handshake succeeded: refused now.
        r = tls.issue(c)
        assert r.status_code == 401 and _detail(r) == "BAD_CERTIFICATE"
        assert c.get("/api/v1/agreements").status_code == 401
    # A fresh handshake succeeds (the certificate is genuine) and is refused the same way.
    with tls.client_of(issued) as c:
        assert tls.issue(c).status_code == 401
    denied = _denied(tls.dep)
    assert any(e.action == "authenticate" and e.reason == "BAD_CERTIFICATE" for e in denied), denied


def _denied(dep: Deployment) -> list[AuditEvent]:
    rt = open_runtime(Home(dep.home), passphrase=None)
    try:
        assert rt.audit is not None
        return [e.event for e in rt.audit.entries() if e.event.result == "denied"]
    finally:
        rt.close()


def test_verifier_certificate_on_an_issuer_endpoint_is_403(tls: TlsWorld) -> None:
    verifier = tls.add_client("verifier", "counter 12")
    with tls.client_of(verifier) as c:
        r = tls.issue(c)
        assert r.status_code == 403 and _detail(r) == "ROLE_REQUIRED"
        assert c.get("/api/v1/agreements").status_code == 200  # any client may list them


def test_a_bearer_token_decides_alone(tls: TlsWorld) -> None:
    verifier = tls.add_client("verifier", "counter 13")
    with tls.client_of(verifier) as c:
        # The token's issuer roles apply, not the certificate's verifier role ...
        assert tls.issue(c, headers=tls.dep.auth(AGENCY)).status_code == 201
        # ... and a wrong token is refused although the certificate is valid.
        r = tls.issue(c, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and _detail(r) == "BAD_TOKEN"


def test_plain_http_is_not_served_on_the_tls_port(tls: TlsWorld) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(tls.server.url.replace("https://", "http://") + "/healthz", timeout=5)
    log = server_log(tls.dep, int(tls.server.url.rsplit(":", 1)[1]))
    for secret in (tls.dep.env["CERTLEDGER_PASSPHRASE"], *tls.dep.tokens.values()):
        assert secret not in log
