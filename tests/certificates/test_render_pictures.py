"""Every certificate type rendered as a person sees it, and kept as a picture to look at.

Each type is rendered with its example, with the longest values its fields allow and, for a
natural person's certificate, with rare name characters; each page is kept as a PDF and as
a PNG at 80 dpi in ``build/certificate-pictures`` (or ``$CERTLEDGER_SCREENSHOTS/certificates``),
like the browser tests' screenshots. The checks are what a reader would notice: a page with a
blank band across its middle, a value that cannot be found or copied, two issue dates.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from PIL import Image

from certificates.render import FontSet, Renderer
from certificates.types import CERTIFICATE_TYPES, display_value, get_type, validate

from .test_render import RARE_NAME, longest_allowed, render, run_tool

pytestmark = pytest.mark.tools

ROOT = Path(__file__).resolve().parents[2]
DPI = 80
MM = DPI / 25.4  # pixels per millimetre at DPI
# Between the heading's rule and the footer, no band of blank page taller than this: the
# old qualification certificate left 90 mm empty under its table.
MAX_BLANK_BAND_MM = 30
LONG_LATIN = "Shenzhen Example Logistics and Supply Chain Management Company Limited"


def picture_dir() -> Path:
    base = os.environ.get("CERTLEDGER_SCREENSHOTS")
    out = Path(base) / "certificates" if base else ROOT / "build" / "certificate-pictures"
    out.mkdir(parents=True, exist_ok=True)
    return out


def cases() -> list[tuple[str, str]]:
    out = []
    for code, cert_type in sorted(CERTIFICATE_TYPES.items()):
        out += [(code, "example"), (code, "longest"), (code, "long-latin")]
        if cert_type.holder_is_person:
            out.append((code, "rare-name"))
    return out


def case_data(type_code: str, case: str) -> dict[str, object]:
    cert_type = get_type(type_code)
    data: dict[str, object] = dict(cert_type.example)
    if case == "longest":
        data = longest_allowed(type_code)
    elif case == "rare-name":
        data[cert_type.holder_name_field] = RARE_NAME
    elif case == "long-latin":
        limit = cert_type.field(cert_type.title_field).max_length or len(LONG_LATIN)
        data[cert_type.title_field] = LONG_LATIN[:limit]
    return data


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(FontSet.discover())


def longest_blank_band_mm(png: bytes) -> float:
    """The tallest run of blank pixel rows inside the frame, between heading and footer."""
    image = Image.open(io.BytesIO(png)).convert("L")
    left, right = int(20 * MM), image.width - int(20 * MM)  # inside the ornamental border
    top, bottom = int(75 * MM), image.height - int(74 * MM)  # under the heading, above the footer
    longest = run = 0
    for y in range(top, bottom):
        row = image.crop((left, y, right, y + 1))
        darkest, _ = row.getextrema()
        run = run + 1 if isinstance(darkest, int) and darkest > 230 else 0
        longest = max(longest, run)
    return longest / MM


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize(("type_code", "case"), cases())
def test_certificate_picture(renderer: Renderer, type_code: str, case: str) -> None:
    cert_type = get_type(type_code)
    data = case_data(type_code, case)
    doc, _ = render(renderer, type_code, data)
    out = picture_dir() / f"{type_code}-{case}"
    out.with_suffix(".pdf").write_bytes(doc.pdf)
    png = run_tool("pdftoppm", "-r", str(DPI), "-png", "-singlefile", "-", stdin=doc.pdf)
    out.with_suffix(".png").write_bytes(png)

    band = longest_blank_band_mm(png)
    assert band < MAX_BLANK_BAND_MM, f"a blank band of {band:.0f} mm across the page"

    # Every value can be found and copied from the page, as printed (wrapped lines joined).
    text = squeeze(run_tool("pdftotext", "-", "-", stdin=doc.pdf).decode())
    values: Mapping[str, object] = validate(type_code, data, fonts=renderer.fonts).values
    for name, value in values.items():
        shown = display_value(cert_type.field(name), value)  # type: ignore[arg-type]
        assert squeeze(shown.zh) in text, name
    assert text.count("发证日期") == 1

    fonts = run_tool("pdffonts", "-", stdin=doc.pdf).decode()
    assert "NotoSerifCJKsc-Regular" in fonts and "NotoSerifCJKsc-Bold" in fonts
    if case == "rare-name":
        assert squeeze(RARE_NAME) in text and "HanaMinB" in fonts
