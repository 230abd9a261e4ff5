"""Errors raised while preparing fonts or rendering a certificate."""

from __future__ import annotations

from ..types import CertificateError

__all__ = ["FontsMissingError", "RenderError"]


class RenderError(CertificateError):
    """The certificate could not be rendered."""


class FontsMissingError(RenderError):
    """A required font file is not installed; the message names the Debian package."""
