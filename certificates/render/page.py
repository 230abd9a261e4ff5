"""Page geometry and the fixed parts of a certificate: frame, heading, QR code, issuer.

All positions are in PDF points from the bottom-left corner of an A4 portrait page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm

from ..types import format_date_en, format_date_zh
from .fonts import FontSet
from .qr import draw_qr
from .text import draw_text, fit_size

__all__ = [
    "BODY_LEFT",
    "BODY_RIGHT",
    "FOOTER_TOP",
    "PAGE_HEIGHT",
    "PAGE_WIDTH",
    "SEAL_BOX",
    "draw_frame",
    "draw_heading",
    "draw_issuer",
    "draw_verification",
]

PAGE_WIDTH, PAGE_HEIGHT = A4
FRAME_RED = (0.60, 0.10, 0.08)
INK = (0.10, 0.10, 0.10)
MUTED = (0.38, 0.38, 0.38)

_OUTER = 8 * mm  # outer frame inset from the page edge
_BAND = (9.8 * mm, 14.2 * mm)  # the ornamental band between the frames (insets)
_INNER = 15.5 * mm  # inner frame inset
_KNOT = 3.0 * mm  # side of one 回 square of the band

# The square the signing layer fills with the round seal (the signature's visible
# appearance). Nothing is drawn inside it: a seal over printed text would hide it, and the
# rendering tests check the area stays blank. 42 mm fits a standard 40 mm round seal.
SEAL_SIZE = 42 * mm
SEAL_BOX = (
    PAGE_WIDTH - 26 * mm - SEAL_SIZE,
    24 * mm,
    PAGE_WIDTH - 26 * mm,
    24 * mm + SEAL_SIZE,
)
# The footer (QR code, issuer, seal) lives below this line; the field table above it.
FOOTER_TOP = 74 * mm
# Left and right edge of the body (heading, table), inside the inner frame.
BODY_LEFT, BODY_RIGHT = 26 * mm, PAGE_WIDTH - 26 * mm
_QR_X, _QR_Y, _QR_SIZE = 26 * mm, 28 * mm, 34 * mm
_ISSUER_RIGHT = SEAL_BOX[0] - 5 * mm
_ISSUER_LEFT = _QR_X + _QR_SIZE + 6 * mm


def draw_frame(canvas: Any) -> None:
    """A heavy outer rule, a band of 回 squares and a fine inner rule, in seal red.

    Printed certificates carry such an ornamental border; it also closes the page so that
    a short field table does not float on a bare sheet.
    """
    canvas.saveState()
    canvas.setStrokeColorRGB(*FRAME_RED)
    canvas.setFillColorRGB(*FRAME_RED)
    canvas.setLineWidth(2.4)
    canvas.rect(_OUTER, _OUTER, PAGE_WIDTH - 2 * _OUTER, PAGE_HEIGHT - 2 * _OUTER)
    canvas.setLineWidth(0.6)
    for inset in _BAND:
        canvas.rect(inset, inset, PAGE_WIDTH - 2 * inset, PAGE_HEIGHT - 2 * inset)
    canvas.setLineWidth(0.9)
    canvas.rect(_INNER, _INNER, PAGE_WIDTH - 2 * _INNER, PAGE_HEIGHT - 2 * _INNER)
    _band(canvas)
    canvas.restoreState()


def _band(canvas: Any) -> None:
    # Squares centred in the band, evenly spaced along each side, one in every corner.
    middle = (_BAND[0] + _BAND[1]) / 2
    left, right = middle, PAGE_WIDTH - middle
    bottom, top = middle, PAGE_HEIGHT - middle
    centres: set[tuple[float, float]] = set()
    for start, end, fixed, horizontal in (
        (left, right, bottom, True),
        (left, right, top, True),
        (bottom, top, left, False),
        (bottom, top, right, False),
    ):
        count = max(1, round((end - start) / (_KNOT * 1.9)))
        step = (end - start) / count
        for i in range(count + 1):
            along = start + i * step
            centres.add((along, fixed) if horizontal else (fixed, along))
    outline = canvas.beginPath()
    solid = canvas.beginPath()
    half, core = _KNOT / 2, _KNOT * 0.18
    for cx, cy in sorted(centres):
        outline.rect(cx - half, cy - half, _KNOT, _KNOT)
        solid.rect(cx - core, cy - core, 2 * core, 2 * core)
    canvas.setLineWidth(0.55)
    canvas.drawPath(outline, stroke=1, fill=0)
    canvas.drawPath(solid, stroke=0, fill=1)


def draw_heading(canvas: Any, fonts: FontSet, title_zh: str, title_en: str, cert_id: str) -> float:
    """Title (Chinese, in the bold title face, large and spaced), English subtitle, ornament
    rule and certificate id. Returns the y below which the body may start.
    """
    centre = PAGE_WIDTH / 2
    usable = BODY_RIGHT - BODY_LEFT
    canvas.saveState()
    # Short titles are spaced out, as on printed certificates (营　业　执　照).
    spacing = 20.0 if len(title_zh) <= 4 else 10.0 if len(title_zh) <= 6 else 4.0
    titles = fonts.title_set
    size = fit_size(titles, title_zh, 34.0, usable - spacing * (len(title_zh) - 1))
    canvas.setFillColorRGB(*FRAME_RED)
    draw_text(
        canvas,
        titles,
        title_zh,
        centre,
        PAGE_HEIGHT - 46 * mm,
        size,
        align="centre",
        char_space=spacing,
    )
    canvas.setFillColorRGB(*MUTED)
    subtitle = title_en.upper()
    draw_text(
        canvas,
        fonts,
        subtitle,
        centre,
        PAGE_HEIGHT - 55 * mm,
        fit_size(fonts, subtitle, 12.0, usable),
        align="centre",
        char_space=1.5,
    )
    _ornament_rule(canvas, centre, PAGE_HEIGHT - 60.5 * mm, 120 * mm)
    canvas.setFillColorRGB(*INK)
    draw_text(
        canvas,
        fonts,
        f"证书编号  Certificate No.  {cert_id}",
        centre,
        PAGE_HEIGHT - 67.5 * mm,
        10,
        align="centre",
    )
    canvas.restoreState()
    return float(PAGE_HEIGHT - 73 * mm)


def _ornament_rule(canvas: Any, centre: float, y: float, width: float) -> None:
    canvas.setStrokeColorRGB(*FRAME_RED)
    canvas.setFillColorRGB(*FRAME_RED)
    canvas.setLineWidth(0.8)
    gap = 4 * mm
    canvas.line(centre - width / 2, y, centre - gap, y)
    canvas.line(centre + gap, y, centre + width / 2, y)
    half = 1.6 * mm
    diamond = canvas.beginPath()
    diamond.moveTo(centre, y + half)
    diamond.lineTo(centre + half, y)
    diamond.lineTo(centre, y - half)
    diamond.lineTo(centre - half, y)
    diamond.close()
    canvas.drawPath(diamond, stroke=0, fill=1)


def draw_verification(canvas: Any, fonts: FontSet, verify_url: str) -> None:
    """The QR code linking to the verification page, captioned, at the bottom left."""
    draw_qr(canvas, verify_url, _QR_X, _QR_Y, _QR_SIZE)
    canvas.setFillColorRGB(*MUTED)
    caption = "扫码核验  Scan to verify"
    draw_text(canvas, fonts, caption, _QR_X + _QR_SIZE / 2, _QR_Y - 4.5 * mm, 8, align="centre")


def draw_issuer(canvas: Any, fonts: FontSet, name_zh: str, name_en: str, issued_on: date) -> None:
    """Issuing agency and issue date, right-aligned against the seal area as signed off on
    paper. `issued_on` is the certificate's one issue date (`CertificateType.issue_date`).
    """
    width = _ISSUER_RIGHT - _ISSUER_LEFT
    lines = (
        (name_zh, 14.0, INK, 59 * mm),
        (name_en, 8.0, MUTED, 53.5 * mm),
        (f"发证日期  {format_date_zh(issued_on)}", 11.0, INK, 44.5 * mm),
        (f"Date of issue: {format_date_en(issued_on)}", 8.0, MUTED, 39.5 * mm),
    )
    canvas.saveState()
    for text, size, colour, y in lines:
        canvas.setFillColorRGB(*colour)
        size = fit_size(fonts, text, size, width)
        draw_text(canvas, fonts, text, _ISSUER_RIGHT, y, size, align="right")
    canvas.setStrokeColorRGB(*FRAME_RED)
    canvas.setLineWidth(0.5)
    canvas.line(_ISSUER_LEFT + width / 3, 49.5 * mm, _ISSUER_RIGHT, 49.5 * mm)
    canvas.restoreState()
