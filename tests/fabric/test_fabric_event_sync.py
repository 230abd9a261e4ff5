"""Local state kept in step from chaincode events, on the real network (issue 13, item 5).

Two service instances of one deployment on their own peers (as two hosts would be): the
package's server (every identity, reading through market-regulation's peer) issues and
revokes; a second ``certledger serve`` acting for transport on transport's peer, and
in-process runtimes acting for human-resources, must see each revocation at once, through
the events of their own peer, and resume from their checkpoint after a broken stream or a
restart.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from certificates.caching import TTLCache
from certificates.home import Home
from certificates.store.database import Store
from certificates.store.ledger_sync import load_checkpoint
from ledger import LedgerRefused, superseded_reason
from ledger.interface import EventCheckpoint
from tests.e2e.conftest import (
    Deployment,
    Server,
    example,
    free_port,
    start_server,
    stop_server,
)
from tests.fabric.conftest import FabricNet, probe_entry, wait_until_anchoring_works
from verify_api.runtime import Runtime, open_runtime
from verify_api.settings import ServiceSettings

ISSUER = "market-regulation"


def issue(server: Server, catalogue: list[dict[str, Any]]) -> dict[str, Any]:
    with server.client() as c:
        r = c.post(
            "/api/v1/certificates",
            headers=server.deployment.auth(ISSUER),
            json={"type": "business-licence", "data": example(catalogue, "business-licence")},
        )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == "active", body  # anchored, not pending
    return body


def revoke(server: Server, cert_id: str, reason: str = "licence withdrawn") -> None:
    with server.client() as c:
        r = c.post(
            f"/api/v1/certificates/{cert_id}/revoke",
            headers=server.deployment.auth(ISSUER),
            json={"reason": reason},
        )
    assert r.status_code == 200, r.text


def runtime_for(net: FabricNet, dep: Deployment, agency: str) -> Runtime:
    """An instance acting for ``agency`` on its own peer, as a server would open it."""
    config = ServiceSettings(
        ledger_backend="fabric", fabric_profile=str(net.profile), agency=agency
    )
    rt = open_runtime(Home(dep.home), passphrase=None, config=config)
    assert rt.sync is not None, "a Fabric runtime must follow its peer's events"
    # Status answers kept for an hour: only an event can make a cached answer change now.
    rt.public.status_cache = TTLCache(1024, 3600.0)
    return rt


def status_of(rt: Runtime, cert_id: str) -> str:
    raw = rt.public.status_json(cert_id)
    assert raw is not None
    return str(json.loads(raw)["status"])


def applied_places(rt: Runtime) -> list[tuple[int, int]]:
    assert rt.sync is not None
    return [(b, i) for b, i, _name, _ids in rt.sync.recent]


def wait_revoked(rt: Runtime, cert_id: str, timeout: float) -> float:
    """Seconds until ``rt``'s (hour-long) cached status of ``cert_id`` reads revoked."""
    start = time.monotonic()
    while status_of(rt, cert_id) != "revoked":
        assert time.monotonic() - start < timeout, f"{cert_id} not revoked after {timeout} s"
        time.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture
def follower(fabric_net: FabricNet, fabric_deployment: Deployment) -> Iterator[Runtime]:
    rt = runtime_for(fabric_net, fabric_deployment, "human-resources")
    rt.follow_ledger()
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture(scope="module")
def other_instance(fabric_net: FabricNet, fabric_deployment: Deployment) -> Iterator[Server]:
    """``certledger serve`` for transport, on transport's peer, on a port of its own."""
    dep = dataclasses.replace(fabric_deployment, base_url=f"http://127.0.0.1:{free_port()}")
    srv = start_server(dep, fabric_net.env("transport"))
    try:
        yield srv
    finally:
        stop_server(srv)


def test_revocation_through_one_instance_shows_at_the_other_within_a_second(
    fabric_server: Server,
    other_instance: Server,
    follower: Runtime,
    catalogue: list[dict[str, Any]],
    fabric_deployment: Deployment,
    fabric_net: FabricNet,
) -> None:
    certs = [issue(fabric_server, catalogue) for _ in range(5)]
    delays_http: list[float] = []
    delays_cache: list[float] = []
    with other_instance.client() as c:
        for cert in certs:
            cid = cert["id"]
            # Both instances have the answer cached as active before the revocation.
            assert c.get(f"/api/v1/certificates/{cid}").json()["status"] == "active"
            assert status_of(follower, cid) == "active"
            start = time.monotonic()
            revoke(fabric_server, cid)
            done = time.monotonic()
            while c.get(f"/api/v1/certificates/{cid}").json()["status"] != "revoked":
                assert time.monotonic() - done < 5.0, f"{cid}: not revoked at the other instance"
                time.sleep(0.01)
            delays_http.append(time.monotonic() - done)
            delays_cache.append(done - start + wait_revoked(follower, cid, 5.0))
            page = c.get(
                cert["verify_url"].replace(fabric_deployment.base_url, other_instance.url)
                + "&lang=en"
            )
            assert page.status_code == 200
            assert "INVALID" in page.text or "Invalid" in page.text, page.text[:2000]
    print(f"\nrevocation -> other instance's status: {[round(d, 3) for d in delays_http]} s")
    print(
        f"revocation -> event-dropped cache (incl. commit): {[round(d, 3) for d in delays_cache]}"
    )
    assert statistics.median(delays_http) <= 1.0 and max(delays_http) <= 5.0
    assert statistics.median(delays_cache) <= 1.0 and max(delays_cache) <= 5.0
    # The other instance applied the revocations' events: its checkpoint (its own peer's
    # events) reached the block of the last one.
    with fabric_net.ledger("transport") as ledger:
        last_block = ledger.history(certs[-1]["id"])[-1].block_number
    deadline = time.monotonic() + 5
    while True:
        db = sqlite3.connect(fabric_deployment.home / "certificates.db", timeout=30)
        try:
            row = db.execute(
                "SELECT block FROM ledger_sync_checkpoints WHERE name = 'fabric:transport'"
            ).fetchone()
        finally:
            db.close()
        if row is not None and row[0] >= last_block:
            break
        assert time.monotonic() < deadline, f"transport's checkpoint {row} < block {last_block}"
        time.sleep(0.05)


def test_broken_stream_resumes_from_its_checkpoint_without_gap_or_double(
    fabric_server: Server,
    fabric_net: FabricNet,
    follower: Runtime,
    catalogue: list[dict[str, Any]],
) -> None:
    sync = follower.sync
    assert sync is not None
    certs = [issue(fabric_server, catalogue)["id"] for _ in range(4)]
    for cid in certs:
        assert status_of(follower, cid) == "active"
    assert sync.wait_for(lambda: sync.connections >= 1, 30)
    # 1. The connection drops (cancelled under the follower) between two revocations.
    revoke(fabric_server, certs[0])
    wait_revoked(follower, certs[0], 10)
    before = sync.connections
    sync.break_stream()
    revoke(fabric_server, certs[1])
    wait_revoked(follower, certs[1], 15)
    assert sync.connections > before
    # 2. The follower's own peer restarts; revocations meanwhile are endorsed by the others.
    fabric_net.stop(fabric_net.peer("human-resources"))
    try:
        revoke(fabric_server, certs[2])
        revoke(fabric_server, certs[3])
    finally:
        fabric_net.start(fabric_net.peer("human-resources"))
    wait_until_anchoring_works(fabric_net)  # the tests after this one find a whole network
    for cid in certs[2:]:
        wait_revoked(follower, cid, 90)
    places = applied_places(follower)
    assert len(places) == len(set(places)), "an event was applied twice"
    assert places == sorted(places), "events were applied out of ledger order"
    names = [(name, ids) for _b, _i, name, ids in sync.recent]
    for cid in certs:
        assert names.count(("revoked", (cid,))) == 1, f"{cid}: revoked event not applied once"


def test_restart_resumes_from_the_checkpoint(
    fabric_server: Server,
    fabric_net: FabricNet,
    fabric_deployment: Deployment,
    catalogue: list[dict[str, Any]],
) -> None:
    first = runtime_for(fabric_net, fabric_deployment, "human-resources")
    first.follow_ledger()
    cid = issue(fabric_server, catalogue)["id"]
    sync1 = first.sync
    assert sync1 is not None
    assert sync1.wait_for(lambda: any(cid in e[3] for e in sync1.recent), 30)
    first.close()
    store = Store.open(Home(fabric_deployment.home).database)
    try:
        saved = load_checkpoint(store, "fabric:human-resources")
    finally:
        store.close()
    assert saved is not None and saved > EventCheckpoint(0, 0)
    revoke(fabric_server, cid)  # while no instance of human-resources runs
    second = runtime_for(fabric_net, fabric_deployment, "human-resources")
    try:
        assert status_of(second, cid) == "revoked"  # read live: nothing cached yet
        second.follow_ledger()
        assert second.sync is not None
        sync = second.sync
        assert sync.wait_for(
            lambda: any(e[2] == "revoked" and cid in e[3] for e in sync.recent), 30
        )
        places = applied_places(second)
        # Nothing from before the checkpoint came again: no replay from block 0.
        assert all(EventCheckpoint(b, i) > saved for b, i in places), (saved, places[:3])
        assert len(places) == len(set(places))
    finally:
        second.close()


def test_a_reissue_on_fabric_supersedes_and_the_follower_sees_it(
    fabric_server: Server,
    follower: Runtime,
    catalogue: list[dict[str, Any]],
    fabric_net: FabricNet,
) -> None:
    """The contract's uniqueness rule on the real network: a second licence for one credit
    code is refused; a re-issue is the next version, and the superseded one is revoked by the
    same transaction, which the follower applies from its peer's anchored event."""
    data = example(catalogue, "business-licence")
    auth = fabric_server.deployment.auth(ISSUER)
    with fabric_server.client() as c:
        first = c.post(
            "/api/v1/certificates", headers=auth, json={"type": "business-licence", "data": data}
        )
        assert first.status_code == 201, first.text
        old = first.json()["id"]
        assert status_of(follower, old) == "active"
        again = c.post(
            "/api/v1/certificates", headers=auth, json={"type": "business-licence", "data": data}
        )
        assert again.status_code == 409, again.text
        assert again.json()["detail"]["code"] == "ALREADY_ISSUED"
        assert again.json()["detail"]["existing_id"] == old
        r = c.post(
            f"/api/v1/certificates/{old}/reissue",
            headers=auth,
            json={"data": {**data, "address": "更正后的住所"}},
        )
        assert r.status_code == 201, r.text
        new = r.json()
        assert new["supersedes"] == old and new["status"] == "active"
    delay = wait_revoked(follower, old, timeout=5.0)
    assert delay < 1.0, f"the follower saw the supersession after {delay:.2f} s"
    assert status_of(follower, new["id"]) == "active"
    with fabric_net.ledger(ISSUER) as ledger:
        record = ledger.get(old)
        assert record is not None and record.reason == superseded_reason(new["id"])
        assert [h.status for h in ledger.history(old)] == ["active", "revoked"]
        # The contract refuses a second active licence on its own (no store in the way).
        with sqlite3.connect(fabric_server.deployment.home / "certificates.db") as db:
            (digest,) = db.execute(
                "SELECT unique_digest FROM certificates WHERE id = ?", (new["id"],)
            ).fetchone()
        duplicate = dataclasses.replace(probe_entry(), unique_key=digest)
        with pytest.raises(LedgerRefused) as refused:
            ledger.anchor(ISSUER, [duplicate])
        assert refused.value.code == "ALREADY_ISSUED" and new["id"] in refused.value.message
