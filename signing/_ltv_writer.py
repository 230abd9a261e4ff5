"""The writer for revisions appended after the seal: DSS data and document timestamps only.

pyHanko's incremental writer refreshes the document metadata on every save: ``/Info``
``/ModDate`` and ``/Producer``, and for PDF 2.0 files (every sealed certificate, since the
ECDSA seal registers the ISO 32002 extension) the XMP stream too. After the seal that is a
change of the document itself, one that every viewer shows under "document properties", and
the verifier refuses it (:mod:`signing._revisions` exempts no key). So revisions that only add
long-term-validation material are written with the metadata left exactly as sealed.
"""

from __future__ import annotations

import io

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

__all__ = ["LtvUpdateWriter", "open_ltv_update"]


class LtvUpdateWriter(IncrementalPdfFileWriter):
    """An incremental writer that never touches ``/Info`` or the XMP metadata."""

    def _update_meta(self) -> None:
        # Deliberately nothing: see the module docstring. pyHanko calls this hook from its
        # write path (``_prep_dom_for_writing``) and from nowhere else.
        return None


def open_ltv_update(pdf: bytes) -> LtvUpdateWriter:
    """Open a sealed file for an update that adds validation data or a document timestamp."""
    return LtvUpdateWriter(io.BytesIO(pdf), strict=True)
