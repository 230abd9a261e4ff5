"""Two API hosts of one agency on one PostgreSQL store: two `certledger serve` processes on
their own ports (standing in for two machines with the same deployment files) share the
certificates, the audit chain and the rate limits."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import (
    Deployment,
    Server,
    example,
    free_port,
    make_deployment,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.e2e

CLIENT_BURST = 12  # what the limit test's client may spend; the issuing client spends fewer


@pytest.fixture(scope="module")
def hosts(
    postgres_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    url = postgres_server.create_database("two_hosts")
    dep = make_deployment(
        tmp_path_factory.mktemp("two-hosts") / "home", extra_env={"CERTLEDGER_DATABASE_URL": url}
    )
    # The second host: the same deployment, another port (its QR codes keep the shared base
    # URL, as behind a load balancer).
    other = dataclasses.replace(dep, base_url=f"http://127.0.0.1:{free_port()}")
    limits = {"CERTLEDGER_RATE_CLIENT": f"0.001/{CLIENT_BURST}"}  # no refill during the test
    first = start_server(dep, limits)
    try:
        second = start_server(other, limits)
    except BaseException:
        stop_server(first)
        raise
    try:
        yield first, second
    finally:
        stop_server(second)
        stop_server(first)


def _catalogue(dep: Deployment) -> list[dict[str, Any]]:
    return list(json.loads(dep.cli("types", "--json", check=True).stdout))


def _verdict(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text
    marker = 'data-verdict="'
    at = page.text.index(marker) + len(marker)
    return page.text[at : page.text.index('"', at)]


def test_issue_on_one_verify_and_revoke_on_the_other(hosts: tuple[Server, Server]) -> None:
    a, b = hosts
    dep = a.deployment
    auth = dep.auth("market-regulation")
    data = example(_catalogue(dep), "business-licence")
    with a.client() as ca, b.client() as cb:
        r = ca.post(
            "/api/v1/certificates", headers=auth, json={"type": "business-licence", "data": data}
        )
        assert r.status_code == 201, r.text
        issued = r.json()
        cid = issued["id"]
        # Host B has the certificate A issued: its record, its PDF, and a VALID upload report.
        assert cb.get(f"/api/v1/certificates/{cid}").json()["status"] == "active"
        pdf = cb.get(f"/api/v1/certificates/{cid}/pdf", headers=auth)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        report = cb.post(
            "/api/v1/verify", files={"file": ("c.pdf", pdf.content, "application/pdf")}
        ).json()
        assert report["verdict"] == "VALID", report
        # Both hosts' QR pages say VALID (the page is cached at most a second).
        qr = issued["verify_url"].split(dep.base_url, 1)[1]
        assert _verdict(ca.get(qr)) == "VALID"
        assert _verdict(cb.get(qr)) == "VALID"
        # Revoked on B: A's QR page and status say so within a second.
        rv = cb.post(
            f"/api/v1/certificates/{cid}/revoke", headers=auth, json={"reason": "licence withdrawn"}
        )
        assert rv.status_code == 200, rv.text
        revoked_at = time.monotonic()
        while _verdict(ca.get(qr)) != "INVALID":
            assert time.monotonic() - revoked_at < 1.5, "host A still shows VALID"
            time.sleep(0.05)
        assert ca.get(f"/api/v1/certificates/{cid}").json()["status"] == "revoked"
        # The same refusal from either host: it is one register.
        again = ca.post(
            f"/api/v1/certificates/{cid}/revoke", headers=auth, json={"reason": "twice"}
        )
        assert again.status_code == 409
    # One audit chain, written by both hosts, verifies, and holds both hosts' entries.
    audit = dep.cli("audit", "verify", "--json")
    assert audit.returncode == 0, audit.stderr
    assert json.loads(audit.stdout)["ok"] is True
    shown = json.loads(dep.cli("audit", "show", "--certificate", cid, "--json", check=True).stdout)
    actions = [e["action"] for e in shown["entries"]]
    assert "issue" in actions and "revoke" in actions


def test_a_client_limit_holds_across_both_hosts(hosts: tuple[Server, Server]) -> None:
    dep = hosts[0].deployment
    auth = dep.auth("transport")  # a client this module spends nothing else of
    statuses: list[int] = []
    for i in range(3 * CLIENT_BURST):
        with hosts[i % 2].client() as c:
            statuses.append(c.get("/api/v1/agreements", headers=auth).status_code)
    assert statuses.count(200) == CLIENT_BURST, statuses
    assert statuses.count(429) == 2 * CLIENT_BURST, statuses


def test_the_store_is_the_shared_database(hosts: tuple[Server, Server], tmp_path: Path) -> None:
    # Nothing of the register is kept in the home: both hosts read and write PostgreSQL.
    home = hosts[0].deployment.home
    assert not list(home.rglob("certificates.db")), "a SQLite store beside the PostgreSQL one"
