"""Adapter from the issuance pipeline's render jobs to `Renderer`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Protocol

from ..types import FieldValue, get_type, raw_values, validate_for
from .renderer import RenderedDocument, Renderer

__all__ = ["JobRenderer", "RenderJob"]


class RenderJob(Protocol):
    """What a job must carry (`certificates.issuance.production.ProduceJob` does)."""

    @property
    def cert_id(self) -> str: ...
    @property
    def cert_type(self) -> str: ...
    @property
    def values(self) -> Mapping[str, FieldValue]: ...
    @property
    def verify_url(self) -> str: ...
    @property
    def issuer_name_zh(self) -> str: ...
    @property
    def issuer_name_en(self) -> str: ...
    @property
    def issued_at(self) -> date: ...


class JobRenderer:
    """Renders jobs whose values came out of `validate` (possibly in another process)."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def render_job(self, job: RenderJob) -> RenderedDocument:
        cert_type = get_type(job.cert_type)
        # Validate again, now with the fonts at hand: a job may have crossed a process
        # boundary, and only validated, renderable data may reach a document that gets
        # sealed. It costs tens of microseconds against milliseconds of rendering.
        data = validate_for(cert_type, raw_values(job.values), fonts=self._renderer.fonts)
        return self._renderer.render(
            cert_type,
            data,
            cert_id=job.cert_id,
            verify_url=job.verify_url,
            issuer_name_zh=job.issuer_name_zh,
            issuer_name_en=job.issuer_name_en,
            issued_at=job.issued_at,
        )
