"""One reading of the file: what readers render must be what the seal covers.

The modification analysis (:mod:`signing._revisions`) sees the file through pyHanko's parser.
A forgery can be built so that another parser reads it differently (malformed or duplicate
cross-reference data, an object defined twice, bytes no revision accounts for): pyHanko then
finds nothing after the seal but LTV data while a browser's viewer shows other content. So the
file is read twice more, by independent parsers, and they must agree:

* qpdf (through pikepdf), with recovery off: the cross-reference structure must be sound as
  written (any warning is a refusal) and hold the page count pyHanko found.
* pdfium (through pypdfium2, the engine of Chrome's viewer): the whole file and the sealed
  revision alone (the bytes the seal covers) must have the same pages, the same text on each
  page and the same picture of each page, rendered with its annotations and form widgets.

Any disagreement fails the "unchanged since sealed" check with what differed. Rendering is
at a low resolution (36 dpi, at most :data:`_MAX_PIXELS` per page): enough to see a changed
amount, name or stamp, about 3 ms a page.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass

import pikepdf
import pypdfium2 as pdfium

from signing.models import Outcome

__all__ = ["second_reading"]

_SCALE = 0.5  # 36 dpi
_MAX_PIXELS = 2_000_000


@dataclass(frozen=True)
class _Page:
    text: str
    objects: int
    picture: str  # SHA-256 of the rendered bitmap


def second_reading(pdf: bytes, sealed_end: int, pages: int) -> Outcome:
    """Whether qpdf and pdfium read ``pdf`` as the sealed revision ``pdf[:sealed_end]`` with
    ``pages`` pages (pyHanko's count). Never raises: a reader that fails is a refusal."""
    problem = _qpdf_problem(pdf, pages)
    if problem is not None:
        return Outcome.failed(problem)
    try:
        whole = list(_pdfium_pages(pdf))
        sealed = list(_pdfium_pages(pdf[:sealed_end]))
    except (pdfium.PdfiumError, ValueError, OSError) as exc:
        return Outcome.failed(f"pdfium cannot read the document ({_brief(exc)})")
    if len(whole) != pages:
        return Outcome.failed(
            f"readers disagree about the document: pdfium finds {len(whole)} page(s), "
            f"the seal check {pages}"
        )
    if len(sealed) != len(whole):
        return Outcome.failed(
            f"the page count changed after sealing from {len(sealed)} to {len(whole)} "
            "(as pdfium reads the file)"
        )
    for number, (before, after) in enumerate(zip(sealed, whole, strict=True), start=1):
        if before.text != after.text:
            return Outcome.failed(
                f"the text of page {number} as pdfium reads the file differs from the sealed "
                "revision"
            )
        if before.objects != after.objects or before.picture != after.picture:
            return Outcome.failed(
                f"page {number} as pdfium renders the file differs from the sealed revision"
            )
    return Outcome.ok("pdfium and qpdf read the same document as the seal check")


def _qpdf_problem(pdf: bytes, pages: int) -> str | None:
    try:
        with pikepdf.open(io.BytesIO(pdf), attempt_recovery=False) as doc:
            count = len(doc.pages)
            warnings = doc.get_warnings()
    except (pikepdf.PdfError, ValueError, OSError) as exc:
        return f"the file's structure is damaged as qpdf reads it ({_brief(exc)})"
    if warnings:
        return f"the file's structure is irregular as qpdf reads it ({_brief(warnings[0])})"
    if count != pages:
        return (
            f"readers disagree about the document: qpdf finds {count} page(s), "
            f"the seal check {pages}"
        )
    return None


def _pdfium_pages(data: bytes) -> Iterator[_Page]:
    doc = pdfium.PdfDocument(data)
    try:
        doc.init_forms()  # render form widgets (the seal's appearance) as viewers do
        for index in range(len(doc)):
            page = doc[index]
            try:
                text = page.get_textpage().get_text_bounded()
                objects = sum(1 for _ in page.get_objects())
                width, height = page.get_size()
                scale = _SCALE
                if width * height * scale * scale > _MAX_PIXELS:
                    scale = (_MAX_PIXELS / max(width * height, 1.0)) ** 0.5
                bitmap = page.render(scale=scale, may_draw_forms=True)
                picture = hashlib.sha256(bytes(bitmap.buffer)).hexdigest()
                yield _Page(text, objects, picture)
            finally:
                page.close()
    finally:
        doc.close()


def _brief(value: object) -> str:
    text = " ".join(str(value).split()) or type(value).__name__
    return text if len(text) <= 160 else text[:159] + "…"
