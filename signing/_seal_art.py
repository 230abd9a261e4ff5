"""Draw an agency's red round seal as a one-page vector PDF (reportlab, done once).

The page is a square of side ``diameter`` points holding: a red ring, a red
five-pointed star in the middle, the agency's Chinese name set clockwise along the
upper arc, and "电子印章" under the star. Text uses a TrueType font that reportlab
subsets and embeds; the canvas' initial font is that same font, so the page carries no
reference to an unembedded standard font.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from pathlib import Path
from typing import Final

from reportlab.lib.colors import Color
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas

from signing.errors import StampFontError

__all__ = ["SEAL_COLOR", "SEAL_LABEL", "render_seal_pdf"]

SEAL_COLOR: Final = Color(212 / 255, 0, 0)  # #D40000, the usual seal-paste red
SEAL_LABEL: Final = "电子印章"

# Proportions relative to the diameter, close to GB-style official seals (42 mm ring,
# ~1.2 mm border, ~14 mm star).
_RING_WIDTH: Final = 0.035
_STAR_OUTER: Final = 0.17
_STAR_INNER_RATIO: Final = 0.381966  # regular pentagram: sin 18° / sin 54°
_NAME_SIZE: Final = 0.135
_NAME_GAP: Final = 0.025  # between ring and glyph tops
_NAME_MAX_ARC_DEG: Final = 250.0
_NAME_MIN_ARC_DEG: Final = 120.0
_LABEL_SIZE: Final = 0.085
_LABEL_BASELINE: Final = -0.30

# reportlab keeps fonts in a process-wide registry and per-document subsetting state on
# the shared TTFont object; one lock around registration and drawing keeps sealers that
# are built concurrently from tripping over each other (drawing takes a few ms, once).
_reportlab_lock = threading.Lock()


def _font_name(font_path: Path, font_index: int) -> str:
    digest = hashlib.sha256(f"{font_path.resolve()}#{font_index}".encode()).hexdigest()[:12]
    return f"CertLedgerSeal-{digest}"


def _load_font(font_path: Path, font_index: int, text: str) -> str:
    """Register the stamp font with reportlab (once per process) and return its name."""
    name = _font_name(font_path, font_index)
    if name not in pdfmetrics.getRegisteredFontNames():
        try:
            font = TTFont(name, str(font_path), subfontIndex=font_index)
        except (OSError, TTFError) as exc:
            raise StampFontError(
                f"cannot load the stamp font {font_path} (index {font_index}): {exc}; "
                "use a TrueType-outline font such as WenQuanYi Zen Hei"
            ) from None
        pdfmetrics.registerFont(font)
    font = pdfmetrics.getFont(name)
    assert isinstance(font, TTFont)
    missing = sorted({ch for ch in text if ord(ch) not in font.face.charToGlyph})
    if missing:
        raise StampFontError(
            f"the stamp font {font_path} has no glyph for {''.join(missing)!r}; "
            "choose a font that covers the agency name"
        )
    return name


def _star_path(canvas: Canvas, radius: float) -> None:
    inner = radius * _STAR_INNER_RATIO
    path = canvas.beginPath()
    for i in range(10):
        r = radius if i % 2 == 0 else inner
        angle = math.radians(90 + 36 * i)
        x, y = r * math.cos(angle), r * math.sin(angle)
        if i == 0:
            path.moveTo(x, y)
        else:
            path.lineTo(x, y)
    path.close()
    canvas.drawPath(path, stroke=0, fill=1)


def _draw_name(canvas: Canvas, font: str, name: str, diameter: float) -> None:
    outer = diameter / 2 - diameter * _RING_WIDTH
    size = diameter * _NAME_SIZE
    # Glyph tops sit just inside the ring; CJK glyphs fill roughly 0.88 em above the
    # baseline, so the baseline circle is that much further in.
    baseline = outer - diameter * _NAME_GAP - 0.88 * size
    centre = baseline + 0.44 * size
    # Angular room a glyph needs at its centre radius, with a little tracking.
    per_glyph = math.degrees(1.08 * size / centre)
    span = min(_NAME_MAX_ARC_DEG, max(_NAME_MIN_ARC_DEG, per_glyph * len(name)))
    step = span / len(name)
    # Long names: condense glyphs horizontally rather than shrink them, as engraved
    # seals do, so the name stays legible.
    squeeze = min(1.0, step / per_glyph)
    canvas.setFont(font, size)
    for i, char in enumerate(name):
        theta = -span / 2 + (i + 0.5) * step  # degrees clockwise from 12 o'clock
        canvas.saveState()
        canvas.rotate(-theta)
        canvas.translate(0, baseline)
        canvas.scale(squeeze, 1)
        canvas.drawCentredString(0, 0, char)
        canvas.restoreState()


def render_seal_pdf(
    name_zh: str, font_path: Path, font_index: int = 0, *, diameter: float = 120.0
) -> bytes:
    """Return a one-page PDF (``diameter`` x ``diameter`` points) showing the seal."""
    name = name_zh.strip()
    if not name:
        raise StampFontError("the agency name for the seal is empty")
    with _reportlab_lock:
        return _render(name, Path(font_path), font_index, diameter)


def _render(name: str, font_path: Path, font_index: int, diameter: float) -> bytes:
    font = _load_font(font_path, font_index, name + SEAL_LABEL)

    out = io.BytesIO()
    # invariant=1: no creation date or random document id, so the same inputs always
    # give the same bytes (reproducible appearance, cacheable).
    canvas = Canvas(
        out,
        pagesize=(diameter, diameter),
        initialFontName=font,
        initialFontSize=10,
        invariant=1,
        pageCompression=1,
    )
    canvas.setTitle(f"{name} {SEAL_LABEL}")
    canvas.translate(diameter / 2, diameter / 2)
    canvas.setFillColor(SEAL_COLOR)
    canvas.setStrokeColor(SEAL_COLOR)

    ring = diameter * _RING_WIDTH
    canvas.setLineWidth(ring)
    canvas.circle(0, 0, diameter / 2 - ring / 2, stroke=1, fill=0)

    _star_path(canvas, diameter * _STAR_OUTER)
    _draw_name(canvas, font, name, diameter)

    canvas.setFont(font, diameter * _LABEL_SIZE)
    canvas.drawCentredString(0, diameter * _LABEL_BASELINE, SEAL_LABEL)

    canvas.showPage()
    canvas.save()
    return out.getvalue()
