"""Rendering certificates to PDF: fonts, layout, QR code and the reserved seal area.

Tests marked `tools` check the PDF with independent tools: poppler (pdffonts, pdftotext,
pdftoppm, pdfinfo) and zxing-cpp for the QR code.
"""

from __future__ import annotations

import io
import pickle
import re
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from certificates.ids import CertificateId, new_verification_token
from certificates.render import (
    FontSet,
    FontsMissingError,
    JobRenderer,
    RenderedDocument,
    Renderer,
    RenderError,
)
from certificates.render.text import wrap, wrap_tokens
from certificates.types import (
    CERTIFICATE_TYPES,
    CertificateDataError,
    FieldKind,
    FieldValue,
    ValidatedData,
    get_type,
    validate,
)

MM = 72 / 25.4
# U+4DAE (CJK Extension A) and U+201D4 (Extension B) are in the Song face; U+21484
# (Extension B) only in a fallback (HanaMin B).
RARE_NAME = "李䶮𠇔𡒄"
ISSUER_ZH = "北京市海淀区市场监督管理局"
ISSUER_EN = "Haidian District Administration for Market Regulation, Beijing"
ISSUED_AT = date(2026, 1, 15)


@pytest.fixture(scope="module")
def fonts() -> FontSet:
    return FontSet.discover()


@pytest.fixture(scope="module")
def renderer(fonts: FontSet) -> Renderer:
    return Renderer(fonts)


def cert_id_for(type_code: str, serial: int = 42) -> str:
    cert_type = get_type(type_code)
    return str(CertificateId.make(cert_type.id_prefix, cert_type.agency, 2026, serial))


def verify_url_for(cert_id: str) -> str:
    return f"https://verify.example.gov.cn/v/{cert_id}?t={new_verification_token()}"


def render(
    renderer: Renderer, type_code: str, data: Mapping[str, object] | None = None
) -> tuple[RenderedDocument, str]:
    cert_type = get_type(type_code)
    validated = validate(type_code, data or cert_type.example, fonts=renderer.fonts)
    cert_id = cert_id_for(type_code)
    url = verify_url_for(cert_id)
    doc = renderer.render(
        cert_type,
        validated,
        cert_id=cert_id,
        verify_url=url,
        issuer_name_zh=ISSUER_ZH,
        issuer_name_en=ISSUER_EN,
        issued_at=ISSUED_AT,
    )
    return doc, url


def longest_allowed(type_code: str) -> dict[str, object]:
    """The example with every length-limited text field filled to its limit."""
    cert_type = get_type(type_code)
    data: dict[str, object] = dict(cert_type.example)
    for spec in cert_type.fields:
        if spec.max_length is None:
            continue
        if spec.kind is FieldKind.MULTILINE:
            data[spec.name] = ("道路普通货物运输；技术开发、咨询、服务。Logistics services; " * 50)[
                : spec.max_length
            ]
        else:
            data[spec.name] = "鑫" * spec.max_length
    return data


def run_tool(*args: str | Path, stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        [str(a) for a in args], input=stdin, capture_output=True, check=True, timeout=60
    ).stdout


# -- fonts --------------------------------------------------------------------------------------


def test_missing_fonts_name_the_debian_packages(tmp_path: Path) -> None:
    with pytest.raises(FontsMissingError) as info:
        FontSet.discover(tmp_path)
    message = str(info.value)
    assert "fonts-noto-cjk" in message and "fonts-hanazono" in message
    assert "NotoSerifCJK-Regular.ttc" in message and "NotoSerifCJK-Bold.ttc" in message
    assert "HanaMinB.ttf" in message and str(tmp_path) in message


def test_fonts_can_come_from_another_directory(tmp_path: Path, fonts: FontSet) -> None:
    nested = tmp_path / "fonts" / "cjk"
    nested.mkdir(parents=True)
    for font in fonts.all_fonts():
        (nested / font.source.name).symlink_to(font.source)
    other = FontSet.discover(tmp_path / "fonts")
    assert [f.path.name for f in other.all_fonts()] == [f.path.name for f in fonts.all_fonts()]
    # The same files are parsed (and converted) once per process, however they are reached.
    assert other.primary is fonts.primary
    assert other.primary_path == fonts.primary_path and other.primary_index == 0


def test_text_is_set_in_song_and_titles_in_bold_song(fonts: FontSet) -> None:
    # Noto Serif CJK SC, converted to TrueType outlines: reportlab can embed it.
    assert fonts.primary.source.name == "NotoSerifCJK-Regular.ttc"
    assert fonts.primary.path.suffix == ".ttf" and fonts.primary.path != fonts.primary.source
    assert fonts.title_set.primary.source.name == "NotoSerifCJK-Bold.ttc"
    assert fonts.title_set.fonts[1:] == fonts.fonts  # the same fallbacks
    # All of GB 18030's two-byte set (GBK) from the Song face itself, not from a fallback.
    gbk = {c for c in map(chr, range(0x4E00, 0xA000)) if _in_gbk(c)}
    assert len(gbk) > 20_000
    assert {c for c in gbk if fonts.font_for(c) is not fonts.primary} == set()


def _in_gbk(char: str) -> bool:
    try:
        char.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def test_rare_name_characters_are_covered_by_some_font(fonts: FontSet) -> None:
    assert fonts.missing_chars(RARE_NAME + "\n营业执照 ABC 123") == set()
    # U+30000 (Extension G): no font has it. (Noto Serif CJK SC draws some of Extension G,
    # biang U+30EDD among them.)
    assert fonts.missing_chars("王\U00030000") == {"\U00030000"}
    runs = list(fonts.runs("张" + RARE_NAME))
    assert "".join(text for _, text in runs) == "张" + RARE_NAME
    assert runs[0][0] is fonts.primary
    assert any(font is not fonts.primary for font, _ in runs)  # 𠇔 comes from a fallback


def test_validation_with_fonts_refuses_what_cannot_be_drawn(fonts: FontSet) -> None:
    data = dict(get_type("qualification-certificate").example, holder_name="王\U00030000")
    with pytest.raises(CertificateDataError) as info:
        validate("qualification-certificate", data, fonts=fonts)
    assert [e.code for e in info.value.errors] == ["unrenderable"]


# -- line wrapping ----------------------------------------------------------------------------


def test_cjk_wraps_per_character_and_latin_by_word(fonts: FontSet) -> None:
    text = "技术开发、技术咨询、技术服务；软件开发。Software development and consulting services"
    lines = wrap(fonts, wrap_tokens(fonts, text), 10, 120)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert all(fonts.width(line, 10) <= 120 for line in lines)
    assert len(lines) > 3
    # No English word is split across lines.
    assert {"Software", "development", "consulting", "services"} <= {
        w for line in lines for w in re.findall(r"[A-Za-z]+", line)
    }


def test_closing_punctuation_never_starts_a_line(fonts: FontSet) -> None:
    text = "一二三四五六七八九，十一二三四五六七八。九十"
    for width in range(40, 200, 7):
        for line in wrap(fonts, wrap_tokens(fonts, text), 10, width)[1:]:
            assert line[0] not in "，。", (width, line)


def test_paragraphs_stay_separate(fonts: FontSet) -> None:
    assert wrap(fonts, wrap_tokens(fonts, "第一段\n第二段"), 10, 500) == ["第一段", "第二段"]


# -- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("type_code", sorted(CERTIFICATE_TYPES))
def test_render_every_type(renderer: Renderer, type_code: str) -> None:
    doc, _ = render(renderer, type_code)
    assert doc.pdf.startswith(b"%PDF-") and doc.pdf.rstrip().endswith(b"%%EOF")
    assert 10_000 < len(doc.pdf) < 150_000
    assert doc.seal_page == 0
    x1, y1, x2, y2 = doc.seal_box
    assert x2 - x1 == pytest.approx(42 * MM) and y2 - y1 == pytest.approx(42 * MM)
    assert 0 < x1 < x2 < 595.3 and 0 < y1 < y2 < 841.9
    assert x1 > 595.3 / 2 and y2 < 841.9 / 3  # bottom right
    assert f"/CertLedgerId ({cert_id_for(type_code)})".encode() in doc.pdf
    assert f"/CertLedgerType ({type_code})".encode() in doc.pdf
    assert len(re.findall(rb"/Type /Page\b", doc.pdf)) == 1


@pytest.mark.tools
@pytest.mark.parametrize("type_code", sorted(CERTIFICATE_TYPES))
def test_one_issue_date_is_printed(renderer: Renderer, type_code: str) -> None:
    cert_type = get_type(type_code)
    data = dict(cert_type.example)
    if cert_type.issue_date_field:
        data[cert_type.issue_date_field] = "2025-06-30"  # declared; sealed on ISSUED_AT
    doc, _ = render(renderer, type_code, data)
    text = run_tool("pdftotext", "-", "-", stdin=doc.pdf).decode()
    assert text.count("发证日期") == 1 and text.count("Date of issue") == 1
    expected = "2025年6月30日" if cert_type.issue_date_field else "2026年1月15日"
    assert re.search(rf"发证日期\s+{expected}", text), text
    if cert_type.issue_date_field:
        assert "2026年1月15日" not in text  # the day of sealing is not a second issue date


def test_the_issue_date_rule_is_the_type_definitions(renderer: Renderer) -> None:
    qualification = get_type("qualification-certificate")
    values = validate(qualification.code, qualification.example).values
    assert qualification.issue_date(values, ISSUED_AT) == date(2026, 1, 15)
    assert qualification.issue_date(values, date(2027, 3, 1)) == values["issue_date"]
    licence = get_type("business-licence")
    licence_values = validate(licence.code, licence.example).values
    assert licence.issue_date_field is None
    assert licence.issue_date(licence_values, date(2027, 3, 1)) == date(2027, 3, 1)


@pytest.mark.parametrize("type_code", sorted(CERTIFICATE_TYPES))
def test_longest_allowed_values_fit_on_one_page(renderer: Renderer, type_code: str) -> None:
    doc, _ = render(renderer, type_code, longest_allowed(type_code))
    assert len(re.findall(rb"/Type /Page\b", doc.pdf)) == 1


def test_render_refuses_inconsistent_input(renderer: Renderer) -> None:
    data = validate("business-licence", get_type("business-licence").example)

    def attempt(type_code: str, cert_id: str, verify_url: str) -> None:
        renderer.render(
            get_type(type_code),
            data,
            cert_id=cert_id,
            verify_url=verify_url,
            issuer_name_zh=ISSUER_ZH,
            issuer_name_en=ISSUER_EN,
            issued_at=ISSUED_AT,
        )

    good_id, good_url = cert_id_for("business-licence"), "https://verify.example.gov.cn/v/x"
    with pytest.raises(RenderError, match="validated as business-licence"):
        attempt("road-transport-permit", good_id, good_url)
    with pytest.raises(RenderError, match="certificate id"):
        attempt("business-licence", "BL-1", good_url)
    with pytest.raises(RenderError, match="http"):
        attempt("business-licence", good_id, "javascript:alert(1)")


def test_renderer_can_be_shared_between_threads(renderer: Renderer) -> None:
    results: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(render(renderer, "qualification-certificate")[0].pdf)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 12
    assert all(pdf.rstrip().endswith(b"%%EOF") for pdf in results)


@dataclass(frozen=True)
class Job:
    cert_id: str
    cert_type: str
    values: Mapping[str, FieldValue]
    verify_url: str
    issuer_name_zh: str
    issuer_name_en: str
    issued_at: date


def test_job_renderer_renders_validated_values_from_another_process(renderer: Renderer) -> None:
    validated: ValidatedData = validate("business-licence", get_type("business-licence").example)
    assert validated["valid_until"] is None  # long-term must survive the trip
    cert_id = cert_id_for("business-licence")
    job = Job(
        cert_id,
        "business-licence",
        pickle.loads(pickle.dumps(validated.values)),
        verify_url_for(cert_id),
        ISSUER_ZH,
        ISSUER_EN,
        ISSUED_AT,
    )
    doc = JobRenderer(renderer).render_job(job)
    assert cert_id.encode() in doc.pdf


# -- checked with independent tools ---------------------------------------------------------


@pytest.mark.tools
@pytest.mark.parametrize("type_code", sorted(CERTIFICATE_TYPES))
def test_every_font_is_embedded_as_a_subset(renderer: Renderer, type_code: str) -> None:
    doc, _ = render(renderer, type_code)
    rows = run_tool("pdffonts", "-", stdin=doc.pdf).decode().splitlines()[2:]
    assert rows, "no fonts listed"
    for row in rows:
        name, *_ = row.split()
        emb, sub = row.split()[-5:-3]
        assert (emb, sub) == ("yes", "yes"), row
        assert "+" in name and "Helvetica" not in name, row


@pytest.mark.tools
def test_rare_name_characters_are_drawn_and_extractable(renderer: Renderer) -> None:
    data = dict(get_type("qualification-certificate").example, holder_name=RARE_NAME)
    doc, _ = render(renderer, "qualification-certificate", data)
    text = run_tool("pdftotext", "-", "-", stdin=doc.pdf).decode()
    assert RARE_NAME in text
    assert "䶮" in text and "𠇔" in text and "𡒄" in text
    assert "职业资格证书" in text and "VOCATIONAL QUALIFICATION CERTIFICATE" in text
    fonts_listed = run_tool("pdffonts", "-", stdin=doc.pdf).decode()
    assert "HanaMin" in fonts_listed  # the fallback font was embedded for them


@pytest.mark.tools
def test_metadata_names_the_certificate_but_not_the_holder(renderer: Renderer) -> None:
    data = dict(get_type("qualification-certificate").example, holder_name=RARE_NAME)
    doc, _ = render(renderer, "qualification-certificate", data)
    info = run_tool("pdfinfo", "-custom", "-", stdin=doc.pdf).decode()
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in info.splitlines())
    )
    assert fields["CertLedgerId"] == cert_id_for("qualification-certificate")
    assert fields["CertLedgerType"] == "qualification-certificate"
    assert fields["Author"] == ISSUER_ZH and fields["Creator"] == "CertLedger"
    assert "职业资格证书" in fields["Title"]
    assert RARE_NAME not in info and "110101199003070011" not in info


def page_image(pdf: bytes) -> Image.Image:
    png = run_tool("pdftoppm", "-r", "150", "-png", "-singlefile", "-", stdin=pdf)
    return Image.open(io.BytesIO(png)).convert("L")


@pytest.mark.tools
@pytest.mark.parametrize("type_code", sorted(CERTIFICATE_TYPES))
def test_qr_code_decodes_to_the_verify_url(renderer: Renderer, type_code: str) -> None:
    doc, url = render(renderer, type_code)
    results = zxingcpp.read_barcodes(page_image(doc.pdf))
    assert [r.text for r in results if r.format == zxingcpp.BarcodeFormat.QRCode] == [url]


@pytest.mark.tools
@pytest.mark.parametrize("type_code", sorted(CERTIFICATE_TYPES))
def test_seal_area_is_blank(renderer: Renderer, type_code: str) -> None:
    doc, _ = render(renderer, type_code, longest_allowed(type_code))
    image = page_image(doc.pdf)
    scale = 150 / 72
    page_height = image.height / scale
    x1, y1, x2, y2 = doc.seal_box
    # PDF space grows upwards from the bottom, image rows downwards from the top.
    box = (
        int(x1 * scale),
        int((page_height - y2) * scale),
        int(x2 * scale) + 1,
        int((page_height - y1) * scale) + 1,
    )
    area = image.crop(box)
    assert area.getextrema() == (255, 255), "something is drawn where the seal goes"
    # ...and the page around it is not blank (the check above would be vacuous otherwise).
    darkest, _ = image.getextrema()
    assert isinstance(darkest, int) and darkest < 100
