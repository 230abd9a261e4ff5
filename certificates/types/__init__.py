"""Certificate types as data, and validation of certificate data against them."""

from .display import DisplayValue, display_value, format_date_en, format_date_zh
from .errors import CertificateDataError, CertificateError, FieldError, UnknownCertificateType
from .model import (
    CertificateType,
    EnumChoice,
    FieldKind,
    FieldSpec,
    FieldValue,
    FrozenValues,
    GlyphCoverage,
    ValidatedData,
    raw_values,
)
from .registry import CERTIFICATE_TYPES, get_type, types_catalogue
from .validators import validate, validate_for

__all__ = [
    "CERTIFICATE_TYPES",
    "CertificateDataError",
    "CertificateError",
    "CertificateType",
    "DisplayValue",
    "EnumChoice",
    "FieldError",
    "FieldKind",
    "FieldSpec",
    "FieldValue",
    "FrozenValues",
    "GlyphCoverage",
    "UnknownCertificateType",
    "ValidatedData",
    "display_value",
    "format_date_en",
    "format_date_zh",
    "get_type",
    "raw_values",
    "types_catalogue",
    "validate",
    "validate_for",
]
