"""One active certificate per uniqueness key (a type's unique_by fields), at issuance and on
the ledger, and the explicit re-issue that supersedes the active one."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from certificates.audit import AuditLog
from certificates.holder_key import HolderKey
from certificates.issuance.service import IssuanceService
from certificates.issuance.uniqueness import AlreadyIssued, ReissueRefused
from certificates.sharing.clients import Principal
from certificates.store.cipher import FieldCipher
from certificates.store.database import Store
from certificates.types import CERTIFICATE_TYPES, CertificateDataError
from ledger import superseded_reason
from tests.certificates.test_batches import Env, _csv
from tests.certificates.test_issuance import FakeProducer, registered_ledger
from tests.distinct import distinct

QC = CERTIFICATE_TYPES["qualification-certificate"]
BL = CERTIFICATE_TYPES["business-licence"]
HR = Principal("hr-system", "human-resources", frozenset({"issuer"}))
MR = Principal("mr-system", "market-regulation", frozenset({"issuer"}))


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


def _revoke(env: Env, agency: str, cert_id: str) -> None:
    env.ledger.inner.revoke(agency, cert_id, "withdrawn")
    env.store.set_status(cert_id, "revoked", "withdrawn")


def test_a_second_active_certificate_is_refused_with_the_first_ones_id(env: Env) -> None:
    data = distinct(QC.code, QC.example)
    first = env.issuance.issue_as(HR, QC.code, data)
    # Another name, the same holder and qualification: still the same key.
    with pytest.raises(AlreadyIssued) as err:
        env.issuance.issue_as(HR, QC.code, {**data, QC.holder_name_field: "王二"})
    assert err.value.code == "ALREADY_ISSUED" and err.value.existing_id == first.cert_id
    assert first.cert_id in err.value.zh and first.cert_id in err.value.en
    assert data[QC.holder_field] not in err.value.en + err.value.zh  # no identity number
    assert env.certificates() == 1
    # Another level of the same occupation is another qualification.
    other_level = {**data, "level": "四级/中级工"}
    env.issuance.issue_as(HR, QC.code, other_level)
    assert env.certificates() == 2


def test_a_revocation_frees_the_key(env: Env) -> None:
    data = distinct(BL.code, BL.example)
    first = env.issuance.issue_as(MR, BL.code, data)
    _revoke(env, "market-regulation", first.cert_id)
    second = env.issuance.issue_as(MR, BL.code, data)
    assert second.anchored and second.cert_id != first.cert_id


def test_reissue_is_the_next_version_and_supersedes_on_the_ledger(env: Env) -> None:
    data = distinct(BL.code, BL.example)
    first = env.issuance.issue_as(MR, BL.code, data)
    corrected = {**data, "address": "北京市海淀区更正路1号"}
    new = env.issuance.reissue_as(MR, first.cert_id, corrected)
    # Same number, next version.
    assert new.cert_id.split("-")[:4] == first.cert_id.split("-")[:4]
    assert new.cert_id.split("-")[4] == "02" and new.anchored
    old_record = env.ledger.inner.get(first.cert_id)
    assert old_record is not None and old_record.status == "revoked"
    assert old_record.reason == superseded_reason(new.cert_id)
    assert [h.status for h in env.ledger.inner.history(first.cert_id)] == ["active", "revoked"]
    old_row = env.store.get(first.cert_id)
    assert old_row is not None
    assert (old_row.status, old_row.status_reason) == ("revoked", superseded_reason(new.cert_id))
    # The new version now holds the key: a third certificate is refused naming it.
    with pytest.raises(AlreadyIssued) as err:
        env.issuance.issue_as(MR, BL.code, data)
    assert err.value.existing_id == new.cert_id
    # And it can be re-issued in turn; the superseded version cannot.
    third = env.issuance.reissue_as(MR, new.cert_id, data)
    assert third.cert_id.split("-")[4] == "03"
    with pytest.raises(ReissueRefused) as gone:
        env.issuance.reissue_as(MR, first.cert_id, data)
    assert gone.value.code == "REVOKED"


@pytest.mark.parametrize(
    ("how", "code"),
    [
        ("other key", "KEY_CHANGED"),
        ("other agency", "NOT_FOUND"),
        ("missing", "NOT_FOUND"),
        ("pending", "NOT_ANCHORED"),
    ],
)
def test_reissue_refusals_issue_nothing(env: Env, how: str, code: str) -> None:
    data = distinct(BL.code, BL.example)
    if how == "pending":
        env.ledger.down = True  # stays pending
    first = env.issuance.issue_as(MR, BL.code, data)
    before = env.certificates()
    who, cert_id, new_data = MR, first.cert_id, data
    if how == "other key":
        new_data = distinct(BL.code, BL.example)  # another credit code: another company
    elif how == "other agency":
        who = Principal("t", "transport", frozenset({"issuer"}))
    elif how == "missing":
        cert_id = first.cert_id.replace("-01-", "-09-")
    with pytest.raises(ReissueRefused) as err:
        env.issuance.reissue_as(who, cert_id, new_data)
    assert err.value.code == code and err.value.zh and err.value.en
    assert env.certificates() == before


def test_reissue_data_is_validated(env: Env) -> None:
    data = distinct(BL.code, BL.example)
    first = env.issuance.issue_as(MR, BL.code, data)
    with pytest.raises(CertificateDataError):
        env.issuance.reissue_as(MR, first.cert_id, {**data, "established": "yesterday"})


def test_a_batch_refuses_active_and_repeated_rows_row_by_row(env: Env) -> None:
    content = _csv(4, tag="唯一")
    rows = content.decode().splitlines()
    header, first_row = rows[0], rows[1]
    # Row 1 is issued before the batch; the file repeats it as row 5.
    one = next(csv.DictReader(io.StringIO(header + "\n" + first_row)))
    existing = env.issuance.issue_as(HR, QC.code, one)
    content += (first_row + "\n").encode()
    p = env.batches.submit(HR, QC.code, content)
    done = env.batches.run(p.batch_id)
    assert (done.issued, done.failed) == (3, 2)
    results = {r.row: r for r in env.batches.rows(HR, p.batch_id)}
    assert results[1].errors[0].code == "already_issued"
    assert existing.cert_id in results[1].errors[0].message_en
    assert results[5].errors[0].code == "already_issued"  # row 1's twin: the same certificate
    assert all(results[n].cert_id for n in (2, 3, 4))
    # Repeated in the file while nothing is issued yet: the later row is refused.
    twice = _csv(2, tag="两次")
    twice += (twice.decode().splitlines()[1] + "\n").encode()
    bad = env.batches.check(HR, QC.code, twice)
    assert [(r.row, r.errors[0].code) for r in bad] == [(3, "duplicate_in_batch")]
    assert "data row 1" in bad[0].errors[0].message_en and "第 1 行" in bad[0].errors[0].message_zh


def _pg_hosts(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], IssuanceService]:
    url = request.getfixturevalue("postgres_url")
    Store.open(tmp_path / "c.db", create=True, url=url).close()
    ledger = registered_ledger(tmp_path / "ledger.db")
    request.addfinalizer(ledger.close)

    def host() -> IssuanceService:
        store = Store.open(tmp_path / "c.db", url=url)
        store.use_cipher(FieldCipher(b"d" * 32))
        request.addfinalizer(store.close)
        return IssuanceService(
            store=store,
            ledger=ledger,
            producer=FakeProducer(),
            holder_key=HolderKey(b"k" * 32),
            base_url="https://verify.example",
            audit=AuditLog(store),
        )

    return host


def test_two_hosts_racing_for_one_key_store_one_certificate(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    host = _pg_hosts(request, tmp_path)
    services = [host() for _ in range(4)]
    data = distinct(BL.code, BL.example)
    start = threading.Barrier(4)
    issued: list[str] = []
    refused: list[str] = []

    def issue(svc: IssuanceService) -> None:
        start.wait(timeout=10)
        try:
            issued.append(svc.issue_as(MR, BL.code, data).cert_id)
        except AlreadyIssued as exc:
            refused.append(exc.existing_id)
        except Exception as exc:  # the race's other refusal: nothing stored either
            refused.append(getattr(exc, "code", type(exc).__name__))

    threads = [threading.Thread(target=issue, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(issued) == 1 and len(refused) == 3, (issued, refused)
    assert all(r in (issued[0], "ISSUE_RACE") for r in refused)
    with pytest.raises(AlreadyIssued):
        services[0].issue_as(MR, BL.code, data)
