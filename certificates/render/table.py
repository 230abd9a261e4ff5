"""The bilingual field table: label (Chinese over English) on the left, value on the right."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..types import CertificateType, FieldKind, ValidatedData, display_value
from .errors import RenderError
from .fonts import FontSet
from .page import FRAME_RED, INK, MUTED
from .text import draw_text, fit_size, wrap, wrap_tokens

__all__ = ["FieldTable"]

_LABEL_SIZE = 10.5  # for values up to _BASE_SIZE; labels grow with larger values
_LABEL_EN_SIZE = 7.0
_BASE_SIZE = 12.5
_VALUE_EN_RATIO = 0.72  # English line under a value, relative to the value size
_LEADING = 1.32
_PAD = 4.5  # points above and below the content of a row, at the least
# Added above and below each row when the fields leave room to spare: a short table (four
# fields of a qualification) fills the page with airy rows instead of leaving a blank band.
_MAX_EXTRA_PAD = 22.0
_GUTTER = 8.0  # points between a cell's edge and its text
# Value sizes tried from largest to smallest until the table fits its box. Few fields are
# set large, as the holder's name on a printed certificate is.
_VALUE_SIZES = (16.0, 15.0, 14.0, 13.0, *(half / 2 for half in range(25, 13, -1)))  # to 7.0
# Long free text may be set smaller than the other values, but not much smaller while the
# others could shrink instead.
_FLEX_MIN_RATIO = 0.78

_RULE = (0.72, 0.52, 0.48)  # a faded seal red for the lines between rows


@dataclass(frozen=True, slots=True)
class _Row:
    label_zh: str
    label_en: str
    value: list[list[tuple[str, float]]]  # measured tokens, see text.wrap_tokens
    value_en: str | None
    flexible: bool  # multi-line text, shrunk first when the table is too tall


@dataclass(frozen=True, slots=True)
class _PlacedRow:
    row: _Row
    size: float  # value size
    lines: list[str]
    height: float
    pad: float = _PAD


class FieldTable:
    """Lays out a certificate's fields within a box, shrinking values until they fit."""

    def __init__(self, fonts: FontSet, x: float, width: float, label_width: float) -> None:
        self._fonts = fonts
        self._x = x
        self._width = width
        self._label_width = label_width
        self._value_width = width - label_width - 2 * _GUTTER

    def draw(
        self,
        canvas: Any,
        cert_type: CertificateType,
        data: ValidatedData,
        top: float,
        bottom: float,
    ) -> float:
        """Draw the table between `top` and `bottom`, centred if shorter; returns its bottom."""
        # The issue date, where the data declares it, is printed once: by the seal.
        names = [n for n in cert_type.field_names if n in data and n != cert_type.issue_date_field]
        rows = [self._row(cert_type, name, data) for name in names]
        placed = self._fit(rows, top - bottom)
        # A short table gets airier rows rather than a band of empty page under it, and
        # what is still left is shared above and below it.
        spare = top - bottom - sum(p.height for p in placed)
        extra = min(spare / (2 * len(placed)), _MAX_EXTRA_PAD) if placed else 0.0
        placed = [replace(p, height=p.height + 2 * extra, pad=_PAD + extra) for p in placed]
        top -= (top - bottom - sum(p.height for p in placed)) / 2
        y = top
        canvas.saveState()
        canvas.setLineWidth(0.4)
        canvas.setStrokeColorRGB(*_RULE)
        for i, item in enumerate(placed):
            self._draw_row(canvas, item, y)
            y -= item.height
            if i < len(placed) - 1:
                canvas.line(self._x, y, self._x + self._width, y)
        label_right = self._x + self._label_width
        canvas.line(label_right, top, label_right, y)
        canvas.setLineWidth(0.9)
        canvas.setStrokeColorRGB(*FRAME_RED)
        canvas.rect(self._x, y, self._width, top - y, stroke=1, fill=0)
        canvas.restoreState()
        return y

    def _row(self, cert_type: CertificateType, name: str, data: ValidatedData) -> _Row:
        spec = cert_type.field(name)
        shown = display_value(spec, data[name])
        tokens = wrap_tokens(self._fonts, shown.zh)
        flexible = spec.kind is FieldKind.MULTILINE
        return _Row(spec.label_zh, spec.label_en, tokens, shown.en, flexible)

    def _fit(self, rows: list[_Row], available: float) -> list[_PlacedRow]:
        # Shrink long free text (business scope) before anything else, so one long field
        # does not make every other value small; shrink everything only if that fails.
        for strict in (True, False):
            for size in _VALUE_SIZES:
                fixed = {i: self._place(r, size) for i, r in enumerate(rows) if not r.flexible}
                room = available - sum(p.height for p in fixed.values())
                floor = size * _FLEX_MIN_RATIO if strict else 0.0
                for flex_size in (s for s in _VALUE_SIZES if floor <= s <= size):
                    flexible = {
                        i: self._place(r, flex_size) for i, r in enumerate(rows) if r.flexible
                    }
                    if sum(p.height for p in flexible.values()) <= room:
                        placed = fixed | flexible
                        return [placed[i] for i in range(len(rows))]
        # Field length limits are set so this cannot happen with validated data.
        raise RenderError("the certificate's fields do not fit on one page")

    def _place(self, row: _Row, size: float) -> _PlacedRow:
        lines = wrap(self._fonts, row.value, size, self._value_width)
        value_height = _value_height(row, size, len(lines))
        label_zh, label_en = _label_sizes(size)
        label_height = (label_zh + label_en) * _LEADING
        return _PlacedRow(row, size, lines, max(value_height, label_height) + 2 * _PAD)

    def _draw_row(self, canvas: Any, item: _PlacedRow, top: float) -> None:
        fonts, row, size = self._fonts, item.row, item.size
        # The label and the value are each centred in the row's height.
        label_zh, label_en = _label_sizes(size)
        label_height = (label_zh + label_en) * _LEADING
        value_height = _value_height(row, size, len(item.lines))
        content = max(label_height, value_height)
        # Label: Chinese, with the English label in small grey type under it.
        label_x = self._x + _GUTTER
        baseline = top - item.pad - (content - label_height) / 2 - label_zh
        label_width = self._label_width - 2 * _GUTTER
        canvas.setFillColorRGB(*INK)
        label_size = fit_size(fonts, row.label_zh, label_zh, label_width)
        draw_text(canvas, fonts, row.label_zh, label_x, baseline, label_size)
        canvas.setFillColorRGB(*MUTED)
        label_en_size = fit_size(fonts, row.label_en, label_en, label_width)
        label_en_y = baseline - label_en * _LEADING
        draw_text(canvas, fonts, row.label_en, label_x, label_en_y, label_en_size)
        # Value lines, then the value's English rendering if it has one.
        value_x = self._x + self._label_width + _GUTTER
        y = top - item.pad - (content - value_height) / 2 - size
        canvas.setFillColorRGB(*INK)
        for line in item.lines:
            draw_text(canvas, fonts, line, value_x, y, size)
            y -= size * _LEADING
        if row.value_en:
            canvas.setFillColorRGB(*MUTED)
            en_size = fit_size(fonts, row.value_en, size * _VALUE_EN_RATIO, self._value_width)
            en_y = y + (size - en_size) * _LEADING  # one English line below the last value line
            draw_text(canvas, fonts, row.value_en, value_x, en_y, en_size)


def _label_sizes(value_size: float) -> tuple[float, float]:
    """Chinese and English label sizes for a row whose value is set at `value_size`."""
    scale = max(1.0, value_size / _BASE_SIZE)
    return _LABEL_SIZE * scale, _LABEL_EN_SIZE * scale


def _value_height(row: _Row, size: float, line_count: int) -> float:
    height = line_count * size * _LEADING
    if row.value_en:
        height += size * _VALUE_EN_RATIO * _LEADING
    return height
