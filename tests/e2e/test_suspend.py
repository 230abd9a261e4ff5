"""Suspension and reinstatement, over HTTP against a real server and from the CLI: the status
changes on the ledger, verification follows it, subscribers hear of it, every change is
audited, and the transitions the ledger refuses are refused with a reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Server

pytestmark = pytest.mark.e2e

MR = "market-regulation"


def _verify(server: Server, pdf: bytes) -> dict[str, Any]:
    with server.client() as c:
        r = c.post("/api/v1/verify", files={"file": ("c.pdf", pdf, "application/pdf")})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _not_revoked(report: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["code"] == "NOT_REVOKED")


def _change(server: Server, cert_id: str, action: str, reason: str, agency: str = MR) -> Any:
    with server.client() as c:
        return c.post(
            f"/api/v1/certificates/{cert_id}/{action}",
            headers=server.deployment.auth(agency),
            json={"reason": reason},
        )


def test_a_suspended_certificate_is_invalid_until_reinstated(
    server: Server, issued: dict[str, Any]
) -> None:
    cid = issued["id"]
    r = _change(server, cid, "suspend", "年检未通过 annual inspection failed")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "id": cid,
        "status": "suspended",
        "reason": "年检未通过 annual inspection failed",
    }
    with server.client() as c:
        status = c.get(f"/api/v1/certificates/{cid}").json()
    assert status["status"] == "suspended"
    assert status["status_reason"] == "年检未通过 annual inspection failed"
    report = _verify(server, issued["pdf"])
    assert report["verdict"] == "INVALID" and report["certificate"]["status"] == "suspended"
    assert _not_revoked(report)["verdict"] == "FAILED"
    assert "annual inspection failed" in _not_revoked(report)["message"]["en"]
    # Suspended twice: the ledger refuses the transition, with the reason.
    again = _change(server, cid, "suspend", "twice")
    assert again.status_code == 409 and "suspended" in again.json()["detail"]["message"]["en"]

    r = _change(server, cid, "reinstate", "inspection passed")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    report = _verify(server, issued["pdf"])
    assert report["verdict"] == "VALID", report
    assert _not_revoked(report)["verdict"] == "PASSED"
    # An active certificate cannot be reinstated; a revoked one never comes back.
    assert _change(server, cid, "reinstate", "again").status_code == 409
    assert _change(server, cid, "revoke", "closed").status_code == 200
    for action in ("suspend", "reinstate"):
        refused = _change(server, cid, action, "after revocation")
        assert refused.status_code == 409, (action, refused.text)
        assert "final" in refused.json()["detail"]["message"]["en"]
    assert _verify(server, issued["pdf"])["certificate"]["status"] == "revoked"


def test_only_the_issuing_agency_may_suspend_or_reinstate(
    server: Server, issued: dict[str, Any]
) -> None:
    cid = issued["id"]
    for action in ("suspend", "reinstate"):
        r = _change(server, cid, action, "not mine", agency="transport")
        assert r.status_code == 403, r.text
        detail = r.json()["detail"]
        assert detail["code"] == "NOT_ISSUER"
        assert action in detail["message"]["en"] and detail["message"]["zh"]
    with server.client() as c:
        assert c.get(f"/api/v1/certificates/{cid}").json()["status"] == "active"
        made_up = cid[:-12] + "99999999-01-0"
        for action in ("suspend", "reinstate"):
            r = c.post(
                f"/api/v1/certificates/{made_up}/{action}",
                headers=server.deployment.auth(MR),
                json={"reason": "x"},
            )
            assert r.status_code == 404, r.text
            r = c.post(
                f"/api/v1/certificates/{cid}/{action}",
                headers=server.deployment.auth(MR),
                json={"reason": ""},
            )
            assert r.status_code == 422, r.text
            r = c.post(f"/api/v1/certificates/{cid}/{action}", json={"reason": "anonymous"})
            assert r.status_code == 401, r.text


def test_status_changes_are_audited(server: Server, issued: dict[str, Any]) -> None:
    cid = issued["id"]
    assert _change(server, cid, "suspend", "audit check").status_code == 200
    assert _change(server, cid, "reinstate", "audit check over").status_code == 200
    assert _change(server, cid, "suspend", "not mine", agency="transport").status_code == 403
    assert _change(server, cid, "reinstate", "while active").status_code == 409
    shown = server.deployment.cli("audit", "show", "--certificate", cid, "--json", check=True)
    rows = json.loads(shown.stdout)["entries"]
    entries = [(e["action"], e["result"], e["reason"]) for e in rows]
    assert ("suspend", "ok", "audit check") in entries
    assert ("reinstate", "ok", "audit check over") in entries
    assert ("suspend", "denied", "NOT_ISSUER") in entries
    assert ("reinstate", "denied", "LEDGER_REFUSED") in entries


def test_cli_suspend_and_reinstate(server: Server, issued: dict[str, Any]) -> None:
    dep = server.deployment
    cid = issued["id"]
    out = dep.cli("suspend", cid, "--reason", "from the counter", check=True)
    assert f"已暂停 {cid}" in out.stdout  # Chinese by default, as the pages
    with server.client() as c:
        # The server's status cache may hold the old answer for up to a second.
        status = c.get(f"/api/v1/certificates/{cid}").json()
    assert status["status"] in ("active", "suspended")
    assert _verify(server, issued["pdf"])["certificate"]["status"] == "suspended"
    again = dep.cli("suspend", cid, "--reason", "twice")
    assert again.returncode != 0 and "只有正常的证照可以暂停" in again.stderr
    assert "Traceback" not in again.stderr
    again_en = dep.cli("suspend", cid, "--reason", "twice", "--lang", "en")
    assert again_en.returncode != 0 and "suspended" in again_en.stderr
    assert "INVALID_TRANSITION" not in again.stderr + again_en.stderr
    out = dep.cli("reinstate", cid, "--reason", "sorted out", "--lang", "en", check=True)
    assert f"reinstated {cid}" in out.stdout
    assert _verify(server, issued["pdf"])["verdict"] == "VALID"
    bad = dep.cli("suspend", "not-an-id", "--reason", "x")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
