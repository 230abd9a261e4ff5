"""Rendering certificates as A4 PDFs with embedded CJK fonts and a verification QR code."""

from .errors import ColourProfileMissingError, FontsMissingError, RenderError
from .fonts import Font, FontSet
from .jobs import JobRenderer, RenderJob
from .page import SEAL_BOX
from .pdfa import ColourProfile, DocumentInfo
from .renderer import RenderedDocument, Renderer

__all__ = [
    "SEAL_BOX",
    "ColourProfile",
    "ColourProfileMissingError",
    "DocumentInfo",
    "Font",
    "FontSet",
    "FontsMissingError",
    "JobRenderer",
    "RenderError",
    "RenderJob",
    "RenderedDocument",
    "Renderer",
]
