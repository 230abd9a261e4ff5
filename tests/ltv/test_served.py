"""`certledger serve` publishes the revocation services: the CRLs, OCSP and the CA
certificate, beside the API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from signing import load_certificate
from tests.e2e.conftest import make_deployment, start_server, stop_server

pytestmark = pytest.mark.e2e


def test_serve_publishes_crl_and_ocsp(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path / "home")
    server = start_server(dep)
    try:
        pki = dep.home / "pki"
        seal = load_certificate(pki / "agencies" / "transport" / "seal.pem")
        issuing = load_certificate(pki / "issuing-ca.pem")
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(seal, issuing, hashes.SHA1())
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answer = client.post(
                "/ocsp", content=request, headers={"content-type": "application/ocsp-request"}
            )
            assert answer.status_code == 200
            parsed = ocsp.load_der_ocsp_response(answer.content)
            assert parsed.certificate_status is ocsp.OCSPCertStatus.GOOD
            for name, issuer in (("issuing-ca", issuing), ("root-ca", None)):
                crl = x509.load_der_x509_crl(client.get(f"/crl/{name}.crl").content)
                if issuer is not None:
                    assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
            ca = client.get("/pki/issuing-ca.crt")
            assert x509.load_der_x509_certificate(ca.content) == issuing
    finally:
        stop_server(server)
