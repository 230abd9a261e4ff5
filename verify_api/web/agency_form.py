"""The issuing form, generated from a certificate type's definition: one control per field,
its label, whether it is required, a hint from its kind (and the type's example), the value
typed, and that field's errors from the validator. Nothing here decides what is valid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from certificates.types import CertificateType, FieldError, FieldKind, FieldSpec

__all__ = ["Choice", "FormField", "form_fields"]


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    selected: bool


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str
    required: bool
    hint: str
    value: str
    errors: tuple[str, ...]
    choices: tuple[Choice, ...] = ()
    inputmode: str = ""
    autocomplete: str = "off"


_KIND_HINTS: dict[FieldKind, tuple[str, str]] = {
    FieldKind.DATE: ("日期，格式 2026-12-03。", "A date, as 2026-12-03."),
    FieldKind.UNTIL_DATE: (
        "日期（格式 2026-12-03），不设期限请填“长期”。",
        "A date (as 2026-12-03), or 长期 / long-term for no end.",
    ),
    FieldKind.MONEY: ("金额，单位万元人民币。", "An amount in 万元 (10,000 CNY)."),
    FieldKind.USCC: ("18 位统一社会信用代码。", "The 18-character unified social credit code."),
    FieldKind.RESIDENT_ID: ("18 位公民身份号码。", "The 18-character citizen ID number."),
    FieldKind.LICENCE_NUMBER: (
        "12 位：6 位行政区划代码加 6 位序号。",
        "12 digits: a 6-digit division code and a 6-digit serial.",
    ),
}
# Long texts and identifiers: an example would be noise, or a real-looking identifier.
_NO_EXAMPLE = {
    FieldKind.ENUM,
    FieldKind.MULTILINE,
    FieldKind.USCC,
    FieldKind.RESIDENT_ID,
    FieldKind.LICENCE_NUMBER,
}
_INPUTMODE = {FieldKind.DATE: "numeric", FieldKind.LICENCE_NUMBER: "numeric"}


def _hint(spec: FieldSpec, example: str, lang: str) -> str:
    zh, en = _KIND_HINTS.get(spec.kind, ("", ""))
    parts = [zh if lang == "zh" else en]
    if spec.max_length:
        parts.append(
            f"最多 {spec.max_length} 字。"
            if lang == "zh"
            else f"At most {spec.max_length} characters."
        )
    if example and spec.kind not in _NO_EXAMPLE:
        parts.append(f"例如：{example}" if lang == "zh" else f"For example: {example}")
    return " ".join(p for p in parts if p)


def form_fields(
    ctype: CertificateType, lang: str, values: dict[str, str], errors: Sequence[FieldError]
) -> list[FormField]:
    out: list[FormField] = []
    for spec in ctype.fields:
        value = values.get(spec.name, "")
        mine = tuple(
            (e.message_zh if lang == "zh" else e.message_en) for e in errors if e.field == spec.name
        )
        choices = tuple(
            Choice(
                c.value,
                c.label_zh if lang == "zh" else c.label_en,
                value in (c.value, c.label_zh, c.label_en),
            )
            for c in spec.choices
        )
        out.append(
            FormField(
                name=spec.name,
                label=spec.label_zh if lang == "zh" else spec.label_en,
                kind=spec.kind.value,
                required=spec.required,
                hint=_hint(spec, str(ctype.example.get(spec.name, "")), lang),
                value=value,
                errors=mine,
                choices=choices,
                inputmode=_INPUTMODE.get(spec.kind, ""),
            )
        )
    return out
