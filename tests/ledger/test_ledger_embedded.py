from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from freezegun import freeze_time

from ledger import (
    AnchorReceipt,
    CertStatus,
    EmbeddedLedger,
    Ledger,
    LedgerConfigError,
    LedgerRefused,
    TxReceipt,
    verify_inclusion,
)
from tests.ledger.ledger_helpers import REGISTRY, batch, count, entry, make_node

Node = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


def blocks(path: Path) -> int:
    return count(path, "SELECT COUNT(*) FROM blocks")


def test_is_a_ledger(ledger: EmbeddedLedger) -> None:
    backend: Ledger = ledger  # structural check by mypy; runtime check below
    assert backend.backend == "embedded"


def test_genesis(ledger: EmbeddedLedger, path: Path) -> None:
    assert ledger.registry() == REGISTRY
    report = ledger.verify_chain()
    assert (report.ok, report.blocks_checked, report.first_bad_block) == (True, 1, None)
    assert blocks(path) == 1
    assert count(path, "SELECT COUNT(*) FROM txs WHERE function = 'init_registry'") == 1


def test_create_refuses_an_existing_file(ledger: EmbeddedLedger, path: Path, node: Node) -> None:
    before = path.read_bytes()
    with pytest.raises(LedgerConfigError, match="already exists"):
        EmbeddedLedger.create(path, node_key=node[0], node_cert=node[1], registry=REGISTRY)
    assert path.read_bytes() == before


def test_create_with_a_refused_registry_leaves_no_file(path: Path, node: Node) -> None:
    bad = [REGISTRY[0], REGISTRY[0]]
    with pytest.raises(LedgerRefused) as err:
        EmbeddedLedger.create(path, node_key=node[0], node_cert=node[1], registry=bad)
    assert err.value.code == "BAD_ARGUMENT"
    assert list(path.parent.iterdir()) == []


def test_create_checks_the_node_identity(path: Path, node: Node) -> None:
    other_key, _ = make_node("other")
    with pytest.raises(LedgerConfigError, match="does not belong"):
        EmbeddedLedger.create(path, node_key=other_key, node_cert=node[1], registry=REGISTRY)
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(LedgerConfigError, match="P-256"):
        EmbeddedLedger.create(path, node_key=p384, node_cert=node[1], registry=REGISTRY)
    assert not path.exists()


def test_anchor_get_history_revoke(ledger: EmbeddedLedger) -> None:
    receipts = ledger.anchor("MOE", [entry("C-1", 1), entry("C-2", 2)])
    assert [r.cert_id for r in receipts] == ["C-1", "C-2"]
    r = receipts[0]
    assert isinstance(r, AnchorReceipt)
    assert (r.status, r.block_number) == ("anchored", 1)
    assert r.tx_id == receipts[1].tx_id and len(r.tx_id) == 64
    assert verify_inclusion(r.proof, r.leaf)

    record = ledger.get("C-1")
    assert record is not None
    assert (record.agency, record.cert_type, record.digest) == ("MOE", "diploma", f"{1:064x}")
    assert (record.status, record.reason) == (CertStatus.ACTIVE, None)
    assert (record.anchored_tx, record.anchored_block) == (r.tx_id, 1)
    assert record.anchored_at == record.updated_at == r.anchored_at

    s = ledger.suspend("MOE", "C-1", "under review")
    ledger.reinstate("MOE", "C-1", "cleared")
    rv = ledger.revoke("MOE", "C-1", "issued in error")
    assert isinstance(rv, TxReceipt) and rv.block_number == 4 and s.block_number == 2
    record = ledger.get("C-1")
    assert record is not None
    assert (record.status, record.reason, record.anchored_block) == (
        CertStatus.REVOKED,
        "issued in error",
        1,
    )
    assert record.updated_at == rv.timestamp

    history = ledger.history("C-1")
    assert [(h.version, h.block_number, h.status, h.reason) for h in history] == [
        (1, 1, CertStatus.ACTIVE, None),
        (2, 2, CertStatus.SUSPENDED, "under review"),
        (3, 3, CertStatus.ACTIVE, "cleared"),
        (4, 4, CertStatus.REVOKED, "issued in error"),
    ]
    assert history[-1].tx_id == rv.tx_id
    assert ledger.verify_chain().ok


def test_revocation_is_final(ledger: EmbeddedLedger) -> None:
    ledger.anchor("MOE", [entry("C-1")])
    ledger.revoke("MOE", "C-1", "issued in error")
    for change in (ledger.revoke, ledger.reinstate, ledger.suspend):
        with pytest.raises(LedgerRefused) as err:
            change("MOE", "C-1", "again")
        assert (err.value.code, err.value.cert_id) == ("ALREADY_REVOKED", "C-1")


def test_reanchoring_is_idempotent(ledger: EmbeddedLedger, path: Path) -> None:
    first = ledger.anchor("MOE", batch("C", 5))
    before = (blocks(path), count(path, "SELECT COUNT(*) FROM writes"))
    again = ledger.anchor("MOE", batch("C", 5))
    assert (blocks(path), count(path, "SELECT COUNT(*) FROM writes")) == before
    for a, b in zip(first, again, strict=True):
        assert b.status == "already-anchored"
        assert (b.tx_id, b.block_number, b.anchored_at, b.proof, b.leaf) == (
            a.tx_id,
            a.block_number,
            a.anchored_at,
            a.proof,
            a.leaf,
        )
        assert verify_inclusion(b.proof, b.leaf)


def test_mixed_batch_proves_old_and_new(ledger: EmbeddedLedger) -> None:
    old = ledger.anchor("MOE", [entry("C-1", 1)])[0]
    ledger.revoke("MOE", "C-1", "superseded")  # the original write still proves anchoring
    mixed = ledger.anchor("MOE", [entry("C-1", 1), entry("C-2", 2)])
    assert [m.status for m in mixed] == ["already-anchored", "anchored"]
    assert mixed[0].proof == old.proof and mixed[1].block_number == 3
    assert all(verify_inclusion(m.proof, m.leaf) for m in mixed)


def test_digest_conflict_writes_nothing(ledger: EmbeddedLedger, path: Path) -> None:
    ledger.anchor("MOE", [entry("C-1", 1)])
    before = (blocks(path), count(path, "SELECT COUNT(*) FROM state"))
    with pytest.raises(LedgerRefused) as err:
        ledger.anchor("MOE", [entry("C-0", 0), entry("C-1", 9)])
    assert (err.value.code, err.value.cert_id) == ("DIGEST_CONFLICT", "C-1")
    assert (blocks(path), count(path, "SELECT COUNT(*) FROM state")) == before
    assert ledger.get("C-0") is None
    record = ledger.get("C-1")
    assert record is not None and record.digest == f"{1:064x}"


def test_foreign_type_refused(ledger: EmbeddedLedger, path: Path) -> None:
    with pytest.raises(LedgerRefused) as err:
        ledger.anchor("MOE", [entry("C-1"), entry("D-1", cert_type="driving")])
    assert (err.value.code, err.value.cert_id) == ("TYPE_NOT_ALLOWED", "D-1")
    assert blocks(path) == 1


def test_unknown_agency_refused(ledger: EmbeddedLedger) -> None:
    with pytest.raises(LedgerRefused) as err:
        ledger.anchor("NOPE", [entry("C-1")])
    assert err.value.code == "UNKNOWN_AGENCY"
    with pytest.raises(LedgerRefused) as err:
        ledger.revoke("NOPE", "C-1", "x")
    assert err.value.code == "UNKNOWN_AGENCY"


def test_non_issuer_cannot_change_status(ledger: EmbeddedLedger, path: Path) -> None:
    ledger.anchor("MOE", [entry("C-1")])
    before = blocks(path)
    for change in (ledger.revoke, ledger.suspend, ledger.reinstate):
        with pytest.raises(LedgerRefused) as err:
            change("MOT", "C-1", "not mine")
        assert (err.value.code, err.value.cert_id) == ("NOT_ISSUER", "C-1")
    with pytest.raises(LedgerRefused) as err:
        ledger.revoke("MOE", "C-404", "x")
    assert err.value.code == "NOT_FOUND"
    assert blocks(path) == before


def test_unknown_and_malformed_ids_read_as_absent(ledger: EmbeddedLedger) -> None:
    assert ledger.get("C-404") is None
    assert ledger.get("../../etc/passwd") is None
    assert ledger.get("") is None
    assert ledger.history("C-404") == []
    assert ledger.history("bad id") == []


def test_read_only_handle(ledger: EmbeddedLedger, path: Path, node: Node) -> None:
    ledger.anchor("MOE", [entry("C-1")])
    with EmbeddedLedger.open_readonly(path, node[1]) as ro:
        assert ro.get("C-1") is not None
        assert ro.verify_chain().ok
        with pytest.raises(LedgerConfigError, match="read-only"):
            ro.anchor("MOE", [entry("C-2")])
    assert ledger.get("C-2") is None


def test_open_refuses_another_node_identity(ledger: EmbeddedLedger, path: Path) -> None:
    key, cert = make_node("intruder")
    with pytest.raises(LedgerConfigError, match="signed by node certificate"):
        EmbeddedLedger.open(path, node_key=key, node_cert=cert)
    # A verifier trusting another certificate is told, not misled.
    with EmbeddedLedger.open_readonly(path, cert) as ro:
        report = ro.verify_chain()
    assert (report.ok, report.first_bad_block) == (False, 0)
    assert "untrusted node certificate" in report.reason


def test_block_time_never_runs_backwards(ledger: EmbeddedLedger) -> None:
    with freeze_time(datetime(2030, 6, 1, 12, 0, tzinfo=UTC)):
        first = ledger.anchor("MOE", [entry("C-1")])[0]
    with freeze_time(datetime(2030, 6, 1, 11, 0, tzinfo=UTC)):  # the clock stepped back
        second = ledger.anchor("MOE", [entry("C-2")])[0]
    assert second.anchored_at == first.anchored_at
    with freeze_time(first.anchored_at + timedelta(seconds=5)):
        third = ledger.anchor("MOE", [entry("C-3")])[0]
    assert third.anchored_at == first.anchored_at + timedelta(seconds=5)
    assert ledger.verify_chain().ok


def test_threads_share_one_ledger(ledger: EmbeddedLedger) -> None:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for r in range(5):
                ledger.anchor("MOE", batch(f"T{t}-{r}", 20))
                assert ledger.get(f"T{t}-{r}-0") is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    report = ledger.verify_chain()
    assert report.ok and report.blocks_checked == 1 + 4 * 5


def test_works_from_a_thread_with_a_running_event_loop(ledger: EmbeddedLedger) -> None:
    async def main() -> list[AnchorReceipt]:
        return ledger.anchor("MOE", [entry("C-1")])

    assert asyncio.run(main())[0].status == "anchored"


def test_repr_shows_no_key_material(ledger: EmbeddedLedger) -> None:
    text = repr(ledger)
    assert "read-write" in text and "sha256=" in text and "BEGIN" not in text


def test_values_have_a_json_form(ledger: EmbeddedLedger) -> None:
    receipt = ledger.anchor("MOE", [entry("C-1")])[0]
    ledger.suspend("MOE", "C-1", "under review")
    record = ledger.get("C-1")
    assert record is not None
    body = json.loads(json.dumps(record.to_json()))
    assert (body["status"], body["reason"], body["valid_until"]) == (
        "suspended",
        "under review",
        None,
    )
    assert body["anchored_block"] == receipt.block_number
    history = [json.loads(json.dumps(h.to_json())) for h in ledger.history("C-1")]
    assert [h["status"] for h in history] == ["active", "suspended"]
    assert json.loads(json.dumps(receipt.proof.to_json()))["tree_size"] == 1
    assert ledger.verify_chain().to_json()["ok"] is True
