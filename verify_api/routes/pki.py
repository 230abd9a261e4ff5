"""The issuing CA's public PKI services over HTTP: the published CRL, the OCSP responder
(RFC 6960 Appendix A: POST and GET) and the CA certificate named in the seal
certificates' AIA. Nothing here needs an agency token: relying parties are anonymous.
"""

# No `from __future__ import annotations`: FastAPI resolves route signatures at definition.
import base64
import binascii
from pathlib import Path
from typing import Annotated

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from verify_api.runtime import Runtime

__all__ = ["CA_SLUG", "OCSP_REQUEST_TYPE", "OCSP_RESPONSE_TYPE", "pki_router"]

CA_SLUG = "issuing-ca"
ROOT_SLUG = "root-ca"
OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"
_MAX_OCSP_REQUEST = 16 * 1024  # a single-certificate request is ~100 bytes


def _problem(status: int, en: str) -> Response:
    return Response(en + "\n", status_code=status, media_type="text/plain; charset=utf-8")


def pki_router(rt: Runtime) -> APIRouter:
    router = APIRouter(tags=["pki"])
    pki_dir: Path = rt.home.pki

    @router.get("/crl/{name}.crl")
    def crl(name: str) -> Response:
        if name not in (CA_SLUG, ROOT_SLUG):
            return _problem(404, f"no CRL named {name!r}; this PKI publishes {CA_SLUG}.crl")
        try:
            der = (pki_dir / "crl" / f"{name}.crl").read_bytes()
        except FileNotFoundError:
            return _problem(404, "no CRL has been published yet")
        # Short caching: a revocation re-publishes the CRL at once.
        return Response(
            der, media_type="application/pkix-crl", headers={"Cache-Control": "max-age=60"}
        )

    @router.get("/pki/{name}.crt")
    def ca_certificate(name: str) -> Response:
        if name not in (CA_SLUG, ROOT_SLUG):
            return _problem(404, f"no certificate named {name!r}")
        # The root's certificate is public too (the issuing CA's AIA names it); its key is not
        # here at all.
        cert = x509.load_pem_x509_certificate((pki_dir / f"{name}.pem").read_bytes())
        return Response(
            cert.public_bytes(serialization.Encoding.DER), media_type="application/pkix-cert"
        )

    def answer(request_der: bytes) -> Response:
        if rt.ocsp is None:
            return _problem(503, "the OCSP responder is not enabled on this server")
        return Response(rt.ocsp.respond(request_der), media_type=OCSP_RESPONSE_TYPE)

    @router.post("/ocsp")
    async def ocsp_post(request: Request, content_type: Annotated[str, Header()] = "") -> Response:
        if content_type.split(";")[0].strip() != OCSP_REQUEST_TYPE:
            return _problem(415, f"the request must be {OCSP_REQUEST_TYPE}")
        body = await request.body()
        if len(body) > _MAX_OCSP_REQUEST:
            return _problem(413, "OCSP request too large")
        return answer(body)

    @router.get("/ocsp/{encoded:path}")
    def ocsp_get(encoded: str) -> Response:
        # RFC 6960 A.1: base64 of the DER request, URL-encoded (the framework has already
        # percent-decoded the path).
        if len(encoded) > _MAX_OCSP_REQUEST:
            return _problem(414, "OCSP request too large")
        try:
            der = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return _problem(400, "the path is not a base64-encoded OCSP request")
        return answer(der)

    return router
