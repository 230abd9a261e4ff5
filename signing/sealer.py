"""Seal a PDF: a PAdES certification signature whose visible appearance is the
agency's red round seal, at baseline level B-T, B-LT or B-LTA.

* PAdES baseline B-T: subfilter ``ETSI.CAdES.detached``, ECDSA P-256 / SHA-256, and a
  signature timestamp (RFC 3161) from the configured timestamper.
* B-LT adds, in one incremental update, a document security store (DSS) with the
  certificates, OCSP responses and CRL needed to validate the seal and its timestamp
  without any network; B-LTA adds a document timestamp in the same update.
* Refused before anything is signed: a seal certificate outside its validity period,
  or one the revocation source reports revoked (fail closed: B-LT/B-LTA without a
  revocation source is a configuration error).
* Certification signature with DocMDP "no changes": after sealing, any change other
  than long-term-validation material (DSS, document timestamps) breaks the seal.
* Keys, certificates, the seal appearance and the timestamper are prepared once per
  :class:`Sealer` and reused for every document.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers import Signer
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.dss import DocumentSecurityStore

from signing._appearance import SealStampStyle
from signing._seal_art import render_seal_pdf
from signing._signer import LoadedKeySigner
from signing._sync import run_sync
from signing._update_writer import UpdateWriter, open_ltv_update
from signing._validation_data import ocsp_answers, unique
from signing.errors import SealCertificateError, SealingError, SigningError, TimestampError
from signing.hsm import HsmSealIdentity
from signing.ltv import InProcessRevocationSource, RevocationSource, ocsp_status
from signing.models import SealedDocument, SealLevel
from signing.pki import Pki, SealIdentity, load_pki
from signing.secret import Secret
from signing.tsa import InProcessTimeStamper, TimeStampAuthority

__all__ = [
    "ARCHIVE_FIELD_PREFIX",
    "SEAL_FIELD_NAME",
    "SealLevel",
    "SealedDocument",
    "Sealer",
    "SealerSpec",
    "add_document_timestamp",
]

SEAL_FIELD_NAME = "CertLedgerSeal"
ARCHIVE_FIELD_PREFIX = "CertLedgerArchive"
"""Document timestamps are named ``CertLedgerArchive1``, ``CertLedgerArchive2``, …"""


class _RecordingTimeStamper(TimeStamper):
    """Per-document wrapper that remembers the signature timestamp it obtained.

    One instance per ``seal`` call, so concurrent calls never share the recorded token;
    the wrapped timestamper (and its cached dummy response) is shared.
    """

    def __init__(self, inner: TimeStamper) -> None:
        super().__init__(include_nonce=inner.include_nonce)  # type: ignore[no-untyped-call]
        self._inner = inner
        self.token: cms.ContentInfo | None = None

    async def async_dummy_response(self, md_algorithm: str) -> cms.ContentInfo:
        return await self._inner.async_dummy_response(md_algorithm)

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        token = await self._inner.async_timestamp(message_digest, md_algorithm)
        self.token = token
        return token

    async def validation_paths(self, validation_context: Any) -> Any:
        async for path in self._inner.validation_paths(validation_context):  # type: ignore[no-untyped-call]
            yield path


def _gen_time(token: cms.ContentInfo) -> datetime:
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    gen_time: datetime = tst_info["gen_time"].native
    return gen_time.astimezone(UTC)


class Sealer:
    """Seals PDFs for one agency. Build once, call :meth:`seal` for every document.

    Thread-safe for concurrent :meth:`seal` calls (no per-document shared state). Not
    picklable (it holds a decrypted key); for worker processes pass a
    :class:`SealerSpec` and build the sealer in the worker.
    """

    def __init__(
        self,
        identity: SealIdentity | HsmSealIdentity,
        timestamper: TimeStamper,
        *,
        stamp_font: Path,
        stamp_font_index: int = 0,
        level: SealLevel = SealLevel.B_T,
        revocation: RevocationSource | None = None,
        signer: Signer | None = None,
    ) -> None:
        """``signer`` signs with a key held elsewhere (a PKCS#11 token, see
        :mod:`signing.hsm`); without it the identity's decrypted file key signs."""
        if level.embeds_validation_data and revocation is None:
            raise SigningError(
                f"seal level {level.value} embeds revocation data, so it needs a revocation "
                "source; none was given"
            )
        self._identity = identity
        self._timestamper = timestamper
        self._level = level
        self._revocation = revocation
        if signer is not None:
            self._signer: Signer = signer
        elif isinstance(identity, SealIdentity):
            self._signer = LoadedKeySigner(identity)
        else:
            raise SigningError("a seal key held in a token needs its signer (signing.hsm)")
        self._chain_asn1 = [
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
            for c in (identity.certificate, *identity.chain)
        ]
        # The seal is drawn and its font subset embedded here, once; every document
        # then only copies the finished objects.
        self._style = SealStampStyle(
            seal_pdf=render_seal_pdf(identity.name_zh, Path(stamp_font), stamp_font_index)
        )
        self._bytes_reserved: int | None = None
        self._archive_reserved: int | None = None
        self._cert_cache: dict[bytes, x509.Certificate] = {}

    @classmethod
    def from_pki(
        cls,
        pki: Pki,
        agency_code: str,
        stamp_font: Path,
        *,
        stamp_font_index: int = 0,
        timestamper: TimeStamper | None = None,
        level: SealLevel = SealLevel.B_LTA,
        revocation: RevocationSource | None = None,
    ) -> Sealer:
        """A sealer for ``agency_code`` at ``level`` (default B-LTA); timestamps come
        from the PKI's own TSA and revocation data from its own responder, in-process,
        unless another ``timestamper`` / ``revocation`` source is given.

        A PKI without an OCSP responder (created before revocation services existed)
        can only seal at B-T; asking it for more raises :class:`SigningError`.
        """
        if timestamper is None:
            timestamper = InProcessTimeStamper(TimeStampAuthority(pki.tsa))
        if revocation is None and (level.embeds_validation_data or pki.ocsp is not None):
            revocation = InProcessRevocationSource.from_pki(pki)
        return cls(
            pki.seal(agency_code),
            timestamper,
            stamp_font=stamp_font,
            stamp_font_index=stamp_font_index,
            level=level,
            revocation=revocation,
        )

    @property
    def level(self) -> SealLevel:
        return self._level

    @property
    def identity(self) -> SealIdentity | HsmSealIdentity:
        return self._identity

    @property
    def seal_appearance_pdf(self) -> bytes:
        """The one-page PDF used as the visible seal (for previews and tests)."""
        return self._style.seal_pdf

    def seal(
        self,
        pdf: bytes,
        *,
        page: int,
        box: tuple[float, float, float, float],
        reason: str,
        location: str,
    ) -> SealedDocument:
        """Seal ``pdf`` with a visible seal on ``page`` (0-based; negative counts from the
        end) inside ``box`` = (x1, y1, x2, y2) in PDF points.

        Inside a running event loop prefer :meth:`async_seal`; this method then runs
        the work on a helper thread and blocks the loop until it is done.

        :raises SealingError: the input is not a sealable PDF or the page/box is invalid.
        :raises TimestampError: no signature timestamp could be obtained.
        """
        return run_sync(
            lambda: self.async_seal(pdf, page=page, box=box, reason=reason, location=location)
        )

    async def async_seal(
        self,
        pdf: bytes,
        *,
        page: int,
        box: tuple[float, float, float, float],
        reason: str,
        location: str,
    ) -> SealedDocument:
        """Coroutine version of :meth:`seal`."""
        self._check_seal_certificate()
        writer = _open_for_sealing(pdf)
        page_index = _check_placement(writer, page, box)
        recorder = _RecordingTimeStamper(self._timestamper)
        pdf_signer = signers.PdfSigner(
            signers.PdfSignatureMetadata(
                field_name=SEAL_FIELD_NAME,
                md_algorithm="sha256",
                reason=reason,
                location=location,
                subfilter=fields.SigSeedSubFilter.PADES,
                # Certify and lock: DocMDP P=1 forbids every change except LTV material.
                certify=True,
                docmdp_permissions=fields.MDPPerm.NO_CHANGES,
            ),
            signer=self._signer,
            timestamper=recorder,
            stamp_style=self._style,
            new_field_spec=fields.SigFieldSpec(
                # pyHanko annotates the box as ints but writes it as reals.
                sig_field_name=SEAL_FIELD_NAME,
                on_page=page_index,
                box=box,  # type: ignore[arg-type]
            ),
        )
        try:
            bytes_reserved = await self._reserved_space()
            output = await pdf_signer.async_sign_pdf(writer, bytes_reserved=bytes_reserved)
        except TimestampRequestError as exc:
            raise TimestampError(f"the time-stamp authority refused or failed: {exc}") from exc
        except (PyHankoSigningError, PdfError) as exc:
            raise SealingError(f"the document could not be sealed: {exc}") from exc
        if recorder.token is None:  # pragma: no cover - pyHanko always asks with a timestamper
            raise TimestampError("no signature timestamp was obtained")
        sealed = output.getvalue()
        # Freshly sealed, the file ends exactly at the end of the seal's /ByteRange; the
        # LTV update below is appended after it and does not change this digest.
        sealed_digest = hashlib.sha256(sealed).hexdigest()
        if self._level.embeds_validation_data:
            sealed = await self._extend(sealed, _token_certificates(recorder.token))
        return SealedDocument(
            pdf=sealed,
            sealed_digest=sealed_digest,
            signed_at=_gen_time(recorder.token),
        )

    def _check_seal_certificate(self) -> None:
        """Refuse to seal with an expired, not yet valid or revoked seal certificate."""
        cert = self._identity.certificate
        now = datetime.now(UTC)
        if now < cert.not_valid_before_utc:
            raise SealCertificateError(
                f"the seal certificate of {self._identity.agency_code} is not valid before "
                f"{cert.not_valid_before_utc.isoformat()}"
            )
        if now > cert.not_valid_after_utc:
            raise SealCertificateError(
                f"the seal certificate of {self._identity.agency_code} expired on "
                f"{cert.not_valid_after_utc.isoformat()}; rotate the seal key "
                "(`certledger seal rotate`)"
            )
        if self._revocation is not None:
            status = ocsp_status(self._revocation.ocsp_response(cert))
            if status.revoked:
                when = status.revoked_at.isoformat() if status.revoked_at else "unknown"
                raise SealCertificateError(
                    f"the seal certificate of {self._identity.agency_code} is revoked "
                    f"(since {when}, reason {status.reason or 'unspecified'}); rotate the "
                    "seal key (`certledger seal rotate`)"
                )

    async def _extend(self, sealed: bytes, tsa_certs: list[asn1_x509.Certificate]) -> bytes:
        """Append the DSS (and for B-LTA a document timestamp) in one incremental update."""
        source = self._revocation
        assert source is not None  # checked in __init__
        certs = [*self._chain_asn1, *tsa_certs]
        ocsps = ocsp_answers(certs, source, self._converted)
        certs.extend(
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
            for c in source.responder_certificates()
        )
        crls = [asn1_crl.CertificateList.load(der) for der in source.crls()]
        writer = open_ltv_update(sealed)
        DocumentSecurityStore.supply_dss_in_writer(
            writer, sig_contents=None, certs=unique(certs), ocsps=ocsps, crls=crls
        )
        try:
            if self._level is SealLevel.B_LTA:
                # A fresh seal has no document timestamp yet: the first archive field.
                return await add_document_timestamp(
                    writer,
                    self._timestamper,
                    bytes_reserved=await self._archive_space(),
                    field_number=1,
                )
        except TimestampRequestError as exc:
            raise TimestampError(f"the time-stamp authority refused or failed: {exc}") from exc
        out = io.BytesIO()
        writer.write(out)  # type: ignore[no-untyped-call]
        return out.getvalue()

    def _converted(self, cert_asn1: asn1_x509.Certificate) -> x509.Certificate:
        der = cert_asn1.dump()
        cert = self._cert_cache.get(der)
        if cert is None:
            cert = x509.load_der_x509_certificate(der)
            if len(self._cert_cache) < 64:  # the chain and the TSA's: a handful
                self._cert_cache[der] = cert
        return cert

    async def _archive_space(self) -> int:
        if self._archive_reserved is None:
            dummy = await self._timestamper.async_dummy_response("sha256")
            hex_length = 2 * len(dummy.dump())
            self._archive_reserved = hex_length + 2 * (hex_length // 4)
        return self._archive_reserved

    async def _reserved_space(self) -> int:
        """Room (hex digits) to reserve for the signature container.

        pyHanko would estimate it for every document with a dry-run signature; the
        result only depends on the certificates and the timestamper's (cached) dummy
        token, so it is computed once. Same 50% margin as pyHanko, for TSAs whose
        tokens vary in size.
        """
        if self._bytes_reserved is None:
            dummy = await self._signer.async_sign(
                bytes(32),
                "sha256",
                dry_run=True,
                use_pades=True,
                timestamper=self._timestamper,
                signed_attr_settings=PdfCMSSignedAttributes(signing_time=datetime.now(UTC)),
            )
            hex_length = 2 * len(dummy.dump())
            self._bytes_reserved = hex_length + 2 * (hex_length // 4)
        return self._bytes_reserved


async def add_document_timestamp(
    writer: IncrementalPdfFileWriter,
    timestamper: TimeStamper,
    *,
    bytes_reserved: int | None = None,
    field_number: int | None = None,
) -> bytes:
    """Add a document timestamp (PAdES B-LTA archive timestamp) in ``writer``'s
    revision, in a new field ``CertLedgerArchive<n>`` (the first free ``n`` unless
    ``field_number`` is given); returns the whole new file."""
    number = field_number or 1
    if field_number is None:
        existing = {name for name, _, _ in fields.enumerate_sig_fields(writer, filled_status=None)}
        while f"{ARCHIVE_FIELD_PREFIX}{number}" in existing:
            number += 1
    stamper = signers.PdfTimeStamper(timestamper, field_name=f"{ARCHIVE_FIELD_PREFIX}{number}")
    output = await stamper.async_timestamp_pdf(writer, "sha256", bytes_reserved=bytes_reserved)
    data: bytes = output.getvalue()
    return data


def _token_certificates(token: cms.ContentInfo) -> list[asn1_x509.Certificate]:
    certs = token["content"]["certificates"]
    if not certs:
        return []
    return [c.chosen for c in certs if c.name == "certificate"]


_PDFA_ID_NAMESPACE = b"http://www.aiim.org/pdfa/ns/id/"


def _declares_pdfa(writer: IncrementalPdfFileWriter) -> bool:
    """Whether the document's XMP metadata carries a PDF/A identification (``pdfaid``)."""
    try:
        metadata = writer.root.get("/Metadata")
        data = metadata.get_object().data if metadata is not None else b""
    except Exception:  # unreadable metadata: nothing to keep consistent
        return False
    return isinstance(data, bytes) and _PDFA_ID_NAMESPACE in data


def _open_for_sealing(pdf: bytes) -> IncrementalPdfFileWriter:
    if not pdf.startswith(b"%PDF-"):
        raise SealingError("the input is not a PDF (no %PDF header)")
    try:
        writer = UpdateWriter(pdf)
        # The seal keeps a PDF/A document's metadata as rendered; others get pyHanko's
        # usual refresh (see signing._update_writer).
        writer.keep_metadata = _declares_pdfa(writer)
    except Exception as exc:  # pyHanko raises assorted errors on malformed input
        raise SealingError(f"the input PDF cannot be parsed: {exc}") from None
    if writer.prev.encrypted:
        raise SealingError("encrypted PDFs cannot be sealed; render the certificate unencrypted")
    return writer


def _check_placement(
    writer: IncrementalPdfFileWriter, page: int, box: tuple[float, float, float, float]
) -> int:
    try:
        page_count = int(writer.root["/Pages"]["/Count"])
    except Exception as exc:
        raise SealingError(f"the input PDF has no readable page tree: {exc}") from None
    index = page + page_count if page < 0 else page
    if not 0 <= index < page_count:
        raise SealingError(f"page {page} does not exist (the document has {page_count} pages)")
    x1, y1, x2, y2 = box
    if not (x2 > x1 and y2 > y1):
        raise SealingError(f"seal box {box} must be (x1, y1, x2, y2) with x2 > x1 and y2 > y1")
    return index


@dataclass(frozen=True)
class SealerSpec:
    """Picklable recipe for a :class:`Sealer`, for process pools.

    Holds no secret: each worker supplies the passphrase itself (e.g.
    ``Secret.from_env("CERTLEDGER_PASSPHRASE")``) and builds the sealer once.
    """

    pki_dir: Path
    agency_code: str
    stamp_font: Path
    stamp_font_index: int = 0
    level: SealLevel = SealLevel.B_LTA

    def build(self, passphrase: Secret) -> Sealer:
        pki = load_pki(self.pki_dir, passphrase)
        return Sealer.from_pki(
            pki,
            self.agency_code,
            self.stamp_font,
            stamp_font_index=self.stamp_font_index,
            level=self.level,
        )
