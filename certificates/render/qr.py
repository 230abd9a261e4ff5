"""The verification QR code, drawn as vector rectangles (sharp at any zoom, a few KB)."""

from __future__ import annotations

from typing import Any

import segno

__all__ = ["QUIET_ZONE", "draw_qr"]

QUIET_ZONE = 4  # modules of white border; the QR standard's minimum for reliable scanning


def draw_qr(canvas: Any, data: str, x: float, y: float, size: float) -> None:
    """Draw a QR code for `data` filling the square at (x, y) of side `size`, quiet zone included.

    Error correction M: enough for a printed page, and it keeps the symbol small so that
    each module stays large enough for a phone camera. Adjacent dark modules in a row
    are merged into one rectangle to keep the content stream short.
    """
    code = segno.make(data, error="m", micro=False, boost_error=False)
    matrix = code.matrix
    modules = len(matrix) + 2 * QUIET_ZONE
    unit = size / modules
    top = y + size - QUIET_ZONE * unit
    path = canvas.beginPath()
    for row, cells in enumerate(matrix):
        row_y = top - (row + 1) * unit
        col = 0
        width = len(cells)
        while col < width:
            if not cells[col]:
                col += 1
                continue
            start = col
            while col < width and cells[col]:
                col += 1
            path.rect(x + (QUIET_ZONE + start) * unit, row_y, (col - start) * unit, unit)
    canvas.saveState()
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColorRGB(0, 0, 0)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()
