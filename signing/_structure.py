"""One reading of the cross-reference structure: nothing two parsers could resolve apart.

pyHanko's strict reader already refuses a ``startxref`` it would have to correct, a /Prev
loop and an object number above /Size. What it resolves silently, and a viewer may resolve
otherwise, is refused here, for every revision:

* ``startxref`` must point exactly at the cross-reference data (pyHanko skips whitespace
  first; a reader that does not finds nothing there and rebuilds the file its own way);
* one section may define an object only once (pyHanko keeps the last entry, others the first);
* every in-use entry must point at that object's own ``N G obj`` header, inside the bytes of
  its own revision: not past the end of the file, not into another revision, not at another
  object (a reader that rebuilds the cross-reference table finds a different object there).
"""

from __future__ import annotations

import io
import re

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import XRefSectionType, parse_xref_stream, parse_xref_table

__all__ = ["structure_problem"]

_HEADER = re.compile(rb"(\d+)[ \t\r\n\f\x00]+(\d+)[ \t\r\n\f\x00]+obj\b")
_EOF = b"%%EOF"


def structure_problem(pdf: bytes, reader: PdfFileReader) -> str | None:
    """What in the file's cross-reference structure is ambiguous, or ``None``."""
    xrefs = reader.xrefs
    revision_start = 0
    for revision in range(xrefs.total_revisions):
        meta = xrefs.get_xref_container_info(revision)
        declared = meta.declared_startxref
        classic = meta.xref_section_type is not XRefSectionType.STREAM
        if classic and pdf[declared : declared + 4] != b"xref":
            return f"revision {revision}: startxref does not point at its cross-reference table"
        if not classic and not _HEADER.match(pdf, declared):
            return f"revision {revision}: startxref does not point at its cross-reference stream"
        eof = pdf.find(_EOF, meta.end_location)
        if eof < 0:
            return f"revision {revision} has no %%EOF marker"
        problem = _duplicate(pdf, reader, revision, declared, classic) or _misplaced(
            pdf, reader, revision, revision_start, declared
        )
        if problem is not None:
            return problem
        revision_start = eof + len(_EOF)
    return None


def _duplicate(
    pdf: bytes, reader: PdfFileReader, revision: int, declared: int, classic: bool
) -> str | None:
    if classic:
        stream = io.BytesIO(pdf)
        stream.seek(declared + 4)
        entries = list(parse_xref_table(stream, strict=True))
    else:
        ref = reader.xrefs.get_xref_container_info(revision).stream_ref
        assert ref is not None  # a stream section always has its reference
        xref_stream = reader.get_object(ref)  # type: ignore[no-untyped-call]
        assert isinstance(xref_stream, generic.StreamObject)
        entries = list(parse_xref_stream(xref_stream, strict=True))
    seen: set[int] = set()
    for entry in entries:
        if entry.idnum in seen and entry.idnum != 0:
            return (
                f"revision {revision} defines object {entry.idnum} more than once in one "
                "cross-reference section"
            )
        seen.add(entry.idnum)
    return None


def _misplaced(
    pdf: bytes, reader: PdfFileReader, revision: int, start: int, end: int
) -> str | None:
    data = reader.xrefs.get_xref_data(revision)
    for idnum, (generation, offset) in data.standard_xrefs.items():
        if not start <= offset <= end:
            return (
                f"revision {revision} places object {idnum} at byte {offset}, outside its own "
                f"revision (bytes {start}-{end})"
            )
        header = _HEADER.match(pdf, offset)
        if header is None or (int(header[1]), int(header[2])) != (idnum, generation):
            return (
                f"revision {revision}: the cross-reference entry of object {idnum} does not "
                "point at that object"
            )
    return None
