"""Cross-agency sharing against the real server and CLI: a counter-staff client added with
`clients add`, an agreement, a lookup, the audit trail anchored and verified, revocation."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .conftest import Server, server_log

pytestmark = pytest.mark.e2e


def test_lookup_under_an_agreement_is_audited(
    server: Server, issued: dict[str, Any], catalogue: list[dict[str, Any]]
) -> None:
    dep = server.deployment
    proc = dep.cli(
        "clients",
        "add",
        "--agency",
        "human-resources",
        "--name",
        "counter 3",
        "--role",
        "verifier",
        "--json",
        check=True,
    )
    client = json.loads(proc.stdout)
    verifier = {"Authorization": f"Bearer {client['token']}"}
    holder = issued["data"]["credit_code"]
    until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    with server.client() as c:
        r = c.post(
            "/api/v1/lookup",
            json={"type": "business-licence", "holder": holder, "purpose": "hiring"},
            headers=verifier,
        )
        assert r.status_code == 403 and r.json()["detail"]["code"] == "NO_AGREEMENT"
        r = c.post(
            "/api/v1/agreements",
            json={
                "grantee": "human-resources",
                "types": ["business-licence"],
                "purposes": ["hiring"],
                "fields": ["name"],
                "valid_until": until,
            },
            headers=dep.auth("market-regulation"),
        )
        assert r.status_code == 201, r.text
        time.sleep(1.1)  # agreements are cached for at most a second
        r = c.post(
            "/api/v1/lookup",
            json={"type": "business-licence", "holder": holder, "purpose": "hiring"},
            headers=verifier,
        )
        assert r.status_code == 200, r.text
        found = {x["id"]: x for x in r.json()["certificates"]}
        assert set(found[issued["id"]]["fields"]) == {"name"}

    dep.cli("audit", "anchor", check=True)
    proc = dep.cli("audit", "verify", "--json", check=True)
    assert json.loads(proc.stdout)["ok"] is True
    assert json.loads(proc.stdout)["anchored_seq"] >= 1
    proc = dep.cli("audit", "show", "--certificate", issued["id"], "--json", check=True)
    entries = json.loads(proc.stdout)["entries"]
    looked = [e for e in entries if e["action"] == "lookup" and e["result"] == "allowed"]
    assert looked and looked[-1]["client_name"] == "counter 3"
    assert looked[-1]["purpose"] == "hiring" and looked[-1]["fields"] == ["name"]

    dep.cli("clients", "revoke", client["id"], check=True)
    time.sleep(1.1)
    with server.client() as c:
        r = c.get("/api/v1/agreements", headers=verifier)
        assert r.status_code == 401

    log = server_log(dep, int(dep.base_url.rsplit(":", 1)[1]))
    assert holder not in log and client["token"] not in log
