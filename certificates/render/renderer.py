"""Render a validated certificate as a one-page A4 PDF, ready to be sealed.

Build one `Renderer` per process and reuse it: fonts are parsed and registered once.
The PDF leaves a blank square (`RenderedDocument.seal_box`) where the signing layer puts
the round seal as the visible appearance of its PAdES signature. It is PDF/A-2b
(`certificates.render.pdfa`): reportlab draws the page, one pikepdf pass adds what
reportlab cannot write.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from ..ids import CertificateId, InvalidCertificateId
from ..types import CertificateType, ValidatedData
from .errors import RenderError
from .fonts import FontSet
from .page import (
    BODY_LEFT,
    BODY_RIGHT,
    FOOTER_TOP,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    SEAL_BOX,
    draw_frame,
    draw_heading,
    draw_issuer,
    draw_verification,
)
from .pdfa import ColourProfile, DocumentInfo, make_pdfa_2b
from .table import FieldTable

__all__ = ["CREATOR", "RenderedDocument", "Renderer"]

CREATOR = "CertLedger"

_TABLE_X = BODY_LEFT
_TABLE_WIDTH = BODY_RIGHT - BODY_LEFT
_LABEL_WIDTH = 46 * mm
_TABLE_BOTTOM = FOOTER_TOP  # the QR, issuer and seal block lives below this line


@dataclass(frozen=True, slots=True)
class RenderedDocument:
    pdf: bytes
    seal_page: int  # 0-based page index, as pyHanko's SigFieldSpec(on_page=...) expects
    seal_box: tuple[float, float, float, float]  # (x1, y1, x2, y2), PDF points, bottom-left origin

    def __repr__(self) -> str:
        return f"RenderedDocument({len(self.pdf)} bytes, seal_page={self.seal_page})"


class Renderer:
    """Renders certificates with one set of fonts; safe to share between threads."""

    def __init__(self, fonts: FontSet, colour_profile: ColourProfile | None = None) -> None:
        """``colour_profile``: the sRGB profile of the PDF/A output intent (default: the
        one :meth:`ColourProfile.discover` finds, loaded once per process)."""
        self._fonts = fonts
        self._profile = colour_profile or ColourProfile.discover()
        self._table = FieldTable(fonts, _TABLE_X, _TABLE_WIDTH, _LABEL_WIDTH)
        # reportlab keeps per-document subsetting state on the shared font objects and
        # global font registries; documents are therefore built one at a time. For more
        # throughput run more processes, each with its own Renderer.
        self._lock = threading.Lock()

    @property
    def fonts(self) -> FontSet:
        return self._fonts

    def render(
        self,
        cert_type: CertificateType,
        data: ValidatedData,
        *,
        cert_id: str,
        verify_url: str,
        issuer_name_zh: str,
        issuer_name_en: str,
        issued_at: date,
    ) -> RenderedDocument:
        """Render one certificate. `issued_at` is the day it is sealed; the issue date
        printed is the one `CertificateType.issue_date` gives (the data's, if it has one).
        """
        if data.type_code != cert_type.code:
            raise RenderError(f"data was validated as {data.type_code}, not {cert_type.code}")
        try:
            printed_id = str(CertificateId.parse(cert_id))
        except InvalidCertificateId as exc:
            raise RenderError(f"cannot print certificate id: {exc.reason}") from exc
        if not verify_url.startswith(("https://", "http://")):
            raise RenderError("verify_url must be an http(s) URL")
        # Issuer names come from configuration, not from validated data: check them here.
        missing = self._fonts.missing_chars(issuer_name_zh + issuer_name_en)
        if missing:
            raise RenderError(
                f"the fonts cannot draw these issuer name characters: {sorted(missing)}"
            )

        buffer = io.BytesIO()
        with self._lock:
            canvas = Canvas(
                buffer,
                pagesize=(PAGE_WIDTH, PAGE_HEIGHT),
                pageCompression=1,
                # Without this reportlab references an unembedded Helvetica for its initial
                # text state; every font in a sealed archive document must be embedded.
                initialFontName=self._fonts.primary.name,
                lang="zh-CN",
            )
            draw_frame(canvas)
            top = draw_heading(
                canvas, self._fonts, cert_type.name_zh, cert_type.name_en, printed_id
            )
            self._table.draw(canvas, cert_type, data, top, _TABLE_BOTTOM)
            draw_verification(canvas, self._fonts, verify_url)
            issued_on = cert_type.issue_date(data.values, issued_at)
            draw_issuer(canvas, self._fonts, issuer_name_zh, issuer_name_en, issued_on)
            canvas.showPage()
            canvas.save()
        # Only public facts go into the metadata: the id, the type, the issuing agency. No
        # holder data, which would otherwise travel in metadata that people do not see when
        # they share a file.
        info = DocumentInfo(
            title=f"{cert_type.name_zh} {cert_type.name_en} {printed_id}",
            author=issuer_name_zh,
            subject=f"{cert_type.name_en} {printed_id}, issued by {issuer_name_en}",
            creator=CREATOR,
            created=datetime.now(UTC).replace(microsecond=0),
            custom={"CertLedgerId": printed_id, "CertLedgerType": cert_type.code},
        )
        # Outside the lock: this pass shares no state with reportlab's.
        pdf = make_pdfa_2b(buffer.getvalue(), info, self._profile)
        return RenderedDocument(pdf, 0, SEAL_BOX)
