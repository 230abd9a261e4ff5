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

_OUTER = 9 * mm  # outer frame inset from the page edge
_INNER = 11.5 * mm  # inner frame inset
_CORNER = 7 * mm  # side of the corner ornament

# The square the signing layer fills with the round seal (the signature's visible
# appearance). Nothing is drawn inside it: a seal over printed text would hide it, and the
# rendering tests check the area stays blank. 42 mm fits a standard 40 mm round seal.
SEAL_SIZE = 42 * mm
SEAL_BOX = (
    PAGE_WIDTH - 24 * mm - SEAL_SIZE,
    22 * mm,
    PAGE_WIDTH - 24 * mm,
    22 * mm + SEAL_SIZE,
)
# The footer (QR code, issuer, seal) lives below this line; the field table above it.
FOOTER_TOP = 70 * mm
_QR_X, _QR_Y, _QR_SIZE = 22 * mm, 24 * mm, 34 * mm
_ISSUER_RIGHT = SEAL_BOX[0] - 6 * mm
_ISSUER_LEFT = _QR_X + _QR_SIZE + 6 * mm


def draw_frame(canvas: Any) -> None:
    """Double frame in seal red, with a small meander square in each corner."""
    canvas.saveState()
    canvas.setStrokeColorRGB(*FRAME_RED)
    canvas.setFillColorRGB(*FRAME_RED)
    canvas.setLineWidth(2.2)
    canvas.rect(_OUTER, _OUTER, PAGE_WIDTH - 2 * _OUTER, PAGE_HEIGHT - 2 * _OUTER)
    canvas.setLineWidth(0.7)
    canvas.rect(_INNER, _INNER, PAGE_WIDTH - 2 * _INNER, PAGE_HEIGHT - 2 * _INNER)
    for cx, dx in ((_INNER, 1), (PAGE_WIDTH - _INNER, -1)):
        for cy, dy in ((_INNER, 1), (PAGE_HEIGHT - _INNER, -1)):
            _corner(canvas, cx, cy, dx, dy)
    canvas.restoreState()


def _corner(canvas: Any, cx: float, cy: float, dx: int, dy: int) -> None:
    # A square nested in the frame's corner, a smaller solid square inside it (回).
    x0 = cx if dx > 0 else cx - _CORNER
    y0 = cy if dy > 0 else cy - _CORNER
    canvas.rect(x0, y0, _CORNER, _CORNER, stroke=1, fill=0)
    inset = _CORNER * 0.32
    canvas.rect(x0 + inset, y0 + inset, _CORNER - 2 * inset, _CORNER - 2 * inset, stroke=0, fill=1)


def draw_heading(canvas: Any, fonts: FontSet, title_zh: str, title_en: str, cert_id: str) -> float:
    """Title (Chinese, large and spaced), English subtitle, ornament rule and certificate id.

    Returns the y below which the body may start.
    """
    centre = PAGE_WIDTH / 2
    usable = PAGE_WIDTH - 2 * (_INNER + 12 * mm)
    canvas.saveState()
    # Short titles are spaced out, as on printed certificates (营　业　执　照).
    spacing = 14.0 if len(title_zh) <= 4 else 8.0 if len(title_zh) <= 6 else 3.0
    size = fit_size(fonts, title_zh, 30.0, usable - spacing * (len(title_zh) - 1))
    canvas.setFillColorRGB(*FRAME_RED)
    draw_text(
        canvas,
        fonts,
        title_zh,
        centre,
        PAGE_HEIGHT - 38 * mm,
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
        PAGE_HEIGHT - 45.5 * mm,
        fit_size(fonts, subtitle, 12.0, usable),
        align="centre",
        char_space=1.5,
    )
    _ornament_rule(canvas, centre, PAGE_HEIGHT - 50.5 * mm, 110 * mm)
    canvas.setFillColorRGB(*INK)
    draw_text(
        canvas,
        fonts,
        f"证书编号  Certificate No.  {cert_id}",
        centre,
        PAGE_HEIGHT - 57 * mm,
        9.5,
        align="centre",
    )
    canvas.restoreState()
    return float(PAGE_HEIGHT - 62 * mm)


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


def draw_issuer(canvas: Any, fonts: FontSet, name_zh: str, name_en: str, issued_at: date) -> None:
    """Issuing agency and date, right-aligned against the seal area as signed off on paper."""
    width = _ISSUER_RIGHT - _ISSUER_LEFT
    lines = (
        (name_zh, 14.0, INK, 56 * mm),
        (name_en, 8.0, MUTED, 50.5 * mm),
        (f"发证日期  {format_date_zh(issued_at)}", 10.5, INK, 42 * mm),
        (f"Date of issue: {format_date_en(issued_at)}", 8.0, MUTED, 37 * mm),
    )
    canvas.saveState()
    for text, size, colour, y in lines:
        canvas.setFillColorRGB(*colour)
        size = fit_size(fonts, text, size, width)
        draw_text(canvas, fonts, text, _ISSUER_RIGHT, y, size, align="right")
    canvas.setStrokeColorRGB(*FRAME_RED)
    canvas.setLineWidth(0.5)
    canvas.line(_ISSUER_LEFT + width / 3, 47 * mm, _ISSUER_RIGHT, 47 * mm)
    canvas.restoreState()
