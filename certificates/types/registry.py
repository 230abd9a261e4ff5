"""The certificate types this service knows, as data.

To add a certificate type, add a `CertificateType` below and list it in
`CERTIFICATE_TYPES` (a new issuing agency also goes into `certificates.agencies` and gets a
two-letter id code in `certificates.ids`). Examples are fictional; their codes are made up
with valid check characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..agencies import AGENCIES
from .errors import UnknownCertificateType
from .model import CertificateType, EnumChoice, FieldKind, FieldSpec

__all__ = ["CERTIFICATE_TYPES", "get_type", "types_catalogue"]

_BUSINESS_LICENCE = CertificateType(
    code="business-licence",
    id_prefix="BL",
    name_zh="营业执照",
    name_en="Business Licence",
    agency="market-regulation",
    fields=(
        FieldSpec(
            "credit_code",
            "统一社会信用代码",
            "Unified social credit code",
            FieldKind.USCC,
            # Registered by market regulation (9): enterprise, individual business, co-operative.
            prefixes=("91", "92", "93"),
        ),
        FieldSpec("name", "名称", "Name", FieldKind.TEXT, max_length=100),
        FieldSpec(
            "company_type",
            "类型",
            "Type",
            FieldKind.ENUM,
            choices=(
                EnumChoice("llc", "有限责任公司", "Limited liability company"),
                EnumChoice("joint-stock", "股份有限公司", "Company limited by shares"),
                EnumChoice("sole-proprietorship", "个人独资企业", "Sole proprietorship"),
                EnumChoice("partnership", "合伙企业", "Partnership"),
            ),
        ),
        FieldSpec(
            "legal_representative",
            "法定代表人",
            "Legal representative",
            FieldKind.TEXT,
            max_length=50,
        ),
        FieldSpec("registered_capital", "注册资本", "Registered capital", FieldKind.MONEY),
        FieldSpec("address", "住所", "Domicile", FieldKind.TEXT, max_length=120),
        FieldSpec(
            "business_scope", "经营范围", "Business scope", FieldKind.MULTILINE, max_length=500
        ),
        FieldSpec("established", "成立日期", "Date of establishment", FieldKind.DATE),
        FieldSpec("valid_from", "营业期限自", "Term of operation from", FieldKind.DATE),
        FieldSpec("valid_until", "营业期限至", "Term of operation until", FieldKind.UNTIL_DATE),
    ),
    holder_field="credit_code",
    holder_name_field="name",
    # One active business licence per unified social credit code.
    unique_by=("credit_code",),
    holder_is_person=False,
    title_field="name",
    valid_from_field="valid_from",
    valid_until_field="valid_until",
    date_order=(("established", "valid_from"),),
    example={
        "credit_code": "91110108MA01C3Q5RA",
        "name": "北京示例科技有限公司",
        "company_type": "有限责任公司",
        "legal_representative": "张三",
        "registered_capital": "100万元人民币",
        "address": "北京市海淀区示例路1号",
        "business_scope": "技术开发、技术咨询、技术服务；软件开发；信息系统集成服务。"
        "（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
        "established": "2020-05-18",
        "valid_from": "2020-05-18",
        "valid_until": "长期",
    },
)

_QUALIFICATION_CERTIFICATE = CertificateType(
    code="qualification-certificate",
    id_prefix="QC",
    name_zh="职业资格证书",
    name_en="Vocational Qualification Certificate",
    agency="human-resources",
    fields=(
        FieldSpec("holder_name", "姓名", "Name", FieldKind.TEXT, max_length=50),
        FieldSpec("id_number", "公民身份号码", "Citizen ID number", FieldKind.RESIDENT_ID),
        FieldSpec(
            "occupation", "职业（工种）", "Occupation (trade)", FieldKind.TEXT, max_length=50
        ),
        FieldSpec(
            "level",
            "等级",
            "Level",
            FieldKind.ENUM,
            choices=(
                EnumChoice("5", "五级/初级工", "Level 5 / Junior worker"),
                EnumChoice("4", "四级/中级工", "Level 4 / Intermediate worker"),
                EnumChoice("3", "三级/高级工", "Level 3 / Senior worker"),
                EnumChoice("2", "二级/技师", "Level 2 / Technician"),
                EnumChoice("1", "一级/高级技师", "Level 1 / Senior technician"),
            ),
        ),
        FieldSpec("issue_date", "发证日期", "Date of issue", FieldKind.DATE),
    ),
    holder_field="id_number",
    holder_name_field="holder_name",
    # One active certificate per holder and qualification (occupation at a level).
    unique_by=("id_number", "occupation", "level"),
    holder_is_person=True,
    title_field="holder_name",
    valid_from_field="issue_date",
    valid_until_field=None,  # vocational qualifications do not expire
    # The date the qualification was awarded, as the data declares it: the issue date.
    issue_date_field="issue_date",
    example={
        "holder_name": "王小明",
        "id_number": "110101199003070011",
        "occupation": "电工",
        "level": "三级/高级工",
        "issue_date": "2026-01-15",
    },
)

_ROAD_TRANSPORT_PERMIT = CertificateType(
    code="road-transport-permit",
    id_prefix="RT",
    name_zh="道路运输经营许可证",
    name_en="Road Transport Operating Permit",
    agency="transport",
    fields=(
        FieldSpec("operator", "业户名称", "Operator", FieldKind.TEXT, max_length=100),
        FieldSpec("credit_code", "统一社会信用代码", "Unified social credit code", FieldKind.USCC),
        FieldSpec("address", "地址", "Address", FieldKind.TEXT, max_length=120),
        FieldSpec("licence_number", "许可证号", "Licence number", FieldKind.LICENCE_NUMBER),
        FieldSpec(
            "business_scope", "经营范围", "Scope of operation", FieldKind.MULTILINE, max_length=200
        ),
        FieldSpec("valid_from", "有效期自", "Valid from", FieldKind.DATE),
        FieldSpec("valid_until", "有效期至", "Valid until", FieldKind.DATE),
    ),
    holder_field="credit_code",
    holder_name_field="operator",
    # One active permit per licence number.
    unique_by=("licence_number",),
    holder_is_person=False,
    title_field="operator",
    valid_from_field="valid_from",
    valid_until_field="valid_until",
    example={
        "operator": "深圳示例物流有限公司",
        "credit_code": "91440300MA5G7Y2B1J",
        "address": "广东省深圳市南山区示例大道88号",
        "licence_number": "440305000123",
        "business_scope": "道路普通货物运输；货物专用运输（集装箱）",
        "valid_from": "2026-01-01",
        "valid_until": "2029-12-31",
    },
)

CERTIFICATE_TYPES: Mapping[str, CertificateType] = MappingProxyType(
    {t.code: t for t in (_BUSINESS_LICENCE, _QUALIFICATION_CERTIFICATE, _ROAD_TRANSPORT_PERMIT)}
)


def _check_registry() -> None:
    # Ids carry the two-letter prefix, so it must identify one type.
    prefixes = [t.id_prefix for t in CERTIFICATE_TYPES.values()]
    if len(set(prefixes)) != len(prefixes):
        raise ValueError("two certificate types share an id prefix")
    for cert_type in CERTIFICATE_TYPES.values():
        if cert_type.agency not in AGENCIES:
            raise ValueError(f"{cert_type.code}: unknown agency {cert_type.agency!r}")


_check_registry()


def get_type(type_code: str) -> CertificateType:
    try:
        return CERTIFICATE_TYPES[type_code]
    except KeyError:
        raise UnknownCertificateType(type_code, sorted(CERTIFICATE_TYPES)) from None


def types_catalogue() -> list[dict[str, object]]:
    """Every certificate type as JSON-ready data (for `certledger types --json` and the API)."""
    catalogue: list[dict[str, object]] = []
    for t in CERTIFICATE_TYPES.values():
        agency = AGENCIES[t.agency]
        catalogue.append(
            {
                "code": t.code,
                "id_prefix": t.id_prefix,
                "name_zh": t.name_zh,
                "name_en": t.name_en,
                "agency": agency.code,
                "agency_name_zh": agency.name_zh,
                "agency_name_en": agency.name_en,
                "holder_field": t.holder_field,
                "holder_name_field": t.holder_name_field,
                "holder_is_person": t.holder_is_person,
                "title_field": t.title_field,
                "valid_from_field": t.valid_from_field,
                "valid_until_field": t.valid_until_field,
                "issue_date_field": t.issue_date_field,
                "unique_by": list(t.unique_by),
                "fields": [f.as_json() for f in t.fields],
                "example": dict(t.example),
            }
        )
    return catalogue
