"""Sealing with revocation data fetched over HTTP from the project's responders on loopback:
one shared client, answers reused while fresh, and no seal at all when the responder is
missing."""

from __future__ import annotations

import httpx
import pytest

from signing import (
    InProcessTimeStamper,
    Pki,
    Sealer,
    SealLevel,
    SigningError,
    TimeStampAuthority,
    check_seal,
)
from signing.ltv import HttpRevocationSource

from .conftest import FONT, SEAL_BOX, LoopbackServer, free_port


def _sealer(pki: Pki, source: HttpRevocationSource) -> Sealer:
    return Sealer(
        pki.seal("BJ-EDU"),
        InProcessTimeStamper(TimeStampAuthority(pki.tsa)),
        stamp_font=FONT,
        level=SealLevel.B_LTA,
        revocation=source,
    )


def test_one_client_and_reused_answers(
    served: LoopbackServer, pki: Pki, certificate_pdf: bytes
) -> None:
    requests: list[str] = []
    client = httpx.Client(
        timeout=10, event_hooks={"request": [lambda r: requests.append(r.url.path)]}
    )
    source = HttpRevocationSource(
        f"{served.url}/ocsp",
        [pki.issuing_ca, pki.root],
        [f"{served.url}/crl/root-ca.crl"],
        client=client,
    )
    sealer = _sealer(pki, source)
    pdfs = [
        sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l").pdf
        for _ in range(3)
    ]
    # seal, TSA and issuing-CA certificates: one OCSP request each, one CRL fetch, for
    # three documents.
    assert requests.count("/ocsp") == 3
    assert requests.count("/crl/root-ca.crl") == 1
    for pdf in pdfs:
        assert check_seal(pdf, pki.trust_roots).long_term_passed
    client.close()


def test_missing_ocsp_responder_seals_nothing(pki: Pki, certificate_pdf: bytes) -> None:
    source = HttpRevocationSource(
        f"http://127.0.0.1:{free_port()}/ocsp", [pki.issuing_ca, pki.root], timeout=2
    )
    try:
        with pytest.raises(SigningError, match="cannot be reached"):
            _sealer(pki, source).seal(
                certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l"
            )
    finally:
        source.close()


def test_tsa_and_ocsp_over_one_shared_client(
    served: LoopbackServer, pki: Pki, certificate_pdf: bytes
) -> None:
    from signing.tsa import SessionTimeStamper

    paths: list[str] = []
    client = httpx.Client(timeout=10, event_hooks={"request": [lambda r: paths.append(r.url.path)]})
    source = HttpRevocationSource(f"{served.url}/ocsp", [pki.issuing_ca, pki.root], client=client)
    sealer = Sealer(
        pki.seal("BJ-EDU"),
        SessionTimeStamper(f"{served.url}/tsa", client=client),
        stamp_font=FONT,
        level=SealLevel.B_LTA,
        revocation=source,
    )
    pdfs = [
        sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l").pdf
        for _ in range(3)
    ]
    # One dummy token for size estimation, then per document one signature timestamp and
    # one document timestamp; OCSP answers reused across the three documents.
    assert paths.count("/tsa") == 1 + 2 * 3
    assert paths.count("/ocsp") == 3
    for pdf in pdfs:
        assert check_seal(pdf, pki.trust_roots).long_term_passed
    client.close()
