"""Rendered certificates are PDF/A-2b: identification, metadata, output intent, streams, fonts.

veraPDF validates the real thing (see docs/decisions/pdfa-2b.md); these tests pin the parts
the renderer is responsible for, each with its reason, and fail on plain reportlab output.
"""

from __future__ import annotations

import io
import shutil
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pikepdf
import pytest
from reportlab.pdfgen.canvas import Canvas

from certificates.render import (
    ColourProfile,
    ColourProfileMissingError,
    DocumentInfo,
    FontSet,
    Renderer,
    RenderError,
    pdfa,
)
from certificates.render.pdfa import PRODUCER, SRGB_PROFILE_ENV, make_pdfa_2b
from certificates.types import CERTIFICATE_TYPES, get_type

from .pdfa_checks import (
    info_xmp_mismatches,
    output_intent_profile,
    stream_layout_problems,
    transparency_uses,
    unembedded_fonts,
    xmp_properties,
)
from .test_render import ISSUER_ZH, cert_id_for, render


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(FontSet.discover())


@pytest.fixture(scope="module")
def profile() -> ColourProfile:
    return ColourProfile.discover()


def _plain_reportlab_pdf() -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out, pageCompression=1)
    canvas.setFillColorRGB(0.6, 0.1, 0.08)
    canvas.rect(100, 100, 200, 200, stroke=0, fill=1)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def _info(**changes: object) -> DocumentInfo:
    fields: dict[str, object] = {
        "title": "营业执照 Business Licence BL-1",
        "author": ISSUER_ZH,
        "subject": "Business Licence BL-1",
        "creator": "CertLedger",
        "created": datetime(2026, 3, 1, 8, 30, tzinfo=UTC),
    }
    fields.update(changes)
    return DocumentInfo(**fields)  # type: ignore[arg-type]


# -- every type, as rendered ----------------------------------------------------------------


@pytest.mark.parametrize("type_code", sorted(CERTIFICATE_TYPES))
def test_rendered_certificate_identifies_itself_as_pdfa_2b(
    renderer: Renderer, type_code: str
) -> None:
    doc, _ = render(renderer, type_code)
    xmp = xmp_properties(doc.pdf)
    assert (xmp["pdfaid:part"], xmp["pdfaid:conformance"]) == ("2", "B")
    assert xmp["dc:format"] == "application/pdf"


@pytest.mark.parametrize("type_code", sorted(CERTIFICATE_TYPES))
def test_info_and_xmp_say_the_same(renderer: Renderer, type_code: str) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    doc, _ = render(renderer, type_code)
    assert info_xmp_mismatches(doc.pdf) == []
    xmp = xmp_properties(doc.pdf)
    cert_type, cert_id = get_type(type_code), cert_id_for(type_code)
    # Every key that has an XMP counterpart is there (so the comparison above is not vacuous).
    assert xmp["dc:title"] == f"{cert_type.name_zh} {cert_type.name_en} {cert_id}"
    assert xmp["dc:creator"] == ISSUER_ZH
    assert xmp["xmp:CreatorTool"] == "CertLedger"
    assert xmp["pdf:Producer"] == PRODUCER
    created = datetime.fromisoformat(xmp["xmp:CreateDate"])
    assert created.utcoffset() is not None
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert xmp["xmp:ModifyDate"] == xmp["xmp:CreateDate"]
    with pikepdf.open(io.BytesIO(doc.pdf)) as pdf:
        keys = set(pdf.docinfo.keys())
    assert {"/Title", "/Author", "/Subject", "/Creator", "/Producer"} <= keys
    assert {"/CreationDate", "/ModDate", "/CertLedgerId", "/CertLedgerType"} <= keys


@pytest.mark.parametrize("type_code", sorted(CERTIFICATE_TYPES))
def test_srgb_output_intent_with_the_profile(
    renderer: Renderer, profile: ColourProfile, type_code: str
) -> None:
    doc, _ = render(renderer, type_code)
    intent, icc = output_intent_profile(doc.pdf)
    assert icc == profile.data
    assert icc[36:40] == b"acsp" and icc[16:20] == b"RGB " and icc[12:16] == b"mntr"
    assert intent["/OutputConditionIdentifier"] == "sRGB IEC61966-2.1"


@pytest.mark.parametrize("type_code", sorted(CERTIFICATE_TYPES))
def test_every_stream_ends_with_an_end_of_line(renderer: Renderer, type_code: str) -> None:
    doc, _ = render(renderer, type_code)
    assert stream_layout_problems(doc.pdf) == []
    # There were streams to check: font program, ToUnicode map, page content, ICC, XMP.
    assert doc.pdf.count(b"endstream") >= 5


@pytest.mark.parametrize("type_code", sorted(CERTIFICATE_TYPES))
def test_fonts_embedded_and_nothing_transparent(renderer: Renderer, type_code: str) -> None:
    doc, _ = render(renderer, type_code)
    assert unembedded_fonts(doc.pdf) == []
    assert transparency_uses(doc.pdf) == []


def test_the_checks_catch_plain_reportlab_output() -> None:
    """What the pikepdf pass is for: reportlab alone fails each of these."""
    pdf = _plain_reportlab_pdf()
    assert any("not followed by EOL endstream" in p for p in stream_layout_problems(pdf))
    with pytest.raises(AssertionError, match="/Metadata"):
        xmp_properties(pdf)
    with pytest.raises(AssertionError, match="/OutputIntents"):
        output_intent_profile(pdf)


def test_metadata_text_is_escaped_and_checked(profile: ColourProfile) -> None:
    title = 'A & B <"证书"> \U000201d4'
    pdf = make_pdfa_2b(_plain_reportlab_pdf(), _info(title=title), profile)
    assert xmp_properties(pdf)["dc:title"] == title
    assert info_xmp_mismatches(pdf) == []
    with pytest.raises(RenderError, match="XML"):
        _info(author="agency\x07")
    with pytest.raises(RenderError, match="time zone"):
        _info(created=datetime(2026, 3, 1, 8, 30))


def test_dates_keep_their_time_zone(profile: ColourProfile) -> None:
    from datetime import timezone

    beijing = datetime(2026, 3, 1, 16, 30, tzinfo=timezone(timedelta(hours=8)))
    pdf = make_pdfa_2b(_plain_reportlab_pdf(), _info(created=beijing), profile)
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        assert str(doc.docinfo["/CreationDate"]) == "D:20260301163000+08'00'"
    assert xmp_properties(pdf)["xmp:CreateDate"] == "2026-03-01T16:30:00+08:00"
    assert info_xmp_mismatches(pdf) == []


# -- the colour profile ---------------------------------------------------------------------


def test_profile_is_loaded_once_per_process(profile: ColourProfile) -> None:
    assert ColourProfile.discover() is profile
    assert ColourProfile.discover(profile.path) is profile


def test_profile_can_come_from_the_environment(
    tmp_path: Path, profile: ColourProfile, renderer: Renderer
) -> None:
    copy = tmp_path / "my-srgb.icc"
    shutil.copyfile(profile.path, copy)
    other = ColourProfile.discover(env={SRGB_PROFILE_ENV: str(copy)})
    assert other.path == copy and other.data == profile.data
    doc, _ = render(Renderer(renderer.fonts, other), "business-licence")
    assert output_intent_profile(doc.pdf)[1] == profile.data


def test_missing_profile_names_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "sRGB.icc"
    monkeypatch.setattr(pdfa, "DEFAULT_SRGB_PROFILE", missing)
    with pytest.raises(ColourProfileMissingError, match="apt-get install icc-profiles-free"):
        ColourProfile.discover(env={})
    with pytest.raises(ColourProfileMissingError, match=f"unset {SRGB_PROFILE_ENV}"):
        ColourProfile.discover(env={SRGB_PROFILE_ENV: str(tmp_path / "elsewhere.icc")})


def _with_primary(data: bytes, tag: bytes, xyz: tuple[float, float, float]) -> bytes:
    count = struct.unpack(">I", data[128:132])[0]
    for i in range(count):
        sig, offset, _ = struct.unpack(">4sII", data[132 + 12 * i : 144 + 12 * i])
        if sig == tag:
            values = struct.pack(">3i", *(round(v * 65536) for v in xyz))
            return data[: offset + 8] + values + data[offset + 20 :]
    raise AssertionError(f"no {tag!r} tag")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: b"not an icc profile" * 10, "not an ICC profile"),
        (lambda d: d[:-100], "size does not match"),
        (lambda d: d[:12] + b"scnr" + d[16:], "device class"),
        # Adobe RGB's red primary: an RGB display profile, but not sRGB.
        (lambda d: _with_primary(d, b"rXYZ", (0.6097, 0.3111, 0.0195)), "not sRGB's"),
    ],
    ids=["not-icc", "truncated", "input-class", "adobe-rgb"],
)
def test_unusable_profiles_are_refused(
    tmp_path: Path, profile: ColourProfile, change: object, reason: str
) -> None:
    bad = tmp_path / "bad.icc"
    bad.write_bytes(change(profile.data))  # type: ignore[operator]
    with pytest.raises(ColourProfileMissingError, match=reason):
        ColourProfile.discover(bad)
