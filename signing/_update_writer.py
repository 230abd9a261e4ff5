"""The incremental writer for every revision the project appends to a certificate.

pyHanko's incremental writer refreshes the document metadata on every save: ``/Info``
``/ModDate`` and ``/Producer``, and, once the file has XMP or is PDF 2.0, the XMP packet too
(and not consistently: "; pyHanko <version>" is appended to /Info /Producer, plain
"pyHanko <version>" written to pdf:Producer). Two places must not have that:

* revisions after the seal (B-LTA at issuance, renewal): there it is a change of the document
  itself, one every viewer shows under "document properties", and the verifier refuses it
  (:mod:`signing._revisions` exempts no key);
* the seal's revision of a PDF/A certificate, whose /Info and XMP the renderer writes
  together so that they agree, as PDF/A requires (``certificates.render.pdfa``).
"""

from __future__ import annotations

import io

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

__all__ = ["UpdateWriter", "open_ltv_update"]


class UpdateWriter(IncrementalPdfFileWriter):
    """An incremental writer that leaves ``/Info`` and the XMP metadata alone unless told
    otherwise (``keep_metadata = False`` restores pyHanko's refresh)."""

    def __init__(self, pdf: bytes) -> None:
        super().__init__(io.BytesIO(pdf), strict=True)
        self.keep_metadata = True

    def _update_meta(self) -> None:
        # pyHanko calls this hook from its write path (``_prep_dom_for_writing``) only.
        if not self.keep_metadata:
            super()._update_meta()  # type: ignore[no-untyped-call]


def open_ltv_update(pdf: bytes) -> UpdateWriter:
    """Open a sealed file for an update that adds validation data or a document timestamp."""
    return UpdateWriter(pdf)
