"""An agency's records (the agency console's search and certificate page) against the real
store, audit log and embedded ledger; rendering is the issuance tests' fake producer."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certificates.errors import CertificateNotFound
from certificates.issuance import records as records_module
from certificates.issuance.records import PAGE_SIZE, AgencyRecords, SearchQuery
from certificates.notifications.notifier import Silent
from certificates.status import StatusChange, StatusService
from tests.certificates.test_batches import HR, QC, TRANSPORT, Env
from tests.distinct import distinct


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


def _issue(env: Env, name: str) -> str:
    data = distinct(QC.code, QC.example)
    data[QC.holder_name_field] = name
    return env.issuance.issue_as(HR, QC.code, data).cert_id


def test_search_pages_newest_first_within_the_agency(env: Env) -> None:
    ids = [_issue(env, f"王{i}") for i in range(PAGE_SIZE + 5)]
    records = AgencyRecords(store=env.store, audit=env.audit)
    first = records.search(HR, SearchQuery())
    assert first.total == PAGE_SIZE + 5 and first.pages == 2
    assert len(first.items) == PAGE_SIZE
    second = records.search(HR, SearchQuery(page=2))
    assert len(second.items) == 5
    seen = [c.cert_id for c in first.items + second.items]
    assert sorted(seen) == sorted(ids) and len(set(seen)) == len(ids)
    # The issuing agency sees its holders' names unmasked; another agency sees nothing.
    assert {c.holder_name for c in first.items} <= {f"王{i}" for i in range(PAGE_SIZE + 5)}
    assert records.search(TRANSPORT, SearchQuery()).total == 0


def test_name_search_matches_a_part_and_keeps_the_name_out_of_the_database(env: Env) -> None:
    wanted = _issue(env, "欧阳娜娜")
    _issue(env, "李四")
    records = AgencyRecords(store=env.store, audit=env.audit)
    found = records.search(HR, SearchQuery(holder_name="阳娜"))
    assert [c.cert_id for c in found.items] == [wanted] and not found.scan_truncated
    assert records.search(HR, SearchQuery(holder_name="张三丰")).total == 0
    with sqlite3.connect(env.db) as db:
        for table in ("certificates", "audit_log"):
            dump = "\n".join(str(r) for r in db.execute(f"SELECT * FROM {table}"))
            assert "阳娜" not in dump, table
        reasons = [
            r[0]
            for r in db.execute("SELECT reason FROM audit_log WHERE action = ?", ("agency-search",))
        ]
    assert "holder-name" in reasons


def test_name_search_is_bounded_and_says_so(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(6):
        _issue(env, f"赵{i}")
    monkeypatch.setattr(records_module, "NAME_SCAN_LIMIT", 4)
    records = AgencyRecords(store=env.store, audit=env.audit)
    page = records.search(HR, SearchQuery(holder_name="赵"))
    assert page.scan_truncated and page.total == 4


def test_filters_by_id_status_and_issue_date(env: Env) -> None:
    a = _issue(env, "甲")
    b = _issue(env, "乙")
    records = AgencyRecords(store=env.store, audit=env.audit)
    assert [c.cert_id for c in records.search(HR, SearchQuery(cert_id=a[-8:])).items] == [a]
    statuses = StatusService(store=env.store, ledger=env.ledger, audit=env.audit, notifier=Silent())  # type: ignore[arg-type]
    env.issuance.anchor_pending()
    statuses.change(HR, b, StatusChange.REVOKE, "测试撤销")
    revoked = records.search(HR, SearchQuery(status="revoked"))
    assert [c.cert_id for c in revoked.items] == [b]
    assert [c.cert_id for c in records.search(HR, SearchQuery(status="active")).items] == [a]
    today = (datetime.now(UTC) + timedelta(hours=8)).date()
    assert records.search(HR, SearchQuery(issued_from=today, issued_to=today)).total == 2
    assert records.search(HR, SearchQuery(issued_to=today - timedelta(days=1))).total == 0


def test_facts_history_and_trail_for_the_issuer_only(env: Env) -> None:
    cert_id = _issue(env, "钱五")
    records = AgencyRecords(store=env.store, audit=env.audit)
    facts = records.facts(HR, cert_id)
    assert facts.summary.holder_name == "钱五"
    assert [e.event.action for e in facts.history] == ["issue"]
    labels = [zh for zh, _en, _v in facts.fields]
    assert labels[0] == QC.fields[0].label_zh
    # The second opening lists the first as a look-up.
    again = records.facts(HR, cert_id)
    assert [e.event.action for e in again.lookups] == ["agency-view"]
    with pytest.raises(CertificateNotFound):
        records.facts(TRANSPORT, cert_id)
    denied = [e for e in env.audit.entries(cert_id=cert_id) if e.event.result == "denied"]
    assert [e.event.reason for e in denied] == ["FOREIGN_CERTIFICATE"]
