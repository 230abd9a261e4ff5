"""Certificate types as data, and validation of certificate data against them."""

from __future__ import annotations

import json
import pickle
import random
from collections.abc import Set
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from certificates.errors import CertificateError
from certificates.types import (
    CERTIFICATE_TYPES,
    CertificateDataError,
    CertificateType,
    FieldKind,
    FieldSpec,
    UnknownCertificateType,
    ValidatedData,
    display_value,
    get_type,
    types_catalogue,
    validate,
)
from certificates.types.codes import (
    USCC_CHARSET,
    resident_id_check_char,
    resident_id_problem,
    uscc_check_char,
    uscc_problem,
)

BL = "business-licence"
QC = "qualification-certificate"
RT = "road-transport-permit"

PUBLIC_USCC_EXAMPLE = "91350100M000100Y43"  # the example code published with GB 32100-2015
PUBLIC_RESIDENT_ID_EXAMPLE = "11010519491231002X"  # the example number from GB 11643-1999


def example(type_code: str, **changes: object) -> dict[str, object]:
    data: dict[str, object] = dict(CERTIFICATE_TYPES[type_code].example)
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def error_codes(type_code: str, data: dict[str, object]) -> dict[str, str]:
    with pytest.raises(CertificateDataError) as info:
        validate(type_code, data)
    return {e.field: e.code for e in info.value.errors}


def make_uscc(rng: random.Random, prefix: str = "91") -> str:
    body = prefix + "110108" + "".join(rng.choice(USCC_CHARSET) for _ in range(9))
    return body + uscc_check_char(body)


def make_resident_id(birth: str = "19900307", region: str = "110101", seq: str = "123") -> str:
    body = region + birth + seq
    return body + resident_id_check_char(body)


# -- the registry -----------------------------------------------------------------------------


@pytest.mark.parametrize("type_code", sorted(CERTIFICATE_TYPES))
def test_every_example_validates_and_round_trips(type_code: str) -> None:
    cert_type = CERTIFICATE_TYPES[type_code]
    data = validate(type_code, cert_type.example)
    assert data.type_code == type_code
    assert data.holder_id == data[cert_type.holder_field]
    assert data.title == data[cert_type.title_field]
    assert isinstance(data.valid_from, date)
    # The JSON form is what gets stored; it must validate back to the same data.
    assert validate(type_code, json.loads(json.dumps(data.as_json()))) == data


def test_required_types_and_agencies_are_registered() -> None:
    assert {t.code: (t.id_prefix, t.agency) for t in CERTIFICATE_TYPES.values()} == {
        BL: ("BL", "market-regulation"),
        QC: ("QC", "human-resources"),
        RT: ("RT", "transport"),
    }


def test_catalogue_is_json_and_describes_every_field() -> None:
    catalogue = json.loads(json.dumps(types_catalogue(), ensure_ascii=False))
    assert [entry["code"] for entry in catalogue] == list(CERTIFICATE_TYPES)
    for entry in catalogue:
        cert_type = get_type(entry["code"])
        assert entry["name_zh"] and entry["name_en"] and entry["agency_name_zh"]
        assert entry["agency"] == cert_type.agency
        assert [f["name"] for f in entry["fields"]] == list(cert_type.field_names)
        for field in entry["fields"]:
            assert {"label_zh", "label_en", "kind", "required"} <= field.keys()
            if field["kind"] == "enum":
                assert all(c["label_zh"] and c["label_en"] for c in field["choices"])
        validate(entry["code"], entry["example"])


def test_unknown_type_is_a_certificate_error() -> None:
    with pytest.raises(UnknownCertificateType) as info:
        validate("driving-licence", {})
    assert isinstance(info.value, CertificateError)
    assert BL in str(info.value)


def test_a_type_definition_referring_to_a_missing_field_is_refused() -> None:
    name = FieldSpec("name", "名称", "Name", FieldKind.TEXT)
    since = FieldSpec("since", "日期", "Date", FieldKind.DATE)
    with pytest.raises(ValueError, match="unknown fields"):
        CertificateType(
            code="broken",
            id_prefix="BR",
            name_zh="坏",
            name_en="Broken",
            agency="transport",
            fields=(name, since),
            holder_field="nope",
            holder_name_field="name",
            holder_is_person=False,
            title_field="name",
            valid_from_field="since",
            valid_until_field=None,
            example={},
        )


# -- unified social credit code -----------------------------------------------------------------


def test_public_uscc_example_is_valid() -> None:
    assert uscc_problem(PUBLIC_USCC_EXAMPLE) is None
    assert uscc_check_char(PUBLIC_USCC_EXAMPLE[:17]) == "3"


def test_generated_usccs_validate_and_normalise() -> None:
    rng = random.Random(32100)
    for _ in range(200):
        code = make_uscc(rng)
        assert uscc_problem(code) is None
        # Typed in lower case, with spaces, or full width from a Chinese IME: same code.
        fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in code.lower())
        for typed in (code.lower(), f" {code[:8]} {code[8:]} ", fullwidth):
            data = validate(BL, example(BL, credit_code=typed))
            assert data["credit_code"] == code


def test_uscc_check_character_catches_every_single_substitution() -> None:
    code = PUBLIC_USCC_EXAMPLE
    for position in range(18):
        for char in USCC_CHARSET:
            if char != code[position]:
                changed = code[:position] + char + code[position + 1 :]
                assert uscc_problem(changed) is not None, changed


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("91350100M000100Y44", "bad-check-character"),
        ("91350100M000100Y4", "bad-format"),  # 17 characters
        ("91350100M000100Y433", "bad-format"),  # 19 characters
        ("91350100M00O100Y43", "bad-format"),  # O is not in the character set
        ("9135A100M000100Y43", "bad-format"),  # division code must be digits
        ("91990100M000100Y4" + uscc_check_char("91990100M000100Y4"), "bad-division-code"),
        ("Z1350100M000100Y43", "bad-format"),  # no such registration authority
    ],
)
def test_invalid_usccs(code: str, problem: str) -> None:
    assert uscc_problem(code) == problem


def test_wrong_uscc_check_character_does_not_reveal_the_expected_one() -> None:
    with pytest.raises(CertificateDataError) as info:
        validate(BL, example(BL, credit_code="91350100M000100Y44"))
    (error,) = info.value.errors
    assert (error.field, error.code) == ("credit_code", "bad-check-character")
    for text in (error.message_zh, error.message_en, str(info.value)):
        assert "91350100M000100Y4" not in text
    assert "校验位" in error.message_zh and "check character" in error.message_en


def test_business_licence_needs_a_market_regulation_code() -> None:
    # A valid USCC of an institution (registration authority 1), not of an enterprise.
    institution = "12100000" + "40000039" + "X"
    institution += uscc_check_char(institution)
    assert uscc_problem(institution) is None
    assert error_codes(BL, example(BL, credit_code=institution)) == {"credit_code": "bad-prefix"}


# -- citizen identity number --------------------------------------------------------------------


def test_resident_id_public_example_and_lowercase_x() -> None:
    assert resident_id_problem(PUBLIC_RESIDENT_ID_EXAMPLE) is None
    data = validate(QC, example(QC, id_number=PUBLIC_RESIDENT_ID_EXAMPLE.lower()))
    assert data["id_number"] == PUBLIC_RESIDENT_ID_EXAMPLE
    assert data.holder_id == PUBLIC_RESIDENT_ID_EXAMPLE


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("110105194912310021", "bad-check-character"),
        ("11010519491231002", "bad-format"),
        ("11010519491231002XX", "bad-format"),
        ("1101051949123100AX", "bad-format"),
        (make_resident_id(birth="19900230"), "bad-birth-date"),  # 30 February
        (make_resident_id(birth="19901301"), "bad-birth-date"),  # month 13
        (make_resident_id(birth="18991231"), "bad-birth-date"),
        (make_resident_id(region="990101"), "bad-division-code"),
    ],
)
def test_invalid_resident_ids(number: str, problem: str) -> None:
    assert resident_id_problem(number) == problem
    assert error_codes(QC, example(QC, id_number=number)) == {"id_number": problem}


def test_resident_id_check_catches_every_single_digit_substitution() -> None:
    number = make_resident_id()
    for position in range(17):
        for digit in "0123456789":
            if digit != number[position]:
                changed = number[:position] + digit + number[position + 1 :]
                assert resident_id_problem(changed) is not None, changed


# -- other kinds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("100万元人民币", Decimal("100")),
        ("100万元", Decimal("100")),
        ("人民币100万元", Decimal("100")),
        (" 1,000.50 万元 ", Decimal("1000.5")),
        ("1000000元", Decimal("100")),
        ("０.５万元", Decimal("0.5")),
        ("100", Decimal("100")),
        (250, Decimal("250")),
        (12.5, Decimal("12.5")),
        (Decimal("3.000000"), Decimal("3")),
    ],
)
def test_registered_capital_is_normalised_to_wan_yuan(typed: object, amount: Decimal) -> None:
    value = validate(BL, example(BL, registered_capital=typed))["registered_capital"]
    assert value == amount
    assert isinstance(value, Decimal) and "E" not in format(value, "f")


@pytest.mark.parametrize(
    "typed", ["0", "-5万元", "abc", "100美元", "0.0000001", True, float("nan"), "1e5", 10**11]
)
def test_bad_registered_capital(typed: object) -> None:
    assert error_codes(BL, example(BL, registered_capital=typed)) == {
        "registered_capital": "bad-amount"
    }


def test_dates_accept_iso_chinese_and_date_objects() -> None:
    for typed in ("2020-05-08", "2020年5月8日", "2020/05/08", date(2020, 5, 8)):
        data = validate(BL, example(BL, established=typed, valid_from="2020-05-08"))
        assert data["established"] == date(2020, 5, 8)


@pytest.mark.parametrize("typed", ["2021-02-29", "2021-13-01", "tomorrow", 20210101])
def test_bad_dates(typed: object) -> None:
    assert error_codes(BL, example(BL, established=typed)) == {"established": "bad-date"}


def test_datetimes_are_refused_because_their_day_depends_on_a_time_zone() -> None:
    assert error_codes(BL, example(BL, established=datetime(2020, 5, 8, 12))) == {
        "established": "bad-date"
    }


@pytest.mark.parametrize("typed", ["长期", "long-term", "Long-Term", " 长期 "])
def test_long_term_validity_is_none(typed: str) -> None:
    data = validate(BL, example(BL, valid_until=typed))
    assert data["valid_until"] is None and data.valid_until is None
    assert display_value(get_type(BL).field("valid_until"), None).zh == "长期"


def test_validity_must_not_end_before_it_starts() -> None:
    codes = error_codes(RT, example(RT, valid_from="2026-01-01", valid_until="2025-12-31"))
    assert codes == {"valid_until": "date-order"}
    data = validate(RT, example(RT, valid_from="2026-01-01", valid_until="2026-01-01"))
    assert data.valid_until == data.valid_from == date(2026, 1, 1)


def test_a_declared_issue_date_in_the_future_is_refused() -> None:
    # The issue date is printed as declared; a date later than today would be a false one.
    today = datetime.now(timezone(timedelta(hours=8))).date()
    assert get_type(QC).issue_date_field == "issue_date"
    tomorrow = (today + timedelta(days=2)).isoformat()  # later than today in any time zone
    with pytest.raises(CertificateDataError) as info:
        validate(QC, example(QC, issue_date=tomorrow))
    (error,) = info.value.errors
    assert (error.field, error.code) == ("issue_date", "future-issue-date")
    assert "发证日期" in error.message_zh and "不能晚于今天" in error.message_zh
    assert "Date of issue" in error.message_en and "later than today" in error.message_en
    yesterday = today - timedelta(days=1)
    assert validate(QC, example(QC, issue_date=yesterday.isoformat()))["issue_date"] == yesterday
    # A type without a declared issue date keeps its dates as they are (a term may start later).
    assert get_type(BL).issue_date_field is None


def test_business_term_cannot_start_before_establishment() -> None:
    codes = error_codes(BL, example(BL, established="2020-06-01", valid_from="2020-05-18"))
    assert codes == {"valid_from": "date-order"}


def test_enum_accepts_value_or_either_label() -> None:
    for typed in ("1", "一级/高级技师", "level 1 / senior technician"):
        assert validate(QC, example(QC, level=typed))["level"] == "1"
    assert error_codes(QC, example(QC, level="特级")) == {"level": "not-a-choice"}


def test_road_transport_licence_number() -> None:
    assert validate(RT, example(RT, licence_number="４４０３０５０００１２３"))[
        "licence_number"
    ] == ("440305000123")
    for bad, problem in (
        ("44030500012", "bad-format"),
        ("440305000000", "bad-format"),
        ("990305000123", "bad-division-code"),
    ):
        assert error_codes(RT, example(RT, licence_number=bad)) == {"licence_number": problem}


# -- text -----------------------------------------------------------------------------------------


def test_text_is_trimmed_and_nfc_normalised() -> None:
    decomposed = "Jose\u0301 示例有限公司"
    data = validate(BL, example(BL, name=f"  {decomposed}\u3000"))
    assert data["name"] == "José 示例有限公司"


def test_multiline_text_keeps_line_breaks_and_normalises_them() -> None:
    data = validate(BL, example(BL, business_scope="  软件开发；\r\n  技术咨询。  \r\n"))
    assert data["business_scope"] == "软件开发；\n技术咨询。"


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("示例\u200b公司", "control-character"),  # zero-width space
        ("示例\u202e司公", "control-character"),  # right-to-left override
        ("示例\x07公司", "control-character"),
        ("示例\ue000公司", "control-character"),  # private use
        ("示例\n公司", "line-break"),
        (42, "not-text"),
    ],
)
def test_invisible_characters_and_line_breaks_are_refused(typed: object, problem: str) -> None:
    assert error_codes(BL, example(BL, name=typed)) == {"name": problem}


def test_too_long_text_says_the_limit() -> None:
    with pytest.raises(CertificateDataError) as info:
        validate(BL, example(BL, business_scope="经" * 501))
    (error,) = info.value.errors
    assert error.code == "too-long"
    assert "500" in error.message_zh and "500" in error.message_en
    assert "501" in error.message_en


class FakeFonts:
    """Covers everything except the characters it is told to miss."""

    def __init__(self, missing: str) -> None:
        self.missing = set(missing)

    def missing_chars(self, text: str) -> Set[str]:
        return self.missing & set(text)


def test_characters_the_fonts_cannot_draw_are_refused_and_named() -> None:
    fonts = FakeFonts("\U00030edd")
    with pytest.raises(CertificateDataError) as info:
        validate(QC, example(QC, holder_name="王\U00030edd"), fonts=fonts)
    (error,) = info.value.errors
    assert (error.field, error.code) == ("holder_name", "unrenderable")
    assert "U+30EDD" in error.message_zh and "U+30EDD" in error.message_en
    # Without fonts to ask, validation cannot know and lets it through.
    assert validate(QC, example(QC, holder_name="王\U00030edd"))["holder_name"] == "王\U00030edd"


def test_all_problems_are_reported_at_once() -> None:
    data = example(
        BL,
        credit_code="91350100M000100Y44",
        name="",
        company_type="国有企业",
        registered_capital="很多",
        established="2021-02-30",
        valid_until="someday",
        address=...,
        colour="red",
    )
    with pytest.raises(CertificateDataError) as info:
        validate(BL, data)
    codes = {e.field: e.code for e in info.value.errors}
    assert codes == {
        "colour": "unknown-field",
        "credit_code": "bad-check-character",
        "name": "required",
        "company_type": "not-a-choice",
        "registered_capital": "bad-amount",
        "address": "required",
        "established": "bad-date",
        "valid_until": "bad-until-date",
    }
    for error in info.value.errors:
        assert error.message_zh and error.message_en
        assert error.message_zh != error.message_en
    assert json.loads(json.dumps(info.value.as_json()))[0]["code"]


# -- validated data ---------------------------------------------------------------------------


def test_validated_data_keeps_personal_data_out_of_its_repr() -> None:
    data = validate(QC, example(QC, id_number=PUBLIC_RESIDENT_ID_EXAMPLE))
    text = repr(data)
    assert PUBLIC_RESIDENT_ID_EXAMPLE not in text and "王小明" not in text


def test_validated_values_are_read_only_but_serialise_and_pickle() -> None:
    data = validate(BL, CERTIFICATE_TYPES[BL].example)
    with pytest.raises(TypeError):
        data.values["name"] = "别的公司"
    with pytest.raises(TypeError):
        data.values.update(name="别的公司")
    assert json.loads(json.dumps(data.values, default=str))["name"] == data["name"]
    copy = pickle.loads(pickle.dumps(data))
    assert isinstance(copy, ValidatedData) and copy == data
