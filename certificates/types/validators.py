"""Validate raw certificate data against its type, reporting every problem at once.

Raw data comes from forms, JSON and CSV files typed by people. Each field is normalised
(NFC, trimmed, codes upper-cased) and checked; all problems are collected so the person
fixes a record in one pass instead of one error per attempt.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from .codes import licence_number_problem, resident_id_problem, uscc_problem
from .errors import CertificateDataError, FieldError
from .messages import field_error, unknown_field_error
from .model import (
    CertificateType,
    FieldKind,
    FieldSpec,
    FieldValue,
    FrozenValues,
    GlyphCoverage,
    ValidatedData,
)
from .registry import get_type

__all__ = ["validate", "validate_for"]

# "Today" for a declared issue date: the issuing agencies' day (UTC+8), so a certificate
# awarded today there is never refused for being in the future.
_ISSUER_TZ = timezone(timedelta(hours=8), "UTC+8")

# Characters that print as nothing or change how the surrounding text is displayed: control
# (Cc), format (Cf: zero-width and bidi marks, which can make printed and stored text
# disagree), surrogates, private use and unassigned code points.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_LINE_BREAKS = frozenset("\n\r\u2028\u2029\x0b\x0c\x85")

# [0-9], not \d: \d also matches digits of other scripts, which int() would accept.
_DATE_RE = re.compile(r"([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?")
_LONG_TERM = frozenset({"长期", "long-term", "long term", "longterm"})
# An amount in 万元 ("100", "100万元", "100万元人民币", "人民币100万元"), or in 元 ("1000000元").
_MONEY_RE = re.compile(r"(?:人民币)?([0-9]+(?:\.[0-9]+)?)(万元|万|元)?(?:人民币)?整?")
_MAX_AMOUNT = Decimal(10) ** 10  # 万元: 10^14 yuan, far above any registered capital
_AMOUNT_STEP = Decimal("0.000001")  # 万元 to the fen


class _Invalid(Exception):
    """Internal: one field failed; carries the FieldError(s) to report."""

    def __init__(self, *errors: FieldError) -> None:
        self.errors = errors


def validate(
    type_code: str, data: Mapping[str, object], *, fonts: GlyphCoverage | None = None
) -> ValidatedData:
    """Validate `data` as a certificate of `type_code`.

    With `fonts` (a `render.FontSet`), text the certificate fonts cannot draw is rejected
    here, at the edge, rather than printing as blank boxes on a sealed document.
    Raises `UnknownCertificateType` or `CertificateDataError` (listing every problem).
    """
    return validate_for(get_type(type_code), data, fonts=fonts)


def validate_for(
    cert_type: CertificateType, data: Mapping[str, object], *, fonts: GlyphCoverage | None = None
) -> ValidatedData:
    errors: list[FieldError] = []
    known = cert_type.field_names
    for key in data:
        if key not in known:
            errors.append(
                unknown_field_error(
                    str(key), cert_type.name_zh, cert_type.name_en, ", ".join(known)
                )
            )

    values: dict[str, FieldValue] = {}
    for spec in cert_type.fields:
        raw = data.get(spec.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.required:
                errors.append(field_error(spec, "required"))
            continue
        try:
            values[spec.name] = _parse(spec, raw, fonts)
        except _Invalid as bad:
            errors.extend(bad.errors)

    errors.extend(_order_errors(cert_type, values))
    errors.extend(_future_issue_date_errors(cert_type, values))
    if errors:
        raise CertificateDataError(cert_type.code, errors)

    valid_from = values[cert_type.valid_from_field]
    valid_until = values.get(cert_type.valid_until_field) if cert_type.valid_until_field else None
    assert isinstance(valid_from, date)
    assert valid_until is None or isinstance(valid_until, date)
    return ValidatedData(
        type_code=cert_type.code,
        values=FrozenValues(values),
        holder_id=str(values[cert_type.holder_field]),
        holder_name=str(values[cert_type.holder_name_field]),
        title=str(values[cert_type.title_field]),
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _order_errors(cert_type: CertificateType, values: Mapping[str, FieldValue]) -> list[FieldError]:
    pairs = list(cert_type.date_order)
    if cert_type.valid_until_field:
        pairs.append((cert_type.valid_from_field, cert_type.valid_until_field))
    errors = []
    for earlier, later in pairs:
        first, second = values.get(earlier), values.get(later)
        # A missing or long-term (None) date was either reported already or is open-ended.
        if isinstance(first, date) and isinstance(second, date) and second < first:
            other = cert_type.field(earlier)
            errors.append(
                field_error(
                    cert_type.field(later),
                    "date-order",
                    other_zh=other.label_zh,
                    other_en=other.label_en,
                )
            )
    return errors


def _future_issue_date_errors(
    cert_type: CertificateType, values: Mapping[str, FieldValue]
) -> list[FieldError]:
    """A declared issue date later than today is refused: the seal would print it as given."""
    if cert_type.issue_date_field is None:
        return []
    declared = values.get(cert_type.issue_date_field)
    if isinstance(declared, date) and declared > datetime.now(_ISSUER_TZ).date():
        return [field_error(cert_type.field(cert_type.issue_date_field), "future-issue-date")]
    return []


def _parse(spec: FieldSpec, raw: object, fonts: GlyphCoverage | None) -> FieldValue:
    parser = _PARSERS[spec.kind]
    return parser(spec, raw, fonts)


# --- text ----------------------------------------------------------------------------------


def _text(spec: FieldSpec, raw: object, fonts: GlyphCoverage | None) -> str:
    multiline = spec.kind is FieldKind.MULTILINE
    text = _normalised_text(spec, raw, multiline=multiline)
    errors = []
    if spec.max_length is not None and len(text) > spec.max_length:
        errors.append(field_error(spec, "too-long", max=spec.max_length, length=len(text)))
    if fonts is not None:
        missing = fonts.missing_chars(text.replace("\n", ""))
        if missing:
            chars = "、".join(f"{c}（U+{ord(c):04X}）" for c in sorted(missing))
            errors.append(field_error(spec, "unrenderable", chars=chars))
    if errors:
        raise _Invalid(*errors)
    return text


def _normalised_text(spec: FieldSpec, raw: object, *, multiline: bool) -> str:
    if not isinstance(raw, str):
        raise _Invalid(field_error(spec, "not-text"))
    # NFC so that the same name typed on two systems compares (and digests) equal.
    text = unicodedata.normalize("NFC", raw)
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = "\n".join(line.strip() for line in text.split("\n")).strip("\n")
    else:
        text = text.strip()
        if any(c in _LINE_BREAKS for c in text):
            raise _Invalid(field_error(spec, "line-break"))
    if any(c != "\n" and unicodedata.category(c) in _INVISIBLE_CATEGORIES for c in text):
        raise _Invalid(field_error(spec, "control-character"))
    return text


def _enum(spec: FieldSpec, raw: object, fonts: GlyphCoverage | None) -> str:
    text = _normalised_text(spec, raw, multiline=False)
    folded = text.casefold()
    for choice in spec.choices:
        if text in (choice.value, choice.label_zh) or folded == choice.label_en.casefold():
            return choice.value
    raise _Invalid(
        field_error(
            spec,
            "not-a-choice",
            choices_zh="、".join(c.label_zh for c in spec.choices),
            choices_en=", ".join(c.label_en for c in spec.choices),
        )
    )


# --- codes ---------------------------------------------------------------------------------


def _code(spec: FieldSpec, raw: object, fonts: GlyphCoverage | None) -> str:
    text = _normalised_text(spec, raw, multiline=False)
    # NFKC turns full-width digits and letters typed with a Chinese IME into ASCII; spaces
    # people put in for readability carry no meaning.
    code = "".join(unicodedata.normalize("NFKC", text).split()).upper()
    problem = _CODE_CHECKS[spec.kind](code)
    if problem is None and spec.prefixes and not code.startswith(spec.prefixes):
        problem = "bad-prefix"
    if problem is not None:
        raise _Invalid(field_error(spec, problem, prefixes="、".join(spec.prefixes)))
    return code


_CODE_CHECKS: dict[FieldKind, Callable[[str], str | None]] = {
    FieldKind.USCC: uscc_problem,
    FieldKind.RESIDENT_ID: resident_id_problem,
    FieldKind.LICENCE_NUMBER: licence_number_problem,
}


# --- dates and money -----------------------------------------------------------------------


def _date(spec: FieldSpec, raw: object, fonts: GlyphCoverage | None) -> date:
    parsed = _parse_date(raw)
    if parsed is None:
        raise _Invalid(field_error(spec, "bad-date"))
    return parsed


def _until_date(spec: FieldSpec, raw: object, fonts: GlyphCoverage | None) -> date | None:
    if isinstance(raw, str) and unicodedata.normalize("NFKC", raw).strip().casefold() in _LONG_TERM:
        return None
    parsed = _parse_date(raw)
    if parsed is None:
        raise _Invalid(field_error(spec, "bad-until-date"))
    return parsed


def _parse_date(raw: object) -> date | None:
    # A datetime is a date subclass, but which day it names depends on a time zone we do
    # not know; make the caller decide.
    if isinstance(raw, datetime):
        return None
    if isinstance(raw, date):
        return raw
    if not isinstance(raw, str):
        return None
    match = _DATE_RE.fullmatch(unicodedata.normalize("NFKC", raw).strip())
    if match is None:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def _money(spec: FieldSpec, raw: object, fonts: GlyphCoverage | None) -> Decimal:
    amount = _parse_amount(raw)
    if (
        amount is None
        or not amount.is_finite()
        or not 0 < amount <= _MAX_AMOUNT
        or amount != amount.quantize(_AMOUNT_STEP)
    ):
        raise _Invalid(field_error(spec, "bad-amount"))
    # Canonical form: no exponent, no trailing zeros, so equal amounts compare and print equal.
    normal = amount.normalize()
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal


def _parse_amount(raw: object) -> Decimal | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | Decimal):
        return Decimal(raw)
    if isinstance(raw, float):
        # JSON numbers arrive as floats; their shortest repr is what the person typed.
        return Decimal(repr(raw))
    if not isinstance(raw, str):
        return None
    text = "".join(unicodedata.normalize("NFKC", raw).split()).replace(",", "")
    match = _MONEY_RE.fullmatch(text)
    if match is None:
        return None
    try:
        value = Decimal(match.group(1))
    except InvalidOperation:
        return None
    return value / 10000 if match.group(2) == "元" else value


_PARSERS: dict[FieldKind, Callable[[FieldSpec, object, GlyphCoverage | None], FieldValue]] = {
    FieldKind.TEXT: _text,
    FieldKind.MULTILINE: _text,
    FieldKind.ENUM: _enum,
    FieldKind.USCC: _code,
    FieldKind.RESIDENT_ID: _code,
    FieldKind.LICENCE_NUMBER: _code,
    FieldKind.DATE: _date,
    FieldKind.UNTIL_DATE: _until_date,
    FieldKind.MONEY: _money,
}
