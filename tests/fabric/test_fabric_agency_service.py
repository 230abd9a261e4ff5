"""`certledger serve` for one agency on Fabric: its own peer, its own identity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Deployment, Server, example

from .conftest import FabricNet, agency_server


@pytest.fixture(scope="module")
def transport_server(fabric_deployment: Deployment, fabric_net: FabricNet) -> Iterator[Server]:
    with agency_server(fabric_deployment, fabric_net.env("transport")) as srv:
        yield srv


def test_agency_service_issues_and_verifies_on_its_own_peer(
    transport_server: Server, fabric_net: FabricNet, catalogue: list[dict[str, Any]]
) -> None:
    dep = transport_server.deployment
    with transport_server.client() as c:
        r = c.post(
            "/api/v1/certificates",
            headers=dep.auth("transport"),
            json={
                "type": "road-transport-permit",
                "data": example(catalogue, "road-transport-permit"),
            },
        )
        assert r.status_code == 201, r.text
        issued = r.json()
        assert issued["status"] == "active"
        assert issued["ledger"]["backend"] == "fabric"
        pdf = c.get(issued["pdf_url"], headers=dep.auth("transport")).content
        report = c.post(
            "/api/v1/verify", files={"file": ("permit.pdf", pdf, "application/pdf")}
        ).json()
    assert report["verdict"] == "VALID", report
    with fabric_net.ledger("market-regulation") as other:
        record = other.get(issued["id"])
    assert record is not None and record.agency == "transport"
    assert record.anchored_tx == issued["ledger"]["tx_id"]
