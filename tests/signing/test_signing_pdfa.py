"""A sealed certificate stays PDF/A-2b: the seal's revision, the B-LTA update and a renewal
add a signature, validation data and timestamps, and leave the renderer's metadata, output
intent and stream layout as PDF/A wants them."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pytest
from signing_testkit import SEAL_BOX, require_tool, run_tool

from certificates.render import FontSet, Renderer
from signing import (
    InProcessRevocationSource,
    InProcessTimeStamper,
    Pki,
    Sealer,
    SealLevel,
    TimeStampAuthority,
    check_seal,
)
from signing.renewal import renew_archive_timestamp
from tests.certificates.pdfa_checks import (
    info_xmp_mismatches,
    output_intent_profile,
    stream_layout_problems,
    transparency_uses,
    unembedded_fonts,
    xmp_properties,
)
from tests.certificates.test_render import render

# PDF/A-2 (6.3.2): annotation flags. Print set; Hidden, Invisible, NoView, ToggleNoView clear.
_PRINT, _FORBIDDEN_FLAGS = 4, 1 | 2 | 32 | 256


@pytest.fixture(scope="module")
def rendered() -> bytes:
    doc, _ = render(Renderer(FontSet.discover()), "business-licence")
    return doc.pdf


def _metadata(pdf: bytes) -> tuple[dict[str, str], bytes]:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return {str(k): str(v) for k, v in doc.docinfo.items()}, doc.Root.Metadata.read_bytes()


def _assert_still_pdfa(pdf: bytes, rendered: bytes) -> None:
    # The metadata is the renderer's, unchanged: the seal and what follows it add none.
    assert _metadata(pdf) == _metadata(rendered)
    xmp = xmp_properties(pdf)
    assert (xmp["pdfaid:part"], xmp["pdfaid:conformance"]) == ("2", "B")
    assert info_xmp_mismatches(pdf) == []
    assert output_intent_profile(pdf)[1] == output_intent_profile(rendered)[1]
    # Every revision's streams (the seal's appearance, DSS data, timestamps) included.
    assert stream_layout_problems(pdf) == []
    assert unembedded_fonts(pdf) == []
    assert transparency_uses(pdf) == []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        widgets = [a for a in doc.pages[0].get("/Annots", []) if a.get("/Subtype") == "/Widget"]
        assert widgets, "the seal's widget is on the page"
        for widget in widgets:
            flags = int(widget.get("/F", 0))
            assert flags & _PRINT and not flags & _FORBIDDEN_FLAGS, flags


def _seal(pki: Pki, stamp_font: Path, pdf: bytes, level: SealLevel) -> bytes:
    sealer = Sealer.from_pki(pki, "BJ-EDU", stamp_font, level=level)
    return sealer.seal(pdf, page=0, box=SEAL_BOX, reason="核发营业执照", location="北京").pdf


def test_the_seal_keeps_a_pdfa_certificate_pdfa(sealer: Sealer, rendered: bytes, pki: Pki) -> None:
    assert sealer.level is SealLevel.B_T
    sealed = sealer.seal(rendered, page=0, box=SEAL_BOX, reason="r", location="l").pdf
    _assert_still_pdfa(sealed, rendered)
    assert check_seal(sealed, pki.trust_roots).modification.passed


def test_b_lta_and_renewal_keep_it_pdfa(pki: Pki, stamp_font: Path, rendered: bytes) -> None:
    sealed = _seal(pki, stamp_font, rendered, SealLevel.B_LTA)
    _assert_still_pdfa(sealed, rendered)
    renewed = renew_archive_timestamp(
        sealed,
        InProcessTimeStamper(TimeStampAuthority(pki.tsa)),
        InProcessRevocationSource.from_pki(pki),
    )
    assert renewed.startswith(sealed)
    _assert_still_pdfa(renewed, rendered)
    report = check_seal(renewed, pki.trust_roots)
    assert report.passed, report


def test_a_document_without_pdfa_metadata_gets_pyhankos_update(
    sealer: Sealer, certificate_pdf: bytes
) -> None:
    """Only a PDF/A document's metadata is left alone; others are treated as before."""
    sealed = sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l").pdf
    with pikepdf.open(io.BytesIO(sealed)) as doc:
        assert "pyHanko" in str(doc.docinfo["/Producer"])


@pytest.mark.tools
def test_pdfsig_accepts_the_sealed_pdfa_certificate(
    sealer: Sealer, rendered: bytes, tmp_path: Path
) -> None:
    require_tool("pdfsig")
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealer.seal(rendered, page=0, box=SEAL_BOX, reason="r", location="l").pdf)
    out = run_tool("pdfsig", path).stdout
    assert "Signature is Valid." in out, out
