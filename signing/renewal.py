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
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from signing._sync import run_sync
from signing._update_writer import open_ltv_update
from signing._validation_data import ocsp_answers, unique
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
    """Renew: current validation data for every certificate in the file, a new document
    timestamp, then the validation data for that timestamp's own TSA chain. The sealed
    revision is untouched.

    The data for the new timestamp has to come after it: it names a TSA certificate the
    file has never carried (after ``ltv rotate-tsa``), and a validator wants revocation data
    for it issued after the time it asserts. Without that revision an offline validator has
    no revocation data for the newest timestamp, and the renewal extends nothing.

    :raises SealingError: the document has no seal, the new timestamp's TSA certificate
        cannot be covered by OCSP or a current CRL (nothing is written), or the result would
        change the sealed revision (never expected; checked to fail closed).
    """
    before = sealed_revision_digest(pdf)
    reader = _reader(pdf)
    certs: list[asn1_x509.Certificate] = []
    for sig in reader.embedded_signatures:
        certs.append(sig.signer_cert)
        certs.extend(sig.other_embedded_certs)
    crls = [asn1_crl.CertificateList.load(der) for der in revocation.crls()]
    writer = open_ltv_update(pdf)
    DocumentSecurityStore.supply_dss_in_writer(
        writer, None, certs=[], ocsps=ocsp_answers(certs, revocation), crls=crls
    )
    stamped = run_sync(lambda: add_document_timestamp(writer, timestamper))

    newest = max(
        (s for s in _reader(stamped).embedded_signatures if s.sig_object_type == "/DocTimeStamp"),
        key=lambda s: s.signed_revision,
    )
    tsa_chain = [newest.signer_cert, *newest.other_embedded_certs]
    _require_coverage(newest.signer_cert, revocation, crls)
    writer = open_ltv_update(stamped)
    DocumentSecurityStore.supply_dss_in_writer(
        writer,
        None,
        certs=unique(tsa_chain),
        ocsps=ocsp_answers(tsa_chain, revocation),
        crls=[asn1_crl.CertificateList.load(der) for der in revocation.crls()],
    )
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    renewed = out.getvalue()
    if sealed_revision_digest(renewed) != before:
        raise SealingError("renewal would change the sealed revision; nothing was written")
    return renewed


def _require_coverage(
    tsa_cert: asn1_x509.Certificate,
    revocation: RevocationSource,
    crls: list[asn1_crl.CertificateList],
) -> None:
    """Refuse a renewal an offline validator could not check: the new timestamp's TSA
    certificate needs an OCSP responder, or a current CRL of its issuer issued after it."""
    cert = x509.load_der_x509_certificate(tsa_cert.dump())
    if revocation.covers(cert):
        return
    for crl in crls:
        parsed = x509.load_der_x509_crl(crl.dump())
        if parsed.issuer == cert.issuer and parsed.last_update_utc >= cert.not_valid_before_utc:
            return
    raise SealingError(
        "the new timestamp's TSA certificate "
        f"({cert.subject.rfc4514_string()}, serial {cert.serial_number:x}) has no OCSP "
        "responder and no CRL of its issuer published after it; publish a fresh CRL "
        "(`certledger seal crl`) and renew again. Nothing was written"
    )
