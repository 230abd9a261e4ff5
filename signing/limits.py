"""Bounds on the work a document may ask of the seal check, from what genuine seals need.

A sealed certificate is small and simple: a few revisions (the document, the seal, its DSS and
archive timestamp, two more per renewal), a few dozen objects, no object streams, streams of a
few hundred kilobytes. A hostile upload of the same size can hold millions of tiny objects,
thousands of revisions or deflate bombs, each costing gigabytes of memory or minutes of CPU.
The caps here are far above the first and far below the second, and they are checked before
or while parsing, never after:

* :func:`precheck` scans the raw bytes before any parsing: revisions (``startxref`` markers),
  indirect objects (``N G obj`` headers) and structure tokens (``[`` and ``<<`` outside stream
  data, each of which becomes a Python object when parsed).
* :meth:`DocumentLimits.decode_limits` bounds what decoding may produce, per stream and by
  purpose (an OCSP response is a few kilobytes, not 4 MiB) and for the whole document.
* The seal check refuses more revisions after the seal than :attr:`revisions_after_seal`
  before it analyses them (the analysis is worse than linear in their number).

Whatever slips past these (structure hidden in compressed object streams, say) is held by the
sandbox's memory and time limits (:mod:`signing.sandbox`). Either way the caller gets a
:class:`DocumentLimitExceeded` naming the limit, never a verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyhanko.pdf_utils.decode_limits import (
    DecodeLimits,
    DecodePurpose,
    DocumentDecodeBudget,
    StreamDecodeLimits,
)

from signing.errors import DocumentLimitExceeded

__all__ = ["DEFAULT_LIMITS", "DocumentLimits", "precheck"]

_KiB = 1024
_MiB = 1024 * _KiB

_OBJECT_HEADER = re.compile(rb"(?<![0-9])[0-9]{1,10}[ \t\r\n\f\0]+[0-9]{1,5}[ \t\r\n\f\0]+obj\b")
_STREAM_START = re.compile(rb"\bstream(?:\r\n|\n|\r)")


@dataclass(frozen=True)
class DocumentLimits:
    # A fresh B-LTA certificate has 3 revisions; each renewal adds 2 (DSS, archive
    # timestamp). 64 after the seal is three decades of yearly renewals.
    revisions: int = 80
    revisions_after_seal: int = 64
    # A certificate has about 40 indirect objects and about 300 structure tokens.
    objects: int = 20_000
    structure_tokens: int = 100_000
    # Decoded bytes: any one stream, and the document in total (each historical revision
    # pyHanko reads gets a fresh budget, so this is per revision; the revision cap bounds it).
    stream_bytes: int = 32 * _MiB
    document_bytes: int = 128 * _MiB

    def decode_limits(self) -> DecodeLimits:
        """pyHanko's decoding limits for these bounds, tightened by purpose."""
        return DecodeLimits(
            per_stream=StreamDecodeLimits(max_ratio=1100, max_output_size=self.stream_bytes),
            per_purpose={
                # Genuine seals use none; a megabyte of object stream is already ~500,000
                # tiny objects once parsed.
                DecodePurpose.OBJECT_STREAM: StreamDecodeLimits(
                    max_ratio=100, ratio_floor=64 * _KiB, max_output_size=_MiB
                ),
                DecodePurpose.XREF_STREAM: StreamDecodeLimits(max_output_size=4 * _MiB),
                DecodePurpose.XMP_METADATA: StreamDecodeLimits(
                    max_ratio=100, ratio_floor=64 * _KiB, max_output_size=_MiB
                ),
                # A certificate or an OCSP response is 1-3 KiB; a CRL of a national CA may
                # list many serials, but it is signed DER and barely compresses.
                DecodePurpose.CERTIFICATE: StreamDecodeLimits(
                    max_ratio=None, max_output_size=64 * _KiB
                ),
                DecodePurpose.OCSP_RESPONSE: StreamDecodeLimits(
                    max_ratio=None, max_output_size=64 * _KiB
                ),
                DecodePurpose.CRL: StreamDecodeLimits(
                    max_ratio=20, ratio_floor=_MiB, max_output_size=16 * _MiB
                ),
            },
            document_budget=DocumentDecodeBudget(base_allowance=self.document_bytes, max_ratio=4),
        )


DEFAULT_LIMITS = DocumentLimits()


def precheck(pdf: bytes, limits: DocumentLimits = DEFAULT_LIMITS) -> None:
    """Refuse ``pdf`` if its raw bytes already exceed ``limits`` (no parsing: bytes counted
    by C loops, so this costs a few milliseconds even for the largest upload).

    :raises DocumentLimitExceeded: naming the first limit exceeded.
    """
    revisions = pdf.count(b"startxref")
    if revisions > limits.revisions:
        raise DocumentLimitExceeded("revisions", revisions, limits.revisions)
    objects = sum(1 for _ in _OBJECT_HEADER.finditer(pdf))
    if objects > limits.objects:
        raise DocumentLimitExceeded("objects", objects, limits.objects)
    tokens = structure_tokens(pdf, stop_after=limits.structure_tokens)
    if tokens > limits.structure_tokens:
        raise DocumentLimitExceeded("structure", tokens, limits.structure_tokens)


def structure_tokens(pdf: bytes, *, stop_after: int | None = None) -> int:
    """``[`` and ``<<`` outside stream data: what parsing turns into arrays and dictionaries.

    Stream data is skipped from ``stream`` to the next ``endstream`` (compressed data holds
    such bytes by chance). A document that hides structure between a fake ``stream`` and
    ``endstream`` is not stopped here, only by the sandbox's memory limit.
    """
    count = 0
    pos = 0
    end = len(pdf)
    while pos < end:
        m = _STREAM_START.search(pdf, pos)
        stop = m.start() if m else end
        count += pdf.count(b"[", pos, stop) + pdf.count(b"<<", pos, stop)
        if stop_after is not None and count > stop_after:
            return count
        if m is None:
            break
        close = pdf.find(b"endstream", m.end())
        pos = end if close < 0 else close + len(b"endstream")
    return count
