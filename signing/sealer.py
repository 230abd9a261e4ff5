"""Seal a PDF: a PAdES B-T certification signature whose visible appearance is the
agency's red round seal.

* PAdES baseline B-T: subfilter ``ETSI.CAdES.detached``, ECDSA P-256 / SHA-256, and a
  signature timestamp (RFC 3161) from the configured timestamper.
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
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from signing._appearance import SealStampStyle
from signing._seal_art import render_seal_pdf
from signing._signer import LoadedKeySigner
from signing._sync import run_sync
from signing.errors import SealingError, TimestampError
from signing.models import SealedDocument
from signing.pki import Pki, SealIdentity, load_pki
from signing.secret import Secret
from signing.tsa import InProcessTimeStamper, TimeStampAuthority

__all__ = ["SEAL_FIELD_NAME", "SealedDocument", "Sealer", "SealerSpec"]

SEAL_FIELD_NAME = "CertLedgerSeal"


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
        identity: SealIdentity,
        timestamper: TimeStamper,
        *,
        stamp_font: Path,
        stamp_font_index: int = 0,
    ) -> None:
        self._identity = identity
        self._timestamper = timestamper
        self._signer = LoadedKeySigner(identity)
        # The seal is drawn and its font subset embedded here, once; every document
        # then only copies the finished objects.
        self._style = SealStampStyle(
            seal_pdf=render_seal_pdf(identity.name_zh, Path(stamp_font), stamp_font_index)
        )
        self._bytes_reserved: int | None = None

    @classmethod
    def from_pki(
        cls,
        pki: Pki,
        agency_code: str,
        stamp_font: Path,
        *,
        stamp_font_index: int = 0,
        timestamper: TimeStamper | None = None,
    ) -> Sealer:
        """A sealer for ``agency_code``; timestamps come from the PKI's own TSA
        in-process unless another ``timestamper`` is given."""
        if timestamper is None:
            timestamper = InProcessTimeStamper(TimeStampAuthority(pki.tsa))
        return cls(
            pki.seal(agency_code),
            timestamper,
            stamp_font=stamp_font,
            stamp_font_index=stamp_font_index,
        )

    @property
    def identity(self) -> SealIdentity:
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
        return SealedDocument(
            pdf=sealed,
            # Freshly sealed, the file ends exactly at the end of the seal's /ByteRange.
            sealed_digest=hashlib.sha256(sealed).hexdigest(),
            signed_at=_gen_time(recorder.token),
        )

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


def _open_for_sealing(pdf: bytes) -> IncrementalPdfFileWriter:
    if not pdf.startswith(b"%PDF-"):
        raise SealingError("the input is not a PDF (no %PDF header)")
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True)
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

    def build(self, passphrase: Secret) -> Sealer:
        pki = load_pki(self.pki_dir, passphrase)
        return Sealer.from_pki(
            pki, self.agency_code, self.stamp_font, stamp_font_index=self.stamp_font_index
        )
