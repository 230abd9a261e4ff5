"""Hostile documents, generated on demand (never committed): small files that ask a verifier for
gigabytes of memory or minutes of CPU. Each is a genuine sealed PDF with raw incremental updates
appended, written byte by byte here so that no PDF library smooths them out."""

from __future__ import annotations

import re
import zlib

__all__ = [
    "deep_nesting",
    "dss_deflate_bomb",
    "many_revisions",
    "many_small_objects",
    "page_content_bomb",
]

_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")


def _trailer(pdf: bytes) -> tuple[int, int, bytes, bytes]:
    """(offset of the last xref section, /Size, /Root value, /Info value) of the last trailer."""
    m = _STARTXREF.search(pdf[-64:])
    assert m is not None, "no startxref at the end"
    prev = int(m[1])
    tail = pdf[pdf.rindex(b"trailer") :]
    size = int(re.search(rb"/Size\s+(\d+)", tail)[1])  # type: ignore[index]
    root = re.search(rb"/Root\s+(\d+\s+\d+\s+R)", tail)[1]  # type: ignore[index]
    info = re.search(rb"/Info\s+(\d+\s+\d+\s+R)", tail)
    return prev, size, root, info[1] if info else b""


def _append(pdf: bytes, objects: dict[int, bytes], *, size: int | None = None) -> bytes:
    """One incremental update that (re)writes ``objects`` (number -> body)."""
    prev, old_size, root, info = _trailer(pdf)
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets: dict[int, int] = {}
    for num, body in objects.items():
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n"
    for num in sorted(offsets):
        out += b"%d 1\n%010d 00000 n \n" % (num, offsets[num])
    new_size = max([size or old_size, old_size, *(n + 1 for n in objects)])
    out += b"trailer\n<< /Size %d /Root %s /Prev %d" % (new_size, root, prev)
    if info:
        out += b" /Info " + info
    out += b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _catalog(pdf: bytes) -> tuple[int, bytes]:
    """The catalog's object number and its dictionary's inner text (between ``<<`` and ``>>``)."""
    _prev, _size, root, _info = _trailer(pdf)
    num = int(root.split()[0])
    starts = [m.end() for m in re.finditer(rb"(?<!\d)%d 0 obj\s*<<" % num, pdf)]
    assert starts, "catalog not found"
    start = starts[-1]
    depth, i = 1, start
    while depth:
        if pdf.startswith(b"<<", i):
            depth, i = depth + 1, i + 2
        elif pdf.startswith(b">>", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return num, pdf[start : i - 2]


def _with_catalog_entry(pdf: bytes, entry: bytes) -> bytes:
    num, inner = _catalog(pdf)
    return _append(pdf, {num: b"<<" + inner + b" " + entry + b" >>"})


def many_small_objects(pdf: bytes, count: int) -> bytes:
    """The catalog rewritten to hold ``count`` empty arrays: 2 bytes each on disk, a Python
    object each once parsed."""
    return _with_catalog_entry(pdf, b"/CertLedgerJunk [" + b"[]" * count + b"]")


def deep_nesting(pdf: bytes, depth: int) -> bytes:
    """An array nested ``depth`` levels deep in the catalog."""
    return _with_catalog_entry(pdf, b"/CertLedgerDeep " + b"[" * depth + b"]" * depth)


def many_revisions(pdf: bytes, count: int) -> bytes:
    """``count`` incremental updates that each rewrite the document information dictionary
    with what it already holds (written directly: building each with a PDF library would
    take longer than the verifier once did)."""
    prev, size, root, info = _trailer(pdf)
    assert info, "the document has no /Info to rewrite"
    num = int(info.split()[0])
    body = _last_object(pdf, num)
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    for _ in range(count):
        offset = len(out)
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n%d 1\n%010d 00000 n \n" % (num, offset)
        out += b"trailer\n<< /Size %d /Root %s /Prev %d /Info %s >>\n" % (size, root, prev, info)
        out += b"startxref\n%d\n%%%%EOF\n" % xref
        prev = xref
    return bytes(out)


def _last_object(pdf: bytes, num: int) -> bytes:
    matches = list(re.finditer(rb"(?<!\d)%d 0 obj\s*(.*?)\s*endobj" % num, pdf, re.S))
    assert matches, f"object {num} not found"
    return matches[-1][1]


def _bomb(decoded_size: int) -> bytes:
    """Deflate of ``decoded_size`` zero bytes (about 1/1000 of that on disk)."""
    z = zlib.compressobj(9)
    block = b"\0" * (1 << 20)
    parts: list[bytes] = []
    for _ in range(decoded_size >> 20):
        parts.append(z.compress(block))
    parts.append(z.flush())
    return b"".join(parts)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return (
        b"<< /Length %d /Filter /FlateDecode %s>>\nstream\n" % (len(data), extra)
        + data
        + (b"\nendstream")
    )


def dss_deflate_bomb(pdf: bytes, decoded_size: int, streams: int = 1) -> bytes:
    """A DSS whose ``/OCSPs``, ``/CRLs`` and ``/Certs`` streams each inflate to
    ``decoded_size`` bytes (``streams`` of each kind)."""
    _prev, size, _root, _info = _trailer(pdf)
    data = _bomb(decoded_size)
    objects: dict[int, bytes] = {}
    refs: dict[bytes, list[bytes]] = {b"/OCSPs": [], b"/CRLs": [], b"/Certs": []}
    n = size
    for key in refs:
        for _ in range(streams):
            objects[n] = _stream(data)
            refs[key].append(b"%d 0 R" % n)
            n += 1
    dss = b"<< /Type /DSS " + b" ".join(k + b" [" + b" ".join(v) + b"]" for k, v in refs.items())
    objects[n] = dss + b" >>"
    dss_num = n
    num, inner = _catalog(pdf)
    inner = re.sub(rb"/DSS\s+\d+\s+\d+\s+R", b"", inner)
    objects[num] = b"<<" + inner + b" /DSS %d 0 R >>" % dss_num
    return _append(pdf, objects)


def page_content_bomb(pdf: bytes, decoded_size: int) -> bytes:
    """A content stream inflating to ``decoded_size`` bytes added to the first page."""
    _prev, size, _root, _info = _trailer(pdf)
    page = _first_page(pdf)
    body = _last_object(pdf, page)
    contents = re.search(rb"/Contents\s+(\[[^\]]*\]|\d+\s+\d+\s+R)", body)
    assert contents is not None, "page without /Contents"
    old = contents[1].strip(b"[]").strip()
    new = b"/Contents [" + old + b" %d 0 R]" % size
    body = body[: contents.start()] + new + body[contents.end() :]
    return _append(pdf, {size: _stream(_bomb(decoded_size)), page: body})


def _first_page(pdf: bytes) -> int:
    kids = re.findall(rb"/Kids\s*\[\s*(\d+)\s+\d+\s+R", pdf)
    assert kids, "no page tree"
    return int(kids[-1])
