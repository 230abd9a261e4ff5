from __future__ import annotations

import asyncio
import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import algos, cms, tsp
from freezegun import freeze_time
from pyhanko.sign.timestamps import HTTPTimeStamper
from signing_testkit import SEAL_BOX, require_tool, run_tool

from signing import (
    DEFAULT_POLICY_OID,
    QUERY_CONTENT_TYPE,
    REPLY_CONTENT_TYPE,
    InProcessTimeStamper,
    Pki,
    Sealer,
    SigningError,
    Status,
    TimeStampAuthority,
    TsaIdentity,
    check_seal,
)

FIXED = datetime(2026, 3, 14, 1, 59, 26, 535000, tzinfo=UTC)


def _request(
    digest: bytes,
    *,
    algorithm: str = "sha256",
    nonce: int | None = 0x1234_5678_9ABC,
    cert_req: bool = True,
    policy: str | None = None,
) -> bytes:
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
            "hashed_message": digest,
        },
        "cert_req": cert_req,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    if policy is not None:
        fields["req_policy"] = policy
    der: bytes = tsp.TimeStampReq(fields).dump()
    return der


def _tst_info(response: bytes) -> tsp.TSTInfo:
    resp = tsp.TimeStampResp.load(response)
    assert resp["status"]["status"].native == "granted"
    return resp["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed


def _status(response: bytes) -> dict[str, object]:
    # asn1crypto's TimeStampResp insists on a token, which a rejection lacks
    from asn1crypto import core

    class _Resp(core.Sequence):  # type: ignore[misc]
        _fields = [  # noqa: RUF012
            ("status", tsp.PKIStatusInfo),
            ("time_stamp_token", cms.ContentInfo, {"optional": True}),
        ]

    native: dict[str, object] = _Resp.load(response)["status"].native
    return native


def test_grants_a_token(tsa: TimeStampAuthority) -> None:
    digest = hashlib.sha256(b"hello").digest()
    info = _tst_info(tsa.respond(_request(digest)))
    assert info["version"].native == "v1"
    assert info["policy"].native == DEFAULT_POLICY_OID
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert info["nonce"].native == 0x1234_5678_9ABC
    assert info["ordering"].native is False
    assert info["accuracy"]["seconds"].native == 1


def test_signed_attributes(tsa: TimeStampAuthority, pki: Pki) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    resp = tsp.TimeStampResp.load(tsa.respond(_request(bytes(32))))
    signed_data = resp["time_stamp_token"]["content"]
    signer = signed_data["signer_infos"][0]
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert attrs["content_type"].native == "tst_info"
    tst_der = signed_data["encap_content_info"]["content"].contents
    assert attrs["message_digest"].native == hashlib.sha256(tst_der).digest()
    assert "signing_time" in attrs
    ess = attrs["signing_certificate_v2"]["certs"][0]
    tsa_der = pki.tsa.certificate.public_bytes(Encoding.DER)
    assert ess["cert_hash"].native == hashlib.sha256(tsa_der).digest()
    assert signer["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    certs = {c.chosen.dump() for c in signed_data["certificates"]}
    assert tsa_der in certs


def test_no_certificates_unless_requested(tsa: TimeStampAuthority) -> None:
    resp = tsp.TimeStampResp.load(tsa.respond(_request(bytes(32), cert_req=False)))
    assert not resp["time_stamp_token"]["content"]["certificates"].native


def test_nonce_is_optional(tsa: TimeStampAuthority) -> None:
    assert _tst_info(tsa.respond(_request(bytes(32), nonce=None)))["nonce"].native is None


@pytest.mark.parametrize(("algorithm", "length"), [("sha384", 48), ("sha512", 64)])
def test_accepts_longer_hashes(tsa: TimeStampAuthority, algorithm: str, length: int) -> None:
    info = _tst_info(tsa.respond(_request(b"\x01" * length, algorithm=algorithm)))
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].native == algorithm


def test_gen_time_comes_from_the_clock(pki: Pki) -> None:
    tsa = TimeStampAuthority(pki.tsa, clock=lambda: FIXED)
    assert _tst_info(tsa.respond(_request(bytes(32))))["gen_time"].native == FIXED


def test_default_clock_is_utc_now(pki: Pki) -> None:
    with freeze_time(FIXED):
        tsa = TimeStampAuthority(pki.tsa)
        assert _tst_info(tsa.respond(_request(bytes(32))))["gen_time"].native == FIXED


def test_custom_policy(pki: Pki) -> None:
    tsa = TimeStampAuthority(pki.tsa, policy_oid="1.3.6.1.4.1.55555.1.2")
    info = _tst_info(tsa.respond(_request(bytes(32), policy="1.3.6.1.4.1.55555.1.2")))
    assert info["policy"].native == "1.3.6.1.4.1.55555.1.2"


@pytest.mark.parametrize(
    ("request_der", "fail_info", "text"),
    [
        (b"", "bad_request", "empty"),
        (b"garbage, not DER", "bad_request", "not a DER TimeStampReq"),
        (b"\x30\x03\x02\x01\x01", "bad_request", "not a DER TimeStampReq"),
        (_request(bytes(20), algorithm="sha1"), "bad_alg", "sha1"),
        (_request(bytes(16), algorithm="md5"), "bad_alg", "md5"),
        (_request(bytes(31)), "bad_request", "wrong length"),
        (_request(bytes(32), policy="1.2.3.4"), "unaccepted_policy", "1.2.3.4"),
    ],
    ids=["empty", "garbage", "truncated", "sha1", "md5", "short-digest", "policy"],
)
def test_rejections(tsa: TimeStampAuthority, request_der: bytes, fail_info: str, text: str) -> None:
    status = _status(tsa.respond(request_der))
    assert status["status"] == "rejection"
    assert fail_info in status["fail_info"]  # type: ignore[operator]
    assert any(text in line for line in status["status_string"])  # type: ignore[attr-defined]


def test_serials_unique_and_increasing_across_threads(tsa: TimeStampAuthority) -> None:
    def serial(i: int) -> int:
        value: int = _tst_info(tsa.respond(_request(i.to_bytes(32, "big"))))["serial_number"].native
        return value

    sequential = [serial(i) for i in range(5)]
    assert sequential == sorted(sequential) and len(set(sequential)) == 5
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(serial, range(200)))
    assert len(set(concurrent)) == 200
    assert min(concurrent) > max(sequential)


def test_in_process_timestamper(tsa: TimeStampAuthority) -> None:
    digest = hashlib.sha256(b"document").digest()
    token = asyncio.run(InProcessTimeStamper(tsa).async_timestamp(digest, "sha256"))
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest


# -- independent verification with OpenSSL -------------------------------------------------


@pytest.fixture()
def openssl_files(tmp_path: Path, pki_dir: Path) -> dict[str, Path]:
    untrusted = tmp_path / "tsa-and-issuing.pem"
    untrusted.write_bytes(
        (pki_dir / "tsa.pem").read_bytes() + (pki_dir / "issuing-ca.pem").read_bytes()
    )
    return {"root": pki_dir / "trust-roots.pem", "untrusted": untrusted}


@pytest.mark.tools
def test_openssl_verifies_token_over_data(
    tsa: TimeStampAuthority, tmp_path: Path, openssl_files: dict[str, Path]
) -> None:
    openssl = require_tool("openssl")
    data = tmp_path / "data.bin"
    data.write_bytes(b"certificate bytes " * 100)
    query = tmp_path / "req.tsq"
    made = run_tool(openssl, "ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    assert made.returncode == 0, made.stderr
    reply = tmp_path / "resp.tsr"
    reply.write_bytes(tsa.respond(query.read_bytes()))

    text = run_tool(openssl, "ts", "-reply", "-in", reply, "-text")
    assert text.returncode == 0, text.stderr
    assert "Status: Granted." in text.stdout
    assert f"Policy OID: {DEFAULT_POLICY_OID}" in text.stdout
    assert "Nonce: 0x" in text.stdout

    for extra in (["-data", data], ["-queryfile", query]):
        verified = run_tool(
            openssl, "ts", "-verify", "-in", reply, *extra,
            "-CAfile", openssl_files["root"], "-untrusted", openssl_files["untrusted"],
        )  # fmt: skip
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "Verification: OK" in verified.stdout


@pytest.mark.tools
def test_openssl_rejects_token_for_other_data(
    tsa: TimeStampAuthority, tmp_path: Path, openssl_files: dict[str, Path]
) -> None:
    openssl = require_tool("openssl")
    reply = tmp_path / "resp.tsr"
    reply.write_bytes(tsa.respond(_request(hashlib.sha256(b"one").digest())))
    other = tmp_path / "other.bin"
    other.write_bytes(b"two")
    verified = run_tool(
        openssl, "ts", "-verify", "-in", reply, "-data", other,
        "-CAfile", openssl_files["root"], "-untrusted", openssl_files["untrusted"],
    )  # fmt: skip
    assert verified.returncode != 0


@pytest.mark.tools
def test_openssl_parses_rejection(tsa: TimeStampAuthority, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    reply = tmp_path / "rejected.tsr"
    reply.write_bytes(tsa.respond(b"garbage"))
    text = run_tool(openssl, "ts", "-reply", "-in", reply, "-text")
    assert text.returncode == 0, text.stderr
    assert "Status: Rejected." in text.stdout


# -- over HTTP, as the API layer will serve it ----------------------------------------------


class _TsaHandler(http.server.BaseHTTPRequestHandler):
    tsa: TimeStampAuthority

    def setup(self) -> None:
        super().setup()
        # Without this, Nagle + delayed ACK stall every response by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        if self.headers.get("Content-Type") != QUERY_CONTENT_TYPE:
            self.send_error(415)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        reply = self.tsa.respond(body)
        self.send_response(200)
        self.send_header("Content-Type", REPLY_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def tsa_url(tsa: TimeStampAuthority) -> Iterator[str]:
    handler = type("Handler", (_TsaHandler,), {"tsa": tsa})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_pyhanko_http_timestamper(tsa_url: str) -> None:
    digest = hashlib.sha256(b"over http").digest()
    token = asyncio.run(HTTPTimeStamper(tsa_url).async_timestamp(digest, "sha256"))
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest


def test_sealing_with_the_http_timestamper(
    tsa_url: str, pki: Pki, stamp_font: Path, certificate_pdf: bytes
) -> None:
    sealer = Sealer.from_pki(pki, "BJ-EDU", stamp_font, timestamper=HTTPTimeStamper(tsa_url))
    sealed = sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")
    report = check_seal(sealed.pdf, pki.trust_roots)
    assert report.passed, report
    assert report.timestamp.status is Status.PASSED
    assert abs(sealed.signed_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_refuses_a_non_tsa_identity(pki: Pki) -> None:
    seal = pki.seal("BJ-EDU")
    impostor = TsaIdentity(
        certificate=seal.certificate, private_key=seal.private_key, chain=seal.chain
    )
    with pytest.raises(SigningError, match="timeStamping"):
        TimeStampAuthority(impostor)


def test_refuses_a_malformed_policy(pki: Pki) -> None:
    with pytest.raises(SigningError, match="OID"):
        TimeStampAuthority(pki.tsa, policy_oid="not-an-oid")
