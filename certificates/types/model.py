"""The shapes certificate types are written in, and the validated data they produce.

A certificate type is data: adding one means adding a `CertificateType` value to the
registry, never a new code path. Only a new *kind* of field needs code (in `validators`).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NoReturn, Protocol

__all__ = [
    "CertificateType",
    "EnumChoice",
    "FieldKind",
    "FieldSpec",
    "FieldValue",
    "FrozenValues",
    "GlyphCoverage",
    "ValidatedData",
    "raw_values",
]

# A validated field value: text (str), a date, an amount in 万元 CNY (Decimal), or None for
# an open-ended ("长期" / long-term) until-date. Absent optional fields are simply not present.
FieldValue = str | date | Decimal | None


class FieldKind(StrEnum):
    TEXT = "text"  # one line
    MULTILINE = "multiline"  # line breaks allowed, wrapped when rendered
    DATE = "date"
    UNTIL_DATE = "until-date"  # a date, or 长期 / long-term (stored as None)
    MONEY = "money"  # positive amount in 万元 CNY, e.g. "100万元人民币"
    ENUM = "enum"
    USCC = "uscc"  # unified social credit code, GB 32100-2015
    RESIDENT_ID = "resident-id"  # citizen identity number, GB 11643-1999
    LICENCE_NUMBER = "licence-number"  # road transport licence: 6-digit division + 6-digit serial


@dataclass(frozen=True, slots=True)
class EnumChoice:
    value: str  # stable machine value, what is stored
    label_zh: str
    label_en: str


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    label_zh: str
    label_en: str
    kind: FieldKind
    required: bool = True
    max_length: int | None = None  # in code points after normalisation
    choices: tuple[EnumChoice, ...] = ()  # ENUM only
    # Allowed leading characters of a code, e.g. ("91", "92", "93") for enterprise USCCs.
    prefixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.kind is FieldKind.ENUM) != bool(self.choices):
            raise ValueError(f"field {self.name}: choices are required for, and only for, enums")

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "kind": self.kind.value,
            "required": self.required,
            "max_length": self.max_length,
        }
        if self.choices:
            out["choices"] = [
                {"value": c.value, "label_zh": c.label_zh, "label_en": c.label_en}
                for c in self.choices
            ]
        if self.prefixes:
            out["prefixes"] = list(self.prefixes)
        return out


@dataclass(frozen=True, slots=True)
class CertificateType:
    code: str  # e.g. "business-licence"
    id_prefix: str  # two uppercase letters used inside certificate ids, e.g. "BL"
    name_zh: str
    name_en: str
    agency: str  # code of the issuing agency, a key of certificates.agencies.AGENCIES
    fields: tuple[FieldSpec, ...]
    holder_field: str  # identifier kept on the ledger only as a keyed digest
    holder_name_field: str
    holder_is_person: bool  # a natural person's name is masked for display; a company's is not
    title_field: str  # the certificate's subject as shown in lists and on the verify page
    valid_from_field: str
    valid_until_field: str | None  # None: the certificate does not expire
    example: Mapping[str, str] = field(compare=False, hash=False)
    # (earlier, later) field pairs that must be in order, beyond valid_from <= valid_until.
    date_order: tuple[tuple[str, str], ...] = ()
    # The certificate's issue date (发证日期), printed once, by the seal. The rule: a
    # certificate is issued when it is sealed, so by default the issue date is the day of
    # sealing. A type whose data declares the date of issue (a qualification awarded on
    # the day the assessment board decided it, entered later) names that date field here:
    # the declared date is then the issue date, printed by the seal and not repeated in
    # the field table, so a certificate never shows two different issue dates.
    issue_date_field: str | None = None
    # The fields that make a certificate unique among the active ones of its type: a second
    # certificate with the same values is refused while the first is active (not revoked),
    # unless it is an explicit re-issue of the first. Empty: no such rule.
    unique_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Catch a mistyped type definition at import time rather than at the first issuance.
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.code}: duplicate field names")
        if len(self.id_prefix) != 2 or not self.id_prefix.isascii() or not self.id_prefix.isupper():
            raise ValueError(f"{self.code}: id_prefix must be two uppercase letters")
        refs = [self.holder_field, self.holder_name_field, self.title_field, self.valid_from_field]
        refs += [self.valid_until_field] if self.valid_until_field else []
        refs += [name for pair in self.date_order for name in pair]
        refs += [self.issue_date_field] if self.issue_date_field else []
        refs += list(self.unique_by)
        unknown = sorted(set(refs) - set(names))
        if unknown:
            raise ValueError(f"{self.code}: references unknown fields {unknown}")
        text_kinds = {
            FieldKind.TEXT,
            FieldKind.USCC,
            FieldKind.RESIDENT_ID,
            FieldKind.LICENCE_NUMBER,
        }
        for ref in (self.holder_field, self.holder_name_field, self.title_field):
            spec = self.field(ref)
            if not spec.required or spec.kind not in text_kinds:
                raise ValueError(f"{self.code}: {ref} must be a required one-line text or code")
        if self.field(self.valid_from_field).kind is not FieldKind.DATE:
            raise ValueError(f"{self.code}: valid_from_field must be a date field")
        if not self.field(self.valid_from_field).required:
            raise ValueError(f"{self.code}: valid_from_field must be required")
        if any(not self.field(name).required for name in self.unique_by):
            raise ValueError(f"{self.code}: unique_by fields must be required")
        if self.issue_date_field:
            spec = self.field(self.issue_date_field)
            if spec.kind is not FieldKind.DATE or not spec.required:
                raise ValueError(f"{self.code}: issue_date_field must be a required date field")
        until_kinds = {FieldKind.DATE, FieldKind.UNTIL_DATE}
        if self.valid_until_field and self.field(self.valid_until_field).kind not in until_kinds:
            raise ValueError(f"{self.code}: valid_until_field must be a date or until-date field")
        # Read-only, and unlike MappingProxyType picklable into worker processes.
        object.__setattr__(self, "example", FrozenValues(self.example))

    def unique_values(self, values: Mapping[str, FieldValue]) -> tuple[str, ...] | None:
        """The values of ``unique_by`` (validated, normalised), or None without the rule."""
        if not self.unique_by:
            return None
        return tuple(str(values[name]) for name in self.unique_by)

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def issue_date(self, values: Mapping[str, FieldValue], sealed_on: date) -> date:
        """The issue date to print: the declared one if the type has it, else `sealed_on`."""
        if self.issue_date_field is None:
            return sealed_on
        declared = values[self.issue_date_field]
        if not isinstance(declared, date):
            raise TypeError(f"{self.code}: {self.issue_date_field} is not a validated date")
        return declared


class GlyphCoverage(Protocol):
    """What validation needs from the rendering fonts (`render.FontSet` provides it)."""

    def missing_chars(self, text: str) -> Set[str]: ...


class FrozenValues(dict[str, FieldValue]):
    """A read-only dict of validated values.

    A dict (not a MappingProxyType) so that it serialises with `json.dumps` and pickles
    into worker processes; mutation is refused so validated data stays validated.
    """

    __slots__ = ()

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("validated certificate values are read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[type[FrozenValues], tuple[dict[str, FieldValue]]]:
        return (FrozenValues, (dict(self),))


def raw_values(values: Mapping[str, FieldValue]) -> dict[str, str]:
    """Validated values as JSON-ready raw input that validates back to the same values.

    Dates become ISO strings, amounts plain decimals in 万元, and an open-ended until-date
    (None) becomes "long-term".
    """
    out: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            out[name] = "long-term"
        elif isinstance(value, date):
            out[name] = value.isoformat()
        elif isinstance(value, Decimal):
            out[name] = format(value, "f")
        else:
            out[name] = value
    return out


@dataclass(frozen=True, slots=True)
class ValidatedData:
    """Normalised certificate data that passed validation against its type.

    Only `validators.validate` should build one. The repr leaves out every value: this
    object carries personal data (names, identity numbers) and reprs end up in logs.
    """

    type_code: str
    values: FrozenValues = field(repr=False, hash=False)
    holder_id: str = field(repr=False)
    holder_name: str = field(repr=False)
    title: str = field(repr=False)
    valid_from: date = field(repr=False)
    valid_until: date | None = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.values, FrozenValues):
            object.__setattr__(self, "values", FrozenValues(self.values))

    def __getitem__(self, name: str) -> FieldValue:
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def as_json(self) -> dict[str, str]:
        """JSON-ready values that validate back to an equal object (see `raw_values`)."""
        return raw_values(self.values)
