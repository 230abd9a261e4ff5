"""The participating agencies, as data.

Each agency has a stable code (used in ids, tokens and the ledger registry), a display name in
both languages and the ledger identity (MSP id) it acts under.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AGENCIES", "Agency", "agency"]


@dataclass(frozen=True)
class Agency:
    code: str
    name_zh: str
    name_en: str
    msp_id: str


AGENCIES: dict[str, Agency] = {
    a.code: a
    for a in (
        Agency(
            "market-regulation", "市场监督管理局", "Market Regulation Bureau", "MarketRegulationMSP"
        ),
        Agency(
            "human-resources",
            "人力资源和社会保障局",
            "Human Resources and Social Security Bureau",
            "HumanResourcesMSP",
        ),
        Agency("transport", "交通运输局", "Transport Bureau", "TransportMSP"),
    )
}


def agency(code: str) -> Agency:
    try:
        return AGENCIES[code]
    except KeyError:
        known = ", ".join(sorted(AGENCIES))
        from certificates.errors import CertificateError

        raise CertificateError(f"unknown agency {code!r}; known agencies: {known}") from None
