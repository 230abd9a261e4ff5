"""How validated values are shown to people, in Chinese and English.

Shared by the PDF renderer and the verification page so both print a value the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .model import FieldKind, FieldSpec, FieldValue

__all__ = ["DisplayValue", "display_value", "format_date_en", "format_date_zh"]

_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True, slots=True)
class DisplayValue:
    zh: str
    en: str | None = None  # an English rendering, where it differs from the Chinese one


def format_date_zh(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def format_date_en(value: date) -> str:
    # Not strftime: its month names follow the process locale.
    return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"


def display_value(spec: FieldSpec, value: FieldValue) -> DisplayValue:
    if value is None:
        return DisplayValue("长期", "Long-term")
    if isinstance(value, date):
        return DisplayValue(format_date_zh(value), format_date_en(value))
    if isinstance(value, Decimal):
        yuan = value * 10000
        return DisplayValue(f"{format(value, 'f')}万元人民币", f"CNY {yuan:,.2f}")
    if spec.kind is FieldKind.ENUM:
        for choice in spec.choices:
            if choice.value == value:
                return DisplayValue(choice.label_zh, choice.label_en)
    return DisplayValue(value)
