"""pyHanko stamp style that paints a pre-rendered seal as a signature appearance.

The seal PDF is drawn (and its font subset) once per :class:`~signing.Sealer`; for each
document only its few objects (content stream, font dictionary, embedded subset) are
copied into the output, which costs well under a millisecond. Re-subsetting a CJK font
per signature, as text stamps do, would cost hundreds.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import BaseStamp, BaseStampStyle

__all__ = ["SealStampStyle"]

_XOBJECT_NAME = "/CertLedgerSeal"


@dataclass(frozen=True)
class SealStampStyle(BaseStampStyle):
    """Stamp style whose whole content is the seal, centred and scaled to fit the box."""

    seal_pdf: bytes = b""
    border_width: int = 0

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: Any
    ) -> _SealStamp:
        return _SealStamp(writer, self, box)


class _SealStamp(BaseStamp):
    def __init__(
        self, writer: BasePdfFileWriter, style: SealStampStyle, box: layout.BoxConstraints
    ) -> None:
        super().__init__(writer=writer, style=style, box=box)
        self._seal_pdf = style.seal_pdf

    def _render_inner_content(self) -> list[bytes]:
        # A reader per document: PdfFileReader holds a stream position, so sharing one
        # between threads would be unsafe. Parsing the ~14 KB seal PDF is cheap.
        reader = PdfFileReader(io.BytesIO(self._seal_pdf), strict=True)
        xobject_ref = self._ensure_writer.import_page_as_xobject(reader, page_ix=0)
        x1, y1, x2, y2 = (float(v) for v in xobject_ref.get_object()["/BBox"])
        art_w, art_h = abs(x2 - x1), abs(y2 - y1)
        box_w, box_h = float(self.box.width), float(self.box.height)
        scale = min(box_w / art_w, box_h / art_h)
        dx = (box_w - art_w * scale) / 2 - min(x1, x2) * scale
        dy = (box_h - art_h * scale) / 2 - min(y1, y2) * scale
        self.set_resource(
            category=ResourceType.XOBJECT,
            name=generic.NameObject(_XOBJECT_NAME),
            value=xobject_ref,
        )
        return [
            b"q %.4f 0 0 %.4f %.4f %.4f cm %s Do Q"
            % (scale, scale, dx, dy, _XOBJECT_NAME.encode("ascii"))
        ]
