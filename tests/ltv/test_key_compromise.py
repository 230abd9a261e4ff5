"""The key-compromise procedure through the real CLI: `certledger seal revoke --since T`
revokes the seal certificate from T, revokes on the ledger (one transaction) exactly the
certificates the key sealed from T on, lists them, and the key can no longer seal."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from signing import read_seal_facts
from tests.distinct import distinct
from tests.e2e.conftest import Deployment, example, make_deployment

pytestmark = pytest.mark.e2e


def _issue(dep: Deployment, tmp: Path, n: int, data: Path) -> tuple[str, Path]:
    # Another permit each time (one active permit per licence number).
    fresh = tmp / f"permit-{n}.json"
    fresh.write_text(json.dumps(distinct("road-transport-permit", json.loads(data.read_text()))))
    data = fresh
    out = tmp / f"permit-{n}.pdf"
    proc = dep.issue_permit(data, out)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["id"], out


def test_seal_revoke_since_revokes_the_window_in_one_transaction(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path / "home")
    catalogue = json.loads(dep.cli("types", "--json", check=True).stdout)
    data = tmp_path / "permit.json"
    data.write_text(json.dumps(example(catalogue, "road-transport-permit")), "utf-8")
    issued = [_issue(dep, tmp_path, n, data) for n in range(3)]
    times = [read_seal_facts(pdf.read_bytes()).signed_at for _, pdf in issued]
    assert all(t is not None for t in times)
    # The compromise started between the first and the second seal.
    since = times[1] - timedelta(milliseconds=1)  # type: ignore[operator]

    proc = dep.cli(
        "seal",
        "revoke",
        "--agency",
        "transport",
        "--reason",
        "keyCompromise",
        "--since",
        since.isoformat(),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["certificates_revoked"] == sorted(cid for cid, _ in issued[1:])
    assert result["reason"] == "keyCompromise"
    assert result["ledger"]["block"] >= 0

    statuses = {
        cid: json.loads(dep.cli("status", cid, "--json", check=True).stdout) for cid, _ in issued
    }
    first, *rest = (statuses[cid] for cid, _ in issued)
    assert first["status"] == "active"
    for status in rest:
        assert status["status"] == "revoked"
        assert status["reason"] == "keyCompromise"

    verdicts = [dep.cli("verify", str(pdf), "--json") for _, pdf in issued]
    assert verdicts[0].returncode == 0, verdicts[0].stdout  # sealed before T: still VALID
    assert all(v.returncode == 1 for v in verdicts[1:])  # INVALID

    # The revoked key seals nothing any more.
    refused = dep.issue_permit(data, tmp_path / "late.pdf")
    assert refused.returncode != 0
    assert "is revoked" in refused.stderr
    assert "certledger seal" in refused.stderr  # says what to do


def test_seal_rotate_keeps_old_certificates_valid(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path / "home")
    catalogue = json.loads(dep.cli("types", "--json", check=True).stdout)
    data = tmp_path / "permit.json"
    data.write_text(json.dumps(example(catalogue, "road-transport-permit")), "utf-8")
    _, old_pdf = _issue(dep, tmp_path, 0, data)

    proc = dep.cli("seal", "rotate", "--agency", "transport", "--json")
    assert proc.returncode == 0, proc.stderr
    rotated = json.loads(proc.stdout)
    assert rotated["old"]["fingerprint"] != rotated["new"]["fingerprint"]
    assert rotated["new"]["valid_from"] < rotated["new"]["valid_until"]
    retired = list((dep.home / "pki" / "agencies" / "transport" / "retired").iterdir())
    assert [p.suffix for p in retired] == [".pem"]  # the old certificate; its key is gone

    _, new_pdf = _issue(dep, tmp_path, 1, data)
    old_facts = read_seal_facts(old_pdf.read_bytes())
    new_facts = read_seal_facts(new_pdf.read_bytes())
    assert old_facts.signer_fingerprint == rotated["old"]["fingerprint"]
    assert new_facts.signer_fingerprint == rotated["new"]["fingerprint"]
    for pdf in (old_pdf, new_pdf):
        verdict = dep.cli("verify", str(pdf), "--json")
        assert verdict.returncode == 0, verdict.stdout  # both VALID

    from ledger import EmbeddedLedger
    from signing import load_certificate

    ledger = EmbeddedLedger.open_readonly(
        dep.home / "ledger.db", load_certificate(dep.home / "pki" / "ledger-node.pem")
    )
    try:
        record = next(a for a in ledger.registry() if a.code == "transport")
        assert set(record.seal_fingerprints) == {
            rotated["old"]["fingerprint"],
            rotated["new"]["fingerprint"],
        }
        periods = ledger.seal_key_periods(record.seal_fingerprints)
        assert {p.fingerprint for p in periods} == set(record.seal_fingerprints)
    finally:
        ledger.close()


def test_a_retired_seal_key_can_be_revoked_by_fingerprint(tmp_path: Path) -> None:
    """The old key turns out compromised after a rotation: revoke it by fingerprint; what it
    sealed in the window is revoked, what the new key sealed is untouched."""
    dep = make_deployment(tmp_path / "home")
    catalogue = json.loads(dep.cli("types", "--json", check=True).stdout)
    data = tmp_path / "permit.json"
    data.write_text(json.dumps(example(catalogue, "road-transport-permit")), "utf-8")
    old_id, old_pdf = _issue(dep, tmp_path, 0, data)
    rotated = json.loads(dep.cli("seal", "rotate", "--agency", "transport", "--json").stdout)
    new_id, _ = _issue(dep, tmp_path, 1, data)
    signed_at = read_seal_facts(old_pdf.read_bytes()).signed_at
    assert signed_at is not None
    since = (signed_at - timedelta(seconds=1)).isoformat()

    wrong = dep.cli(
        "seal", "revoke", "--agency", "transport", "--fingerprint", "ab" * 32, "--since", since
    )
    assert wrong.returncode != 0
    assert "no seal certificate with fingerprint" in wrong.stderr
    assert rotated["old"]["fingerprint"] in wrong.stderr  # lists what there is

    proc = dep.cli(
        "seal",
        "revoke",
        "--agency",
        "transport",
        "--fingerprint",
        rotated["old"]["fingerprint"].upper(),
        "--since",
        since,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["seal_fingerprint"] == rotated["old"]["fingerprint"]
    assert result["certificates_revoked"] == [old_id]
    assert json.loads(dep.cli("status", old_id, "--json", check=True).stdout)["status"] == (
        "revoked"
    )
    assert json.loads(dep.cli("status", new_id, "--json", check=True).stdout)["status"] == (
        "active"
    )
    # The current key was not touched: it still seals.
    _issue(dep, tmp_path, 2, data)


def test_a_key_compromise_revocation_is_audited_per_certificate_and_notified(
    tmp_path: Path,
) -> None:
    from certificates.audit import AuditLog
    from certificates.home import Home
    from certificates.notifications.callbacks import ALLOW_ENV, CallbackPolicy
    from certificates.notifications.subscriptions import Subscriptions
    from certificates.sharing.clients import Principal
    from certificates.store import Store
    from certificates.store.cipher import FieldCipher
    from signing import Secret
    from tests.e2e.conftest import PASSPHRASE
    from tests.lookup.test_webhooks import Receiver, wait_for

    dep = make_deployment(tmp_path / "home")
    catalogue = json.loads(dep.cli("types", "--json", check=True).stdout)
    data = tmp_path / "permit.json"
    data.write_text(json.dumps(example(catalogue, "road-transport-permit")), "utf-8")
    receiver = Receiver(fail_first=0)
    store = Store.open(Home(dep.home).database)
    # The deployment's own data key: subscription secrets are stored encrypted with it.
    store.use_cipher(FieldCipher.open_or_create(Home(dep.home).data_key, Secret(PASSPHRASE)))
    audit = AuditLog(store)
    try:
        # The receiver listens on loopback over http: the operator admits it (here for the
        # subscription, below for the command that delivers).
        loopback = CallbackPolicy.from_entries(["127.0.0.1"])
        Subscriptions(store, audit=audit, policy=loopback).add(
            Principal.operator("transport"), receiver.url, ["status.changed"]
        )
        issued = [_issue(dep, tmp_path, n, data)[0] for n in range(2)]
        proc = dep.cli(
            "seal",
            "revoke",
            "--agency",
            "transport",
            "--since",
            "2000-01-01T00:00:00Z",
            "--json",
            extra_env={ALLOW_ENV: "127.0.0.1"},
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["certificates_revoked"] == sorted(issued)
        for cert_id in issued:
            revokes = [
                e.event
                for e in audit.entries(cert_id=cert_id)
                if e.event.action == "revoke" and e.event.result == "ok"
            ]
            assert [e.reason for e in revokes] == ["keyCompromise"]
        seal_entries = [e.event for e in audit.entries() if e.event.action == "seal-revoke"]
        assert len(seal_entries) == 1 and seal_entries[0].agency == "transport"

        def notified() -> set[str]:
            bodies = [json.loads(body) for _h, body in receiver.delivered()]
            return {b["cert_id"] for b in bodies if b["status"] == "revoked"}

        # Delivered by the command itself before it exited.
        wait_for(lambda: notified() == set(issued), timeout=2)
    finally:
        audit.close()
        store.close()
        receiver.close()
