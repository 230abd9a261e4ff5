"""B-LTA renewal: a fresh document timestamp over a sealed certificate before the TSA
certificate behind its last timestamp expires, with current validation data for that
timestamp. The renewal is an incremental update after the sealed revision, so the
anchored digest (of the sealed revision) never changes.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from signing._ltv_writer import open_ltv_update
from signing._sync import run_sync
from signing.errors import SealingError
from signing.ltv import RevocationSource
from signing.sealer import add_document_timestamp

__all__ = ["last_timestamp_expiry", "renew_archive_timestamp", "sealed_revision_digest"]


def _reader(pdf: bytes) -> PdfFileReader:
    try:
        return PdfFileReader(io.BytesIO(pdf), strict=True)
    except Exception as exc:
        raise SealingError(f"the stored PDF cannot be parsed: {exc}") from None


def sealed_revision_digest(pdf: bytes) -> str:
    """SHA-256 of the bytes up to the end of the seal's /ByteRange (what the ledger holds)."""
    reader = _reader(pdf)
    seal = next((s for s in reader.embedded_signatures if s.sig_object_type == "/Sig"), None)
    if seal is None:
        raise SealingError("the document carries no seal")
    _, _, offset, length = (int(v) for v in seal.byte_range)
    return hashlib.sha256(pdf[: offset + length]).hexdigest()


def last_timestamp_expiry(pdf: bytes) -> datetime | None:
    """When the TSA certificate of the newest timestamp (document timestamp, else the
    seal's signature timestamp) expires; ``None`` when there is no timestamp at all."""
    reader = _reader(pdf)
    signatures = reader.embedded_signatures
    doc_ts = [s for s in signatures if s.sig_object_type == "/DocTimeStamp"]
    if doc_ts:
        cert = doc_ts[-1].signer_cert
    else:
        seal = next((s for s in signatures if s.sig_object_type == "/Sig"), None)
        token = None
        if seal is not None:
            for attr in seal.signer_info["unsigned_attrs"] or []:
                if attr["type"].native == "signature_time_stamp_token":
                    token = attr["values"][0]
        if token is None:
            return None
        signed = token["content"]
        sid = signed["signer_infos"][0]["sid"].chosen
        cert = next(
            c.chosen
            for c in signed["certificates"]
            if c.chosen.issuer_serial
            == f"{sid['issuer'].sha256.hex()}:{sid['serial_number'].native}"
            or c.chosen.serial_number == sid["serial_number"].native
        )
    expiry: datetime = cert["tbs_certificate"]["validity"]["not_after"].native
    return expiry.astimezone(UTC)


def renew_archive_timestamp(
    pdf: bytes, timestamper: TimeStamper, revocation: RevocationSource
) -> bytes:
    """Append current validation data for the last timestamp's TSA chain and a new
    document timestamp, in one incremental update. The sealed revision is untouched.

    :raises SealingError: the document has no seal or the result would change the
        sealed revision (never expected; checked to fail closed).
    """
    before = sealed_revision_digest(pdf)
    reader = _reader(pdf)
    certs: list[asn1_x509.Certificate] = []
    for sig in reader.embedded_signatures:
        certs.append(sig.signer_cert)
        certs.extend(sig.other_embedded_certs)
    ocsps = []
    seen: set[bytes] = set()
    for cert_asn1 in certs:
        der = cert_asn1.dump()
        if der in seen:
            continue
        seen.add(der)
        cert = x509.load_der_x509_certificate(der)
        if cert.issuer != cert.subject and revocation.covers(cert):
            ocsps.append(asn1_ocsp.OCSPResponse.load(revocation.ocsp_response(cert)))
    crls = [asn1_crl.CertificateList.load(der) for der in revocation.crls()]
    writer = open_ltv_update(pdf)
    DocumentSecurityStore.supply_dss_in_writer(writer, None, certs=[], ocsps=ocsps, crls=crls)
    renewed = run_sync(lambda: add_document_timestamp(writer, timestamper))
    if sealed_revision_digest(renewed) != before:
        raise SealingError("renewal would change the sealed revision; nothing was written")
    return renewed
