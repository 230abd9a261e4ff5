"""check_seal: trust, integrity, timestamps and strict after-sealing change detection.

Test documents are named after the case they model (``tampered-after-seal`` etc.)."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import add_validation_info
from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleTrustManager
from signing_testkit import (
    CERT_ID,
    SEAL_BOX,
    add_square_annotation,
    append_visible_text,
    change_info,
    finish,
    flip_byte_in_page_content,
    incremental,
    raw_incremental_update,
    replace_xmp,
)

from signing import (
    InProcessTimeStamper,
    Pki,
    SealedDocument,
    Sealer,
    SealReport,
    Status,
    TimeStampAuthority,
    UnreadablePdfError,
    check_seal,
)
from signing._signer import LoadedKeySigner
from signing._update_writer import open_ltv_update


def _roots(pki: Pki) -> list[asn1_x509.Certificate]:
    return [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in pki.trust_roots]


def _vc(pki: Pki) -> ValidationContext:
    return ValidationContext(
        trust_manager=SimpleTrustManager.build(trust_roots=_roots(pki)), allow_fetching=False
    )


def _seal_of(pdf: bytes):  # type: ignore[no-untyped-def]
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf))
    return next(s for s in reader.embedded_signatures if s.sig_object_type == "/Sig")


def _with_dss(pdf: bytes, pki: Pki) -> bytes:
    """An LTV update as pyHanko writes it (certificates added to a DSS), with the document
    metadata left as sealed, as a P=1 certification requires."""
    seal, vc = _seal_of(pdf), _vc(pki)
    # pyHanko's add_validation_info, step by step, with the metadata-keeping writer.
    paths = asyncio.run(collect_validation_info(seal, vc))
    writer = open_ltv_update(pdf)
    DocumentSecurityStore.supply_dss_in_writer(
        writer,
        seal.pkcs7_content.hex().encode("ascii"),
        validation_context=vc,
        paths=paths,
    )
    return finish(writer)


def _with_refreshing_writer(pdf: bytes, pki: Pki) -> bytes:
    """The same through pyHanko's default writer, which also refreshes /ModDate, /Producer
    and the XMP dates on every save."""
    out: io.BytesIO = add_validation_info(_seal_of(pdf), _vc(pki), force_write=True)
    return out.getvalue()


def _with_document_timestamp(pdf: bytes, pki: Pki) -> bytes:
    stamper = signers.PdfTimeStamper(InProcessTimeStamper(TimeStampAuthority(pki.tsa)))
    # No validation context: with one, pyHanko appends the timestamp's own DSS through its
    # default writer, which refreshes the metadata (see _with_refreshing_writer).
    out: io.BytesIO = stamper.timestamp_pdf(open_ltv_update(pdf), "sha256")
    return out.getvalue()


def _assert_only_modification_failed(report: SealReport, *phrases: str) -> None:
    assert report.seal_found
    assert report.intact.status is Status.PASSED, report.intact
    assert report.chain.status is Status.PASSED, report.chain
    assert report.timestamp.status is Status.PASSED, report.timestamp
    assert report.modification.status is Status.FAILED, report.modification
    for phrase in phrases:
        assert phrase in report.modification.reason
    assert not report.passed


# -- untouched and LTV-extended documents pass --------------------------------------------


def test_untouched_seal_passes(sealed: SealedDocument, pki: Pki) -> None:
    report = check_seal(sealed.pdf, pki.trust_roots)
    assert report.passed
    assert "ends at the sealed revision" in report.modification.reason


def test_dss_update_passes(sealed: SealedDocument, pki: Pki) -> None:
    extended = _with_dss(sealed.pdf, pki)
    assert len(extended) > len(sealed.pdf)
    report = check_seal(extended, pki.trust_roots)
    assert report.passed, report
    assert "long-term-validation" in report.modification.reason
    assert report.sealed_digest == sealed.sealed_digest


def test_dss_and_document_timestamp_pass(sealed: SealedDocument, pki: Pki) -> None:
    """What a later B-LTA upgrade adds: pyHanko accepts it under DocMDP NO_CHANGES."""
    extended = _with_document_timestamp(_with_dss(sealed.pdf, pki), pki)
    report = check_seal(extended, pki.trust_roots)
    assert report.passed, report
    assert report.sealed_digest == sealed.sealed_digest
    assert report.document_info["CertLedgerId"] == CERT_ID


def test_pyhanko_itself_accepts_ltv_updates_under_no_changes(
    sealed: SealedDocument, pki: Pki
) -> None:
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import validate_pdf_signature

    extended = _with_document_timestamp(_with_dss(sealed.pdf, pki), pki)
    sig = _seal_of(extended)
    assert sig.docmdp_level == fields.MDPPerm.NO_CHANGES
    status = validate_pdf_signature(sig, _vc(pki), _vc(pki))
    assert status.modification_level == ModificationLevel.LTA_UPDATES
    assert status.docmdp_ok is True


# -- every other change after sealing fails -------------------------------------------------


def test_appended_visible_text_fails(sealed: SealedDocument, pki: Pki) -> None:
    tampered_after_seal = append_visible_text(sealed.pdf)
    report = check_seal(tampered_after_seal, pki.trust_roots)
    _assert_only_modification_failed(report, "revision 2", "content of page 1")
    assert report.sealed_digest == sealed.sealed_digest


def test_added_annotation_fails(sealed: SealedDocument, pki: Pki) -> None:
    annotated_after_seal = add_square_annotation(sealed.pdf)
    report = check_seal(annotated_after_seal, pki.trust_roots)
    _assert_only_modification_failed(report, "annotations", "page 1")


def test_changed_info_fails(sealed: SealedDocument, pki: Pki) -> None:
    relabelled_after_seal = change_info(sealed.pdf, "CertLedgerId", "CL-2026-999999")
    # pyHanko's default policy tolerates /Info edits; the strict check must not
    from pyhanko.sign.validation import validate_pdf_signature

    status = validate_pdf_signature(_seal_of(relabelled_after_seal), _vc(pki), _vc(pki))
    assert status.docmdp_ok is True
    report = check_seal(relabelled_after_seal, pki.trust_roots)
    _assert_only_modification_failed(report, "document information", "CertLedgerId")
    # the id reported is the sealed one, not the edited one
    assert report.document_info["CertLedgerId"] == CERT_ID
    assert report.sealed_digest == sealed.sealed_digest


def test_info_change_hidden_after_dss_update_fails(sealed: SealedDocument, pki: Pki) -> None:
    both = change_info(_with_dss(sealed.pdf, pki), "Title", "Forged title")
    report = check_seal(both, pki.trust_roots)
    _assert_only_modification_failed(report, "revision 3", "Title")


def test_new_signature_fails(sealed: SealedDocument, pki: Pki, stamp_font: Path) -> None:
    class _IgnoreDocMdp(signers.PdfSigner):
        # An attacker's tool does not honour DocMDP; pyHanko's signer would refuse.
        def _enforce_certification_constraints(self, reader: object) -> None:
            return None

    signer = _IgnoreDocMdp(
        signers.PdfSignatureMetadata(field_name="Second", subfilter=fields.SigSeedSubFilter.PADES),
        signer=LoadedKeySigner(pki.seal("SH-HRSS")),
        new_field_spec=fields.SigFieldSpec("Second", box=(10, 10, 60, 60)),
    )
    countersigned = signer.sign_pdf(incremental(sealed.pdf)).getvalue()
    report = check_seal(countersigned, pki.trust_roots)
    _assert_only_modification_failed(report, "new signature", "Second")


def test_visible_document_timestamp_field_fails(sealed: SealedDocument, pki: Pki) -> None:
    """A "shadow" overlay: a visible widget added together with a document timestamp."""
    from pyhanko.pdf_utils import generic

    writer = incremental(sealed.pdf)
    fields.append_signature_field(
        writer, fields.SigFieldSpec("Overlay", on_page=0, box=(50, 300, 550, 500))
    )
    overlay = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): generic.ArrayObject(
                [generic.FloatObject(v) for v in (0, 0, 500, 200)]
            ),
        },
        stream_data=b"1 1 1 rg 0 0 500 200 re f",
    )
    for _, _, field_ref in fields.enumerate_sig_fields(writer, filled_status=False):
        field = field_ref.get_object()
        field[generic.NameObject("/AP")] = generic.DictionaryObject(
            {generic.NameObject("/N"): writer.add_object(overlay)}
        )
        writer.update_container(field)
    stamper = signers.PdfTimeStamper(
        InProcessTimeStamper(TimeStampAuthority(pki.tsa)), field_name="Overlay"
    )
    whited_out = stamper.timestamp_pdf(writer, "sha256").getvalue()
    report = check_seal(whited_out, pki.trust_roots)
    _assert_only_modification_failed(report, "revision 2")


def _timestamp_with_hidden_appearance(pdf: bytes, pki: Pki, content: bytes) -> bytes:
    """A document timestamp in a new invisible field whose /AP holds a form XObject with
    ``content``, written the way DSS (PDFBox) writes its timestamp field."""
    from pyhanko.pdf_utils import generic

    writer = open_ltv_update(pdf)
    fields.append_signature_field(writer, fields.SigFieldSpec("Signature1"))
    form = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): generic.ArrayObject([generic.NumberObject(0)] * 4),
        },
        stream_data=content,
    )
    for _, _, field_ref in fields.enumerate_sig_fields(writer, filled_status=False):
        field = field_ref.get_object()
        appearance = generic.DictionaryObject({generic.NameObject("/N"): writer.add_object(form)})
        field[generic.NameObject("/AP")] = writer.add_object(appearance)
        writer.update_container(field)
    stamper = signers.PdfTimeStamper(
        InProcessTimeStamper(TimeStampAuthority(pki.tsa)), field_name="Signature1"
    )
    stamped: bytes = stamper.timestamp_pdf(writer, "sha256").getvalue()
    return stamped


def test_document_timestamp_with_an_empty_appearance_passes(
    sealed: SealedDocument, pki: Pki
) -> None:
    """Interoperability: DSS gives its invisible timestamp field an empty appearance."""
    report = check_seal(_timestamp_with_hidden_appearance(sealed.pdf, pki, b""), pki.trust_roots)
    assert report.passed, report.modification


def test_document_timestamp_whose_hidden_appearance_paints_fails(
    sealed: SealedDocument, pki: Pki
) -> None:
    painted = _timestamp_with_hidden_appearance(sealed.pdf, pki, b"1 1 1 rg 0 0 500 500 re f")
    report = check_seal(painted, pki.trust_roots)
    _assert_only_modification_failed(report, "revision 2")


def test_bytes_after_eof_fail(sealed: SealedDocument, pki: Pki) -> None:
    report = check_seal(sealed.pdf + b"\n<script>evil</script>\n", pki.trust_roots)
    assert report.intact.status is Status.PASSED
    assert report.modification.status is Status.FAILED
    assert "%%EOF" in report.modification.reason


def test_empty_incremental_update_is_harmless(sealed: SealedDocument, pki: Pki) -> None:
    writer = incremental(sealed.pdf)
    assert finish(writer) == sealed.pdf  # pyHanko writes nothing when nothing changed


# -- integrity and trust ---------------------------------------------------------------------


def test_flipped_byte_in_signed_content_fails_integrity(sealed: SealedDocument, pki: Pki) -> None:
    tampered_in_place = flip_byte_in_page_content(sealed.pdf)
    assert len(tampered_in_place) == len(sealed.pdf)
    report = check_seal(tampered_in_place, pki.trust_roots)
    assert report.seal_found
    assert report.intact.status is Status.FAILED
    assert "altered" in report.intact.reason
    assert report.chain.status is not Status.PASSED
    assert not report.passed


def test_seal_from_foreign_pki_fails_chain(
    foreign_pki: Pki, pki: Pki, stamp_font: Path, certificate_pdf: bytes
) -> None:
    foreign = Sealer.from_pki(foreign_pki, "BJ-EDU", stamp_font)
    sealed_elsewhere = foreign.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")
    report = check_seal(sealed_elsewhere.pdf, pki.trust_roots)
    assert report.intact.status is Status.PASSED
    assert report.chain.status is Status.FAILED, report.chain
    assert "does not chain" in report.chain.reason
    assert report.timestamp.status is Status.FAILED
    assert not report.passed
    # ... and it passes against its own roots
    assert check_seal(sealed_elsewhere.pdf, foreign_pki.trust_roots).passed


def test_timestamp_from_foreign_tsa_fails(
    foreign_pki: Pki, pki: Pki, stamp_font: Path, certificate_pdf: bytes
) -> None:
    foreign_tsa = InProcessTimeStamper(TimeStampAuthority(foreign_pki.tsa))
    sealer = Sealer.from_pki(pki, "BJ-EDU", stamp_font, timestamper=foreign_tsa)
    sealed = sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")
    report = check_seal(sealed.pdf, pki.trust_roots)
    assert report.chain.status is Status.PASSED
    assert report.timestamp.status is Status.FAILED
    assert "time-stamp authority" in report.timestamp.reason


def test_empty_trust_roots_never_pass(sealed: SealedDocument) -> None:
    report = check_seal(sealed.pdf, [])
    assert report.intact.status is Status.PASSED
    assert report.chain.status is Status.INDETERMINATE
    assert report.timestamp.status is Status.INDETERMINATE
    assert "no trust roots" in report.chain.reason
    assert not report.passed


def test_issuing_ca_is_not_a_substitute_root(sealed: SealedDocument, pki: Pki) -> None:
    report = check_seal(sealed.pdf, [pki.issuing_ca])
    # explicit trust in the issuing CA is a deliberate configuration and does chain
    assert report.chain.status is Status.PASSED
    report = check_seal(sealed.pdf, [pki.node.certificate])
    assert report.chain.status is Status.FAILED


def test_after_the_seal_certificate_expired(sealed: SealedDocument, pki: Pki) -> None:
    later = pki.seal("BJ-EDU").certificate.not_valid_after_utc + timedelta(days=1)
    report = check_seal(sealed.pdf, pki.trust_roots, now=later)
    assert report.intact.status is Status.PASSED
    assert report.chain.status is not Status.PASSED
    assert not report.passed


def test_before_the_seal_certificate_was_issued(sealed: SealedDocument, pki: Pki) -> None:
    earlier = pki.seal("BJ-EDU").certificate.not_valid_before_utc - timedelta(days=1)
    report = check_seal(sealed.pdf, pki.trust_roots, now=earlier)
    assert report.chain.status is not Status.PASSED


def test_naive_now_is_rejected(sealed: SealedDocument, pki: Pki) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check_seal(sealed.pdf, pki.trust_roots, now=datetime(2026, 1, 1))


def test_now_inside_validity_passes(sealed: SealedDocument, pki: Pki) -> None:
    report = check_seal(sealed.pdf, pki.trust_roots, now=datetime.now(UTC) + timedelta(days=30))
    assert report.passed


# -- reported values --------------------------------------------------------------------------


def test_sealed_digest_survives_incremental_updates(sealed: SealedDocument, pki: Pki) -> None:
    for later in (
        _with_dss(sealed.pdf, pki),
        append_visible_text(sealed.pdf),
        change_info(sealed.pdf, "Title", "x"),
    ):
        assert check_seal(later, pki.trust_roots).sealed_digest == sealed.sealed_digest


def test_document_info_names_have_no_slash(sealed: SealedDocument, pki: Pki) -> None:
    info = check_seal(sealed.pdf, pki.trust_roots).document_info
    assert info["CertLedgerId"] == CERT_ID
    assert info["Title"] == "学历证书"
    assert all(not key.startswith("/") for key in info)
    with pytest.raises(TypeError):
        info["CertLedgerId"] = "changed"  # type: ignore[index]


def test_unsealed_pdf_reports_no_seal(certificate_pdf: bytes, pki: Pki) -> None:
    report = check_seal(certificate_pdf, pki.trust_roots)
    assert not report.seal_found
    assert report.intact.status is Status.FAILED
    assert report.modification.status is Status.INDETERMINATE
    assert report.sealed_digest is None and report.signer_certificate is None
    assert not report.passed


def test_document_timestamp_alone_is_not_a_seal(certificate_pdf: bytes, pki: Pki) -> None:
    only_timestamp = _with_document_timestamp(certificate_pdf, pki)
    assert not check_seal(only_timestamp, pki.trust_roots).seal_found


# -- unreadable input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"GIF89a....", "not a PDF (no %PDF header)"),
        (b"%PDF-1.7\n", "truncated or malformed PDF"),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n<<>>\n%%EOF", "truncated"),
    ],
    ids=["empty", "gif", "header-only", "no-xref"],
)
def test_unreadable_input(pki: Pki, data: bytes, message: str) -> None:
    with pytest.raises(UnreadablePdfError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_seal(data, pki.trust_roots)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_sealed_pdf(sealed: SealedDocument, pki: Pki, keep: float) -> None:
    truncated = sealed.pdf[: int(len(sealed.pdf) * keep)]
    with pytest.raises(UnreadablePdfError, match="truncated or malformed PDF"):
        check_seal(truncated, pki.trust_roots)


def test_corrupted_signature_container(sealed: SealedDocument, pki: Pki) -> None:
    sig = _seal_of(sealed.pdf)
    _, len1, _, _ = (int(v) for v in sig.byte_range)
    broken = bytearray(sealed.pdf)
    # overwrite the start of the /Contents hex string (the CMS header) with zeros
    broken[len1 + 1 : len1 + 9] = b"00000000"
    report = check_seal(bytes(broken), pki.trust_roots)
    assert report.seal_found
    assert report.intact.status is Status.FAILED
    assert not report.passed


def test_changed_xmp_fails(sealed: SealedDocument, pki: Pki) -> None:
    def add_title(xml: bytes) -> bytes:
        return xml.replace(
            b'rdf:about=""/>',
            b'rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            b'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Forged</rdf:li></rdf:Alt>'
            b"</dc:title></rdf:Description>",
        )

    retitled_xmp = replace_xmp(sealed.pdf, add_title)
    assert b"Forged" in retitled_xmp
    report = check_seal(retitled_xmp, pki.trust_roots)
    _assert_only_modification_failed(report, "XMP")


def test_xmp_rewrite_of_only_the_dates_fails(sealed: SealedDocument, pki: Pki) -> None:
    """No XMP property is exempt, not even the one every writer refreshes."""
    import re

    def bump_dates(xml: bytes) -> bytes:
        return re.sub(
            rb'xmp:ModifyDate="[^"]*"', b'xmp:ModifyDate="2031-01-01T00:00:00+00:00"', xml
        )

    rewritten = replace_xmp(sealed.pdf, bump_dates)
    assert rewritten != sealed.pdf
    report = check_seal(rewritten, pki.trust_roots)
    _assert_only_modification_failed(report, "XMP")


def test_dss_update_that_refreshes_the_metadata_fails(sealed: SealedDocument, pki: Pki) -> None:
    """Certification with DocMDP P=1 allows DSS data, not a new /ModDate or /Producer."""
    report = check_seal(_with_refreshing_writer(sealed.pdf, pki), pki.trust_roots)
    _assert_only_modification_failed(report, "revision 2", "ModDate")


def test_hand_written_content_replacement_fails(sealed: SealedDocument, pki: Pki) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(sealed.pdf))
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    contents = page.raw_get("/Contents")
    first = contents[0] if isinstance(contents, list) else contents
    stream = b"BT /F1 40 Tf 100 500 Td (VOID) Tj ET"
    body = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    replaced = raw_incremental_update(sealed.pdf, {first.reference.idnum: body})
    report = check_seal(replaced, pki.trust_roots)
    _assert_only_modification_failed(report, "revision 2")
