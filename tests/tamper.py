"""Ways to change a sealed PDF after sealing, named after what they do (shared by test suites)."""

from __future__ import annotations

import re
from io import BytesIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter


def flip_byte_in_first_stream(pdf: bytes) -> bytes:
    """Flips one byte inside the first stream's data: inside the signed range, file still parses."""
    m = re.search(rb"stream\r?\n", pdf)
    assert m is not None
    pos = m.end() + 10
    return pdf[:pos] + bytes([pdf[pos] ^ 0x01]) + pdf[pos + 1 :]


def append_visible_content(pdf: bytes) -> bytes:
    """An incremental update adding a content stream that paints over the page (visible change)."""
    w = IncrementalPdfFileWriter(BytesIO(pdf))
    content = b"q 1 0 0 rg 60 500 300 80 re f Q q 1 1 1 rg 60 600 400 40 re f Q"
    ref = w.add_object(generic.StreamObject(stream_data=content))
    w.add_stream_to_page(0, ref)
    out = BytesIO()
    w.write(out)
    return out.getvalue()


def add_annotation(pdf: bytes) -> bytes:
    """An incremental update adding a Square annotation to page 1."""
    w = IncrementalPdfFileWriter(BytesIO(pdf))
    page_ref, _ = w.find_page_for_modification(0)
    page = page_ref.get_object()
    annot = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Square"),
            generic.NameObject("/Rect"): generic.ArrayObject(
                [generic.FloatObject(v) for v in (100, 100, 300, 200)]
            ),
            generic.NameObject("/C"): generic.ArrayObject(
                [generic.FloatObject(1), generic.FloatObject(0), generic.FloatObject(0)]
            ),
            generic.NameObject("/Contents"): generic.TextStringObject("APPROVED"),
        }
    )
    annot_ref = w.add_object(annot)
    annots = page.get("/Annots")
    if annots is None:
        page[generic.NameObject("/Annots")] = generic.ArrayObject([annot_ref])
    else:
        annots = annots.get_object() if isinstance(annots, generic.IndirectObject) else annots
        annots.append(annot_ref)
        if isinstance(page.raw_get("/Annots"), generic.IndirectObject):
            w.mark_update(page.raw_get("/Annots"))
    w.mark_update(page_ref)
    out = BytesIO()
    w.write(out)
    return out.getvalue()
