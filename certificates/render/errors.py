"""Errors raised while preparing fonts or rendering a certificate."""

from __future__ import annotations

from ..types import CertificateError

__all__ = ["ColourProfileMissingError", "FontsMissingError", "RenderError"]


class RenderError(CertificateError):
    """The certificate could not be rendered."""


class FontsMissingError(RenderError):
    """A required font file is not installed; the message names the Debian package."""


class ColourProfileMissingError(RenderError):
    """The sRGB ICC profile for PDF/A output is missing or unusable; the message says why."""
