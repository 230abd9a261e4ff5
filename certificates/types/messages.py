"""Bilingual wording of field errors: what is wrong and what to do about it.

Templates may use {zh}/{en} (the field's labels) and the extra names a caller passes.
They never include the submitted value (see `errors`).
"""

from __future__ import annotations

from .errors import FieldError
from .model import FieldKind, FieldSpec

__all__ = ["field_error", "unknown_field_error"]

_TEMPLATES: dict[str, tuple[str, str]] = {
    "required": ("请填写「{zh}」。", "{en} is required; please fill it in."),
    "not-text": ("「{zh}」应填写为文字。", "{en} must be given as text."),
    "line-break": (
        "「{zh}」只能填写一行，请删除其中的换行。",
        "{en} must be a single line; remove the line breaks.",
    ),
    "control-character": (
        "「{zh}」含有不可见的控制字符、格式字符（如零宽字符、文字方向控制符）或未定义的字符，"
        "请删除后重新输入。",
        "{en} contains invisible control or formatting characters (such as zero-width or "
        "text-direction marks) or unassigned characters; delete the value and type it again.",
    ),
    "too-long": (
        "「{zh}」最多{max}个字符，当前为{length}个，请精简。",
        "{en} may have at most {max} characters but has {length}; please shorten it.",
    ),
    "unrenderable": (
        "「{zh}」中的字符 {chars} 无法在证照上显示，请改用规范汉字，或请管理员补充字库。",
        "{en} contains characters the certificate fonts cannot display: {chars}. Use the "
        "standard form of the character, or ask an administrator to add a font.",
    ),
    "bad-date": (
        "「{zh}」不是有效日期，请按“2026-01-31”或“2026年1月31日”的格式填写。",
        "{en} is not a valid date; write it as 2026-01-31.",
    ),
    "bad-until-date": (
        "「{zh}」应为有效日期（如“2026-01-31”）或“长期”。",
        '{en} must be a valid date (such as 2026-01-31) or "long-term".',
    ),
    "bad-amount": (
        "「{zh}」应为以万元人民币为单位的正数，最多六位小数，如“100万元人民币”或“100”。",
        "{en} must be a positive amount in units of 10,000 yuan (万元) with at most six "
        'decimals, such as "100万元人民币" or "100".',
    ),
    "not-a-choice": (
        "「{zh}」只能是以下之一：{choices_zh}。",
        "{en} must be one of: {choices_en}.",
    ),
    "bad-prefix": (
        "「{zh}」应以 {prefixes} 开头（本类证照对应的登记管理部门和主体类别），请核对。",
        "{en} must start with {prefixes} (the registration authority and entity type of this "
        "certificate); please check the code.",
    ),
    "bad-division-code": (
        "「{zh}」中的行政区划代码无效，请核对。",
        "The administrative division code inside {en} is not valid; please check it.",
    ),
    "bad-birth-date": (
        "「{zh}」中的出生日期（第7至14位）不是有效日期，请核对。",
        "The date of birth inside {en} (characters 7 to 14) is not a valid date; please check it.",
    ),
    "bad-check-character": (
        "「{zh}」的校验位不符，通常是录入有误，请逐位核对。",
        "The check character of {en} does not match, which usually means a typing error; "
        "please check it character by character.",
    ),
    "future-issue-date": (
        "「{zh}」不能晚于今天，请核对发证日期。",
        "{en} cannot be later than today; please check the date of issue.",
    ),
    "date-order": (
        "「{zh}」不能早于「{other_zh}」，请核对两个日期。",
        "{en} cannot be earlier than {other_en}; please check both dates.",
    ),
}

# "bad-format" depends on the kind of code, so the person learns the expected shape.
_FORMAT_TEMPLATES: dict[FieldKind, tuple[str, str]] = {
    FieldKind.USCC: (
        "「{zh}」应为18位，由数字和大写字母组成（不含 I、O、Z、S、V），请核对。",
        "{en} must be 18 characters, digits and capital letters without I, O, Z, S or V; "
        "please check the code.",
    ),
    FieldKind.RESIDENT_ID: (
        "「{zh}」应为18位：17位数字加1位校验码（数字或 X），请核对。",
        "{en} must be 18 characters: 17 digits and a check character (a digit or X); "
        "please check the number.",
    ),
    FieldKind.LICENCE_NUMBER: (
        "「{zh}」应为12位数字：6位行政区划代码加6位顺序号（顺序号不能全为0）。",
        "{en} must be 12 digits: a 6-digit administrative division code and a 6-digit serial "
        "that is not all zeros.",
    ),
}


def field_error(spec: FieldSpec, code: str, **extra: object) -> FieldError:
    if code == "bad-format":
        zh, en = _FORMAT_TEMPLATES[spec.kind]
    else:
        zh, en = _TEMPLATES[code]
    values = {"zh": spec.label_zh, "en": spec.label_en, **extra}
    return FieldError(spec.name, code, zh.format(**values), en.format(**values))


def unknown_field_error(name: str, type_name_zh: str, type_name_en: str, known: str) -> FieldError:
    shown = name if len(name) <= 40 else name[:40] + "…"
    return FieldError(
        shown,
        "unknown-field",
        f"「{shown}」不是{type_name_zh}的字段，请删除或改正字段名。可用字段：{known}。",
        f"{shown!r} is not a field of a {type_name_en}; remove it or correct its name. "
        f"Fields: {known}.",
    )
