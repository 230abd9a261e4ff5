"""Check a sealed PDF: is the seal intact, issued under our trust roots, time-stamped,
and is the document unchanged since sealing?

Steps (numbers are cited in the code):

1. Parse the PDF. Anything that is not a readable PDF raises :class:`UnreadablePdfError`;
   from here on problems become report outcomes, never exceptions, except one: a document
   that asks more work than any genuine seal needs (:mod:`signing.limits`) raises
   :class:`DocumentLimitExceeded` wherever that shows, before parsing or during any step.
2. Find the seal: the earliest-signed signature field whose value is a ``/Sig`` (not a
   ``/DocTimeStamp``).
3. Validate it with pyHanko against a validation context holding *only* the given trust
   roots (no OS trust store, no network fetching), for the signature and for its
   signature timestamp alike.
4. Derive the intact / chain / timestamp outcomes from pyHanko's status, and validate every
   document timestamp after the seal the same way (intact token, trusted TSA, covering
   exactly the bytes before it): the timestamp outcome is the worst of them all, so an
   archive timestamp from an untrusted TSA, or a corrupted one, never leaves a seal VALID.
5. Refuse a cross-reference structure two parsers could resolve apart
   (:mod:`signing._structure`), run the strict modification analysis
   (:mod:`signing._revisions`), then read the file
   with two independent parsers (:mod:`signing._second_reading`): what pdfium renders of
   the whole file must be what it renders of the sealed revision, and qpdf must find the
   structure sound.
6. Report the sealed digest and the ``/Info`` entries as of the sealed revision.
7. Decide the seal certificate's revocation status at the time the seal was made
   (:mod:`signing._revocation_check`) from the revocation data embedded in the document
   (DSS) plus any the caller hands in; nothing is fetched. A later revocation leaves
   the seal valid when a trusted timestamp proves the seal came first.

pyHanko's own long-term validation (``validate_pdf_ltv_signature``) is not used for the
bottom line: it accepts revisions that add content after signing as long as the
signature bytes are intact, so the verdict always combines step 7 with step 5.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.misc import PdfDecodeLimitError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESSubIndic
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.status import (
    PdfSignatureStatus,
    SignatureCoverageLevel,
    TimestampSignatureStatus,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.registry import SimpleTrustManager

from signing._revisions import LaterSignature, analyse_modifications, document_info, page_count
from signing._revocation_check import assess_revocation
from signing._second_reading import second_reading
from signing._structure import structure_problem
from signing._sync import run_sync
from signing.errors import DocumentLimitExceeded, UnreadablePdfError
from signing.limits import DEFAULT_LIMITS, DocumentLimits, precheck
from signing.models import Outcome, RevocationData, SealReport, Status

__all__ = [
    "RevocationData",
    "SealFacts",
    "SealReport",
    "async_check_seal",
    "check_seal",
    "read_seal_facts",
]

logger = logging.getLogger(__name__)

_NO_ROOTS = (
    "no trust roots were given, so trust cannot be decided; configure the PKI's trust-roots.pem"
)
# Sub-indications that more data (revocation info, proof of existence) cannot fix.
_DEFINITE_CHAIN_FAILURES: frozenset[AdESSubIndic] = frozenset(
    {
        AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND,
        AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE,
        AdESIndeterminate.NO_SIGNING_CERTIFICATE_FOUND,
    }
)


@dataclass(frozen=True)
class _Candidate:
    field_name: str
    sig_field: generic.DictionaryObject
    sig_type: str
    revision: int


def check_seal(
    pdf: bytes,
    trust_roots: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
    revocation_data: RevocationData | None = None,
    limits: DocumentLimits = DEFAULT_LIMITS,
) -> SealReport:
    """Check the seal on ``pdf`` against exactly ``trust_roots``.

    ``now`` is the validation time (default: the current time). An empty
    ``trust_roots`` never yields a passed chain or timestamp. ``revocation_data`` adds
    current OCSP responses / CRLs (e.g. the issuing CA's latest CRL) to what the
    document embeds; without it only embedded data is used. ``limits`` bound the work
    the document may ask for.

    :raises DocumentLimitExceeded: the document exceeds ``limits``.
    :raises UnreadablePdfError: ``pdf`` is empty, not a PDF, truncated or malformed,
        or could not be evaluated at all.
    :raises ValueError: ``now`` is a naive datetime (a programming error).
    """
    return run_sync(
        lambda: async_check_seal(
            pdf, trust_roots, now=now, revocation_data=revocation_data, limits=limits
        )
    )


async def async_check_seal(
    pdf: bytes,
    trust_roots: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
    revocation_data: RevocationData | None = None,
    limits: DocumentLimits = DEFAULT_LIMITS,
) -> SealReport:
    """Coroutine version of :func:`check_seal`, for callers inside an event loop."""
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    reader = _open(pdf, limits)  # step 1
    try:
        return await _check(reader, pdf, tuple(trust_roots), now, revocation_data, limits)
    except UnreadablePdfError:
        raise
    except Exception as exc:
        _raise_if_limit(exc)
        # Defensive boundary: parsing is lazy, so malformed objects can surface deep
        # inside pyHanko. Whatever escapes the per-step handling means "could not be
        # evaluated", never a pass.
        logger.info("seal check could not evaluate the document", exc_info=True)
        raise UnreadablePdfError(f"truncated or malformed PDF: {_brief(exc)}") from exc


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _raise_if_limit(exc: BaseException) -> None:
    """Re-raise ``exc`` as the limit it shows, if it shows one. Called in every handler that
    would otherwise turn an exception into an outcome: a document over a limit is refused,
    never reported on (a report from half an analysis could read better than it is)."""
    if isinstance(exc, DocumentLimitExceeded):
        raise exc
    if isinstance(exc, PdfDecodeLimitError):
        raise DocumentLimitExceeded("decoded_bytes") from None
    if isinstance(exc, RecursionError):
        raise DocumentLimitExceeded("nesting") from None
    if isinstance(exc, MemoryError):
        raise DocumentLimitExceeded("memory") from None


def _open(pdf: bytes, limits: DocumentLimits = DEFAULT_LIMITS) -> PdfFileReader:
    if not pdf:
        raise UnreadablePdfError("empty file")
    if not pdf.startswith(b"%PDF-"):
        raise UnreadablePdfError("not a PDF (no %PDF header)")
    precheck(pdf, limits)  # before parsing: what the raw bytes already show
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=True, decode_limits=limits.decode_limits())
        reader.root  # noqa: B018  # resolve the catalog now, not lazily later
        _decode_every_stream(reader, limits)
    except Exception as exc:
        _raise_if_limit(exc)
        raise UnreadablePdfError(f"truncated or malformed PDF: {_brief(exc)}") from None
    if reader.encrypted:
        raise UnreadablePdfError("encrypted PDFs are not supported; seals are never encrypted")
    return reader


def _decode_every_stream(reader: PdfFileReader, limits: DocumentLimits) -> None:
    """Decode each stream of each revision once, under the caps, before any check reads one.

    A deflate bomb is refused here wherever it sits (page content, DSS, an orphan object),
    with one total for the whole document: pyHanko's own budget starts afresh for every
    historical revision it reads. A genuine certificate's streams decode in a few
    milliseconds, and the checks that follow reuse what was decoded.
    """
    total = 0
    for revision in range(reader.xrefs.total_revisions):
        resolver = reader.get_historical_resolver(revision)
        for ref in reader.xrefs.explicit_refs_in_revision(revision):
            try:
                obj = resolver.get_object(ref)
                data = obj.data if isinstance(obj, generic.StreamObject) else b""
            except PdfDecodeLimitError:
                raise
            except Exception as exc:
                # Broken, not big: the checks that follow say what it breaks (a flipped
                # byte in sealed content is "altered", not "unreadable").
                _raise_if_limit(exc)
                continue
            if data:
                total += len(data)
                if total > limits.document_bytes:
                    raise DocumentLimitExceeded("decoded_bytes", total, limits.document_bytes)


def _candidates(reader: PdfFileReader) -> list[_Candidate]:
    found = []
    for field_name, sig_obj, sig_field in enumerate_sig_fields(reader, filled_status=True):
        sig_ref = sig_field.get_object().raw_get("/V")
        value = sig_obj.get_object()
        sig_type = str(value.get("/Type", "/Sig"))
        revision = reader.xrefs.get_last_change(sig_ref.reference)
        found.append(_Candidate(str(field_name), sig_field.get_object(), sig_type, revision))
    return sorted(found, key=lambda c: c.revision)


def _validation_context(
    roots: Sequence[asn1_x509.Certificate], now: datetime | None
) -> ValidationContext:
    # Trust is explicit: a trust manager built from exactly these roots (possibly none),
    # never the operating system's store, and no network access for fetching
    # certificates or revocation data.
    return ValidationContext(
        trust_manager=SimpleTrustManager.build(trust_roots=list(roots)),
        allow_fetching=False,
        moment=now,
    )


def _to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _to_crypto(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def _no_seal(reason: str) -> SealReport:
    missing = Outcome.failed(reason)
    return SealReport(
        seal_found=False,
        intact=missing,
        chain=missing,
        timestamp=missing,
        modification=Outcome.indeterminate("there is no seal to compare changes against"),
    )


async def _check(
    reader: PdfFileReader,
    pdf: bytes,
    trust_roots: tuple[x509.Certificate, ...],
    now: datetime | None,
    revocation_data: RevocationData | None,
    limits: DocumentLimits,
) -> SealReport:
    try:
        candidates = _candidates(reader)
    except Exception as exc:
        _raise_if_limit(exc)
        raise UnreadablePdfError(
            f"truncated or malformed PDF: the signature fields cannot be read ({_brief(exc)})"
        ) from None

    # Step 2: the seal is the first ordinary signature; document timestamps are LTV data.
    seals = [c for c in candidates if c.sig_type == "/Sig"]
    if not seals:
        return _no_seal("the document carries no seal (no signature)")
    seal_candidate = seals[0]
    # The analysis of later revisions costs more than linear time in their number: refuse
    # a document with more than any renewal history needs before starting it.
    after_seal = reader.xrefs.total_revisions - 1 - seal_candidate.revision
    if after_seal > limits.revisions_after_seal:
        raise DocumentLimitExceeded("revisions_after_seal", after_seal, limits.revisions_after_seal)
    later = [
        LaterSignature(c.field_name, c.sig_type, c.revision)
        for c in candidates
        if c is not seal_candidate and c.revision > seal_candidate.revision
    ]

    try:
        seal = EmbeddedPdfSignature(reader, seal_candidate.sig_field, seal_candidate.field_name)
        seal.signer_info  # noqa: B018  # force parsing of the CMS container
        byte_range = [int(v) for v in seal.byte_range]
    except Exception as exc:
        _raise_if_limit(exc)
        broken = Outcome.failed(f"the seal's signature data is malformed: {_brief(exc)}")
        undecided = Outcome.indeterminate("cannot be assessed: the seal itself is unreadable")
        return SealReport(
            seal_found=True,
            intact=broken,
            chain=undecided,
            timestamp=undecided,
            modification=undecided,
        )

    # Step 3.
    roots = [_to_asn1(c) for c in trust_roots]
    status: PdfSignatureStatus | None = None
    validation_error: str | None = None
    try:
        status = await async_validate_pdf_signature(
            seal,
            signer_validation_context=_validation_context(roots, now),
            ts_validation_context=_validation_context(roots, now),
            # The modification analysis is done in step 5, revision by revision.
            skip_diff=True,
        )
    except Exception as exc:
        _raise_if_limit(exc)
        validation_error = _brief(exc)

    # Step 4.
    layout = byte_range_problem(pdf, byte_range)
    if layout is not None:
        intact = Outcome.failed(f"the seal's byte range is malformed: {layout}")
        chain = Outcome.indeterminate("cannot be assessed: the seal's byte range is malformed")
        timestamp = Outcome.indeterminate("cannot be assessed: the seal's byte range is malformed")
        ts_time = None
    elif status is None:
        intact = Outcome.failed(f"the seal's signature cannot be validated: {validation_error}")
        chain = Outcome.indeterminate("cannot be assessed: the signature did not validate")
        timestamp = Outcome.indeterminate("cannot be assessed: the signature did not validate")
        ts_time = None
    else:
        intact = _intact_outcome(status)
        chain = _chain_outcome(status, bool(roots))
        timestamp, ts_time = _timestamp_outcome(status.timestamp_validity, bool(roots))
    # Only the seal's own timestamp proves when the seal existed (step 7); the reported
    # outcome also answers for every document timestamp after it.
    seal_timestamp = timestamp
    archive = await _document_timestamps_outcome(
        reader, pdf, [c for c in candidates if c.sig_type == "/DocTimeStamp"], roots, now
    )
    timestamp = _worst(timestamp, archive)

    # Step 5.
    sealed_end = byte_range[2] + byte_range[3] if len(byte_range) == 4 else None
    try:
        structure = structure_problem(pdf, reader)
        modification = (
            analyse_modifications(reader, pdf, seal, later)
            if structure is None
            else Outcome.failed(f"the file can be read more than one way: {structure}")
        )
        if modification.passed and sealed_end is not None:
            # One reading of the file: independent parsers must see what pyHanko saw.
            second = second_reading(pdf, sealed_end, page_count(reader))
            modification = (
                Outcome.ok(f"{modification.reason}; {second.reason}") if second.passed else second
            )
    except Exception as exc:
        _raise_if_limit(exc)
        modification = Outcome.indeterminate(
            f"the document's revisions could not be analysed: {_brief(exc)}"
        )

    # Step 6.
    sealed_digest = (
        hashlib.sha256(pdf[:sealed_end]).hexdigest()
        if sealed_end is not None and 0 < sealed_end <= len(pdf)
        else None
    )
    try:
        info = document_info(reader.get_historical_resolver(seal.signed_revision))
    except Exception as exc:
        _raise_if_limit(exc)
        info = {}

    signer: x509.Certificate | None
    try:
        signer = _to_crypto(seal.signer_cert)
    except Exception:
        signer = None

    # Step 7.
    revocation, revoked_at = _revocation_outcome(
        seal, reader, signer, trust_roots, seal_timestamp, ts_time, now, revocation_data
    )
    return SealReport(
        seal_found=True,
        intact=intact,
        chain=chain,
        timestamp=timestamp,
        modification=modification,
        timestamp_time=ts_time,
        signer_certificate=signer,
        signer_fingerprint=(
            hashlib.sha256(signer.public_bytes(serialization.Encoding.DER)).hexdigest()
            if signer is not None
            else None
        ),
        signed_at=ts_time,
        sealed_digest=sealed_digest,
        document_info=info,
        revocation=revocation,
        seal_certificate_revoked_at=revoked_at,
    )


async def _document_timestamps_outcome(
    reader: PdfFileReader,
    pdf: bytes,
    stamps: Sequence[_Candidate],
    roots: Sequence[asn1_x509.Certificate],
    now: datetime | None,
) -> Outcome | None:
    """Every document timestamp: intact, its token valid, covering exactly the bytes before
    it, from a TSA the trust roots accept. ``None`` when there is none; otherwise the first
    problem (a broken one before an untrusted one), or one passed outcome for all."""
    if not stamps:
        return None
    undecided: Outcome | None = None
    for stamp in stamps:
        where = f"the document timestamp of revision {stamp.revision}"
        try:
            embedded = EmbeddedPdfSignature(reader, stamp.sig_field, stamp.field_name)
            status = await async_validate_pdf_timestamp(
                embedded, validation_context=_validation_context(roots, now), skip_diff=True
            )
        except Exception as exc:
            _raise_if_limit(exc)
            return Outcome.failed(f"{where} cannot be validated: {_brief(exc)}")
        layout = byte_range_problem(pdf, [int(v) for v in embedded.byte_range])
        if layout is not None:
            return Outcome.failed(f"{where} has a malformed byte range: {layout}")
        if not (status.intact and status.valid):
            return Outcome.failed(
                f"{where} does not match the bytes it covers or its token does not verify"
            )
        if status.coverage not in (
            SignatureCoverageLevel.ENTIRE_REVISION,
            SignatureCoverageLevel.ENTIRE_FILE,
        ):
            return Outcome.failed(f"{where} does not cover everything before it")
        if not roots:
            undecided = undecided or Outcome.indeterminate(_NO_ROOTS)
        elif not status.trusted:
            failure = _trust_failure(status.trust_problem_indic, f"the TSA of {where}")
            if failure.status is Status.FAILED:
                return failure
            undecided = undecided or failure
    if undecided is not None:
        return undecided
    n = len(stamps)
    return Outcome.ok(f"{n} document timestamp(s) after the seal verify and are trusted")


_HEX = frozenset(b"0123456789abcdefABCDEF")
_EOL = frozenset(b"\r\n")


def byte_range_problem(pdf: bytes, byte_range: Sequence[int]) -> str | None:
    """What is wrong with a signature's ``/ByteRange`` as laid out in ``pdf`` (None: nothing).

    The signed bytes must be everything from the file's first byte to the end of the
    signature's revision, except exactly the ``/Contents`` hex string: a range that starts
    later, a gap that holds more than the hex string, or an end inside a revision leave
    bytes a reader uses but the signature does not cover (the "universal signature forgery"
    and "signature wrapping" classes)."""
    if len(byte_range) != 4:
        return f"{len(byte_range)} numbers instead of 4"
    start, first_len, second, second_len = byte_range
    if start != 0:
        return "the signed bytes do not start at the beginning of the file"
    end = second + second_len
    if min(first_len, second, second_len) < 0 or not first_len < second <= end <= len(pdf):
        return "the ranges are out of order or outside the file"
    gap = pdf[first_len:second]
    if len(gap) < 2 or gap[:1] != b"<" or gap[-1:] != b">" or not set(gap[1:-1]) <= _HEX:
        return "the unsigned gap is not exactly the signature's hex string"
    tail = pdf[:end]
    stripped = tail.rstrip(b"\r\n")
    if not stripped.endswith(b"%%EOF") or len(tail) - len(stripped) > 2:
        return "the signed bytes do not end where a revision ends"
    return None


def _worst(first: Outcome, second: Outcome | None) -> Outcome:
    """The worse of two outcomes (failed, then indeterminate, then passed): the first on a
    tie, so a passed seal timestamp keeps its own wording."""
    if second is None:
        return first
    rank = {Status.FAILED: 0, Status.INDETERMINATE: 1, Status.PASSED: 2}
    return second if rank[second.status] < rank[first.status] else first


def _revocation_outcome(
    seal: EmbeddedPdfSignature,
    reader: PdfFileReader,
    signer: x509.Certificate | None,
    trust_roots: tuple[x509.Certificate, ...],
    timestamp: Outcome,
    ts_time: datetime | None,
    now: datetime | None,
    extra: RevocationData | None,
) -> tuple[Outcome, datetime | None]:
    if signer is None:
        unreadable = "cannot be assessed: the seal certificate is unreadable"
        return Outcome.indeterminate(unreadable), None
    try:
        certs, ocsps, crls = _embedded_validation_data(seal, reader)
    except Exception as exc:
        _raise_if_limit(exc)
        unreadable = f"the document's validation data cannot be read: {_brief(exc)}"
        return Outcome.indeterminate(unreadable), None
    if extra is not None:
        ocsps.extend(extra.ocsp_responses)
        crls.extend(extra.crls)
        certs.extend(extra.certificates)
    # Only a trusted, intact signature timestamp proves when the seal existed.
    poe = ts_time if timestamp.passed else None
    return assess_revocation(
        signer,
        [*certs, *trust_roots],
        ocsps,
        crls,
        proof_of_existence=poe,
        now=now or datetime.now(UTC),
    )


def _array(dictionary: generic.DictionaryObject, key: str) -> list[generic.PdfObject]:
    value = dictionary.get(key)
    value = value.get_object() if value is not None else None
    return list(value) if isinstance(value, generic.ArrayObject) else []


def _embedded_validation_data(
    seal: EmbeddedPdfSignature, reader: PdfFileReader
) -> tuple[list[x509.Certificate], list[bytes], list[bytes]]:
    """Certificates from the seal's CMS and the DSS; OCSP responses and CRLs from the
    DSS. The newest revision's DSS is read: later LTV updates may add fresher data, and
    step 5 has already established that they add nothing else."""
    certs: list[x509.Certificate] = []
    for choice in seal.signed_data["certificates"] or []:
        if choice.name == "certificate":
            certs.append(_to_crypto(choice.chosen))
    ocsps: list[bytes] = []
    crls: list[bytes] = []
    dss = reader.root.get("/DSS")
    dss = dss.get_object() if dss is not None else None
    if isinstance(dss, generic.DictionaryObject):
        # Decoded under the purpose's own cap (an OCSP response is a few KiB), not the
        # generic one a DSS deflate bomb would otherwise get.
        for key, out, purpose in (
            ("/OCSPs", ocsps, DecodePurpose.OCSP_RESPONSE),
            ("/CRLs", crls, DecodePurpose.CRL),
        ):
            for ref in _array(dss, key):
                stream = ref.get_object()  # type: ignore[no-untyped-call]
                if isinstance(stream, generic.StreamObject):
                    out.append(stream.read_data(purpose))
        for ref in _array(dss, "/Certs"):
            stream = ref.get_object()  # type: ignore[no-untyped-call]
            if isinstance(stream, generic.StreamObject):
                try:
                    der = stream.read_data(DecodePurpose.CERTIFICATE)
                    certs.append(x509.load_der_x509_certificate(der))
                except ValueError:
                    continue
    return certs, ocsps, crls


def _intact_outcome(status: PdfSignatureStatus) -> Outcome:
    if not status.intact:
        return Outcome.failed(
            "the signed bytes do not match the seal's digest: the document was altered"
        )
    if not status.valid:
        return Outcome.failed("the seal's signature value does not verify")
    return Outcome.ok("the signed bytes match the digest and the signature verifies")


def _subject(cert: asn1_x509.Certificate) -> str:
    return str(cert.subject.human_friendly)


def _trust_failure(indic: AdESSubIndic | None, what: str) -> Outcome:
    name = indic.standard_name if indic is not None else "NO_VALID_PATH"
    if indic in _DEFINITE_CHAIN_FAILURES or isinstance(indic, AdESFailure):
        return Outcome.failed(f"{what} does not chain to a trusted root ({name})")
    return Outcome.indeterminate(f"trust in {what} cannot be decided ({name})")


def _path_anchor(path: ValidationPath) -> str:
    return f"the trust root {path.trust_anchor.authority.name.human_friendly}"


def _chain_outcome(status: PdfSignatureStatus, have_roots: bool) -> Outcome:
    if not (status.intact and status.valid):
        return Outcome.indeterminate("cannot be assessed: the signature itself does not verify")
    if not have_roots:
        return Outcome.indeterminate(_NO_ROOTS)
    if status.trust_problem_indic is None and status.validation_path is not None:
        return Outcome.ok(
            f"the seal certificate ({_subject(status.signing_cert)}) chains to "
            f"{_path_anchor(status.validation_path)}"
        )
    if status.revoked:
        return Outcome.failed("the seal certificate or one of its CAs is revoked")
    return _trust_failure(status.trust_problem_indic, "the seal certificate")


def _timestamp_outcome(
    ts: TimestampSignatureStatus | None, have_roots: bool
) -> tuple[Outcome, datetime | None]:
    if ts is None:
        return (
            Outcome.failed("the seal has no signature timestamp (PAdES B-T requires one)"),
            None,
        )
    if not (ts.intact and ts.valid):
        return (
            Outcome.failed(
                "the signature timestamp does not match the seal or its token does not verify"
            ),
            None,
        )
    ts_time = ts.timestamp.astimezone(UTC)
    if not have_roots:
        return Outcome.indeterminate(_NO_ROOTS), ts_time
    if ts.trusted:
        return (
            Outcome.ok(f"time-stamped at {ts_time.isoformat()} by {_subject(ts.signing_cert)}"),
            ts_time,
        )
    return _trust_failure(ts.trust_problem_indic, "the time-stamp authority"), ts_time


@dataclass(frozen=True)
class SealFacts:
    """Who sealed a document and when, read without validating anything: for finding
    documents in the issuer's *own* store (e.g. everything one seal key sealed). Never
    use it on untrusted input in place of :func:`check_seal`."""

    signer_fingerprint: str
    signed_at: datetime | None


def read_seal_facts(pdf: bytes) -> SealFacts:
    """:raises UnreadablePdfError: no readable seal."""
    reader = _open(pdf)
    try:
        seal_candidate = next(c for c in _candidates(reader) if c.sig_type == "/Sig")
        seal = EmbeddedPdfSignature(reader, seal_candidate.sig_field, seal_candidate.field_name)
        der = seal.signer_cert.dump()
        signed_at = None
        for attr in seal.signer_info["unsigned_attrs"] or []:
            if attr["type"].native == "signature_time_stamp_token":
                token = attr["values"][0]
                tst = token["content"]["encap_content_info"]["content"].parsed
                signed_at = tst["gen_time"].native.astimezone(UTC)
    except StopIteration:
        raise UnreadablePdfError("the document carries no seal") from None
    except Exception as exc:
        raise UnreadablePdfError(f"the seal cannot be read: {_brief(exc)}") from None
    return SealFacts(hashlib.sha256(der).hexdigest(), signed_at)
