"""`add-agency` against a real running network: a fourth agency joins a running three-agency
network, issues certificates through the issuance service on its own peer, and the other
three read them on their own peers; its peer lost mid-join, a re-run finishes the join.

The network here is its own (three agencies: two of the deployment's and a verifying-only
one), so the fourth org it gains does not change the shared network other tests count on.
The fourth agency is the deployment's transport bureau, which has seals and types, so the
real issuance service can act for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import network
from ledger import AgencyRecord
from network import _addorg
from network._network import _run as network_run
from tests.e2e.conftest import Deployment, Server, example

from .conftest import FabricNet, agency_server, eventually

OBSERVER = AgencyRecord("audit-office", "AuditOfficeMSP", "审计局", "Audit Office", (), ())
FOUNDERS = ("market-regulation", "human-resources")
NEWCOMER = "transport"


@pytest.fixture(scope="module")
def three_net(
    tmp_path_factory: pytest.TempPathFactory, registry: list[AgencyRecord]
) -> Iterator[FabricNet]:
    root = tmp_path_factory.mktemp("fabric-add") / "net"
    base = [r for r in registry if r.code in FOUNDERS] + [OBSERVER]
    try:
        profile = network.up(root, base)
    except network.NetworkError as exc:
        network.down(root)
        pytest.fail(f"the Fabric network could not be built or started: {exc}", pytrace=False)
    try:
        yield FabricNet(root, network.Layout(root), profile)
    finally:
        network.down(root)


def _transport(registry: list[AgencyRecord]) -> AgencyRecord:
    return next(r for r in registry if r.code == NEWCOMER)


def test_peer_lost_mid_join_then_rerun_finishes(
    three_net: FabricNet, registry: list[AgencyRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = three_net.layout
    before = _addorg.fetch_config(layout, layout.load().agencies[0], network.ensure_fabric())
    assert "TransportMSP" not in before.channel_group.groups["Application"].groups

    real_run = network_run
    killed: list[bool] = []

    def run(argv: list[str], env: dict[str, str], what: str) -> str:
        if "join" in argv and not killed:
            # The peer goes down while it joins the channel.
            killed.append(True)
            threading.Timer(
                0.05, network.kill_node, (layout, "peer0.transport"), {"hard": True}
            ).start()
        return real_run(argv, env, what)

    monkeypatch.setattr(_addorg, "_run", run)
    monkeypatch.setattr(_addorg, "_retry", lambda fn, what, timeout=60.0: fn())
    with pytest.raises(network.NetworkError):
        network.add_agency(three_net.root, _transport(registry))
    assert killed
    monkeypatch.undo()

    # The channel update was made once, and the registry has no entry yet.
    after_fail = _addorg.fetch_config(layout, layout.load().agencies[0], network.ensure_fabric())
    assert "TransportMSP" in after_fail.channel_group.groups["Application"].groups
    with three_net.ledger("market-regulation") as mr:
        assert NEWCOMER not in [a.code for a in mr.registry()]

    network.add_agency(three_net.root, _transport(registry))  # the re-run finishes

    done = _addorg.fetch_config(layout, layout.load().agencies[0], network.ensure_fabric())
    assert done.sequence == after_fail.sequence  # no second channel update
    assert sorted(done.channel_group.groups["Application"].groups) == [
        "AuditOfficeMSP",
        "HumanResourcesMSP",
        "MarketRegulationMSP",
        "TransportMSP",
    ]
    with three_net.ledger("human-resources") as hr:
        codes = [a.code for a in hr.registry()]
        assert codes[-1] == NEWCOMER and codes.count(NEWCOMER) == 1
        proposals = [p for p in hr.registry_proposals() if p.change.agency == NEWCOMER]
        assert len(proposals) == 1 and proposals[0].status.value == "applied"

    # A third run finds every step done and changes nothing.
    network.add_agency(three_net.root, _transport(registry))
    again = _addorg.fetch_config(layout, layout.load().agencies[0], network.ensure_fabric())
    assert again.sequence == done.sequence


@pytest.fixture(scope="module")
def transport_server(
    fabric_deployment: Deployment, three_net: FabricNet, registry: list[AgencyRecord]
) -> Iterator[Server]:
    if NEWCOMER not in [o.code for o in three_net.layout.load().agencies]:
        network.add_agency(three_net.root, _transport(registry))
    with agency_server(fabric_deployment, three_net.env(NEWCOMER)) as srv:
        yield srv


def test_fourth_agency_issues_and_the_other_three_read_it_on_their_peers(
    transport_server: Server, three_net: FabricNet, catalogue: list[dict[str, Any]]
) -> None:
    dep = transport_server.deployment
    with transport_server.client() as c:
        r = c.post(
            "/api/v1/certificates",
            headers=dep.auth(NEWCOMER),
            json={
                "type": "road-transport-permit",
                "data": example(catalogue, "road-transport-permit"),
            },
        )
        assert r.status_code == 201, r.text
        issued = r.json()
        assert issued["ledger"]["backend"] == "fabric"
        pdf = c.get(issued["pdf_url"], headers=dep.auth(NEWCOMER)).content
        report = c.post(
            "/api/v1/verify", files={"file": ("permit.pdf", pdf, "application/pdf")}
        ).json()
    assert report["verdict"] == "VALID", report
    for code in (*FOUNDERS, OBSERVER.code):
        with three_net.ledger(code) as own_peer:

            def read(led: Any = own_peer) -> None:
                record = led.get(issued["id"])
                assert record is not None and record.agency == NEWCOMER
                assert record.anchored_tx == issued["ledger"]["tx_id"]

            eventually(read, what=f"the new agency's certificate on {code}'s peer")
