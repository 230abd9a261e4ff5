"""Every edge runs the same workflow: a status change made with the command line is audited
and reaches webhook subscribers exactly as one made over HTTP; client and subscription changes
are audited; a verifier cannot silence the issuer's subscriptions."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from certificates.notifications.callbacks import ALLOW_ENV
from certificates.notifications.dispatcher import WebhookDispatcher
from certificates.notifications.subscriptions import Subscriptions
from certificates.types import CERTIFICATE_TYPES
from tests.certificates.test_types import make_uscc
from tests.distinct import distinct
from verify_api.app import create_app
from verify_api.cli.main import app as cli_app

from .conftest import NO_LIMITS, PASSPHRASE, SECRETS, TestClient, World
from .test_webhooks import LOOPBACK, Receiver, wait_for

AFTER = {"revoke": "revoked", "suspend": "suspended", "reinstate": "active"}
REASON = "edge agreement test"


@pytest.fixture(scope="module")
def hooked(world: World) -> Iterator[tuple[TestClient, Receiver]]:
    """The HTTP app with its own delivery thread, and a receiver subscribed by transport's
    issuer to every status change of its certificates."""
    receiver = Receiver(fail_first=0)
    # The receiver listens on loopback over http: the operator admits it.
    subs = Subscriptions(world.rt.store, audit=world.rt.audit, policy=LOOPBACK)
    app = create_app(
        world.rt,
        background_anchoring=False,
        limits=NO_LIMITS,
        webhooks=WebhookDispatcher(subs, backoff=0.05),
    )
    with TestClient(app) as client:
        r = client.post(
            "/api/v1/subscriptions",
            json={"url": receiver.url, "events": ["status.changed"]},
            headers=world.auth("transport", "issuer"),
        )
        assert r.status_code == 201, r.text
        SECRETS.append(r.json()["secret"])
        try:
            yield client, receiver
        finally:
            client.post(
                f"/api/v1/subscriptions/{r.json()['id']}/revoke",
                headers=world.auth("transport", "issuer"),
            )
            receiver.close()


def _cli(world: World, *args: str) -> Any:
    env = {
        "CERTLEDGER_HOME": str(world.home.root),
        "CERTLEDGER_PASSPHRASE": PASSPHRASE,
        ALLOW_ENV: "127.0.0.1",
    }
    return CliRunner().invoke(cli_app, list(args), env=env)


def fresh_permit_data() -> dict[str, Any]:
    """The example permit for another operator: its own holder, so that lookups by the
    shared world's holders still find exactly their own certificates."""
    data = distinct("road-transport-permit", CERTIFICATE_TYPES["road-transport-permit"].example)
    data["credit_code"] = make_uscc(random.Random())
    return data


def _new_permit(client: TestClient, world: World) -> str:
    data = fresh_permit_data()
    r = client.post(
        "/api/v1/certificates",
        json={"type": "road-transport-permit", "data": data},
        headers=world.auth("transport", "issuer"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _notified(receiver: Receiver, cert_id: str, status: str) -> list[dict[str, Any]]:
    bodies = [json.loads(body) for _headers, body in receiver.delivered()]
    return [
        b
        for b in bodies
        if b["event"] == "status.changed" and b["cert_id"] == cert_id and b["status"] == status
    ]


@pytest.mark.parametrize("change", ["revoke", "suspend", "reinstate"])
@pytest.mark.parametrize("edge", ["http", "cli"])
def test_a_status_change_is_audited_and_notified_whichever_edge_made_it(
    world: World, hooked: tuple[TestClient, Receiver], edge: str, change: str
) -> None:
    client, receiver = hooked
    cert_id = _new_permit(client, world)
    if change == "reinstate":
        r = client.post(
            f"/api/v1/certificates/{cert_id}/suspend",
            json={"reason": "to be reinstated"},
            headers=world.auth("transport", "issuer"),
        )
        assert r.status_code == 200, r.text
    if edge == "http":
        r = client.post(
            f"/api/v1/certificates/{cert_id}/{change}",
            json={"reason": REASON},
            headers=world.auth("transport", "issuer"),
        )
        assert r.status_code == 200, r.text
    else:
        # The command delivers what it queued before it exits: nothing else delivers it
        # (the server's dispatcher only holds what the server emitted).
        # A final revocation is confirmed: --yes, as a script must (stdin is no terminal).
        confirm = ["--yes"] if change == "revoke" else []
        result = _cli(world, change, cert_id, "--reason", REASON, *confirm)
        assert result.exit_code == 0, result.output
    wait_for(lambda: len(_notified(receiver, cert_id, AFTER[change])) == 1)
    body = _notified(receiver, cert_id, AFTER[change])[0]
    assert body["reason"] == REASON and body["issuer"] == "transport"
    entries = [
        e.event
        for e in world.rt.audit.entries(cert_id=cert_id)
        if e.event.action == change and e.event.reason == REASON
    ]
    assert len(entries) == 1
    assert entries[0].result == "ok" and entries[0].agency == "transport"
    r = client.get(f"/api/v1/certificates/{cert_id}")
    assert r.json()["status"] == AFTER[change]


def test_a_refused_cli_change_is_audited_as_denied(
    world: World, hooked: tuple[TestClient, Receiver]
) -> None:
    client, _receiver = hooked
    cert_id = _new_permit(client, world)
    assert _cli(world, "revoke", cert_id, "--reason", "first", "--yes").exit_code == 0
    again = _cli(world, "revoke", cert_id, "--reason", "second", "--yes")
    assert again.exit_code != 0
    denied = [
        e.event
        for e in world.rt.audit.entries(cert_id=cert_id)
        if e.event.action == "revoke" and e.event.result == "denied"
    ]
    assert [d.reason for d in denied] == ["LEDGER_REFUSED"]


def test_client_changes_are_audited(world: World) -> None:
    added = _cli(world, "clients", "add", "--agency", "transport", "--name", "desk 7",
                 "--role", "verifier", "--json")  # fmt: skip
    assert added.exit_code == 0, added.output
    info = json.loads(added.stdout)
    SECRETS.append(info["token"])
    revoked = _cli(world, "clients", "revoke", info["id"])
    assert revoked.exit_code == 0, revoked.output
    mine = [
        e.event
        for e in world.rt.audit.entries(limit=100_000)
        if e.event.reason and e.event.reason.startswith(info["id"])
    ]
    assert [(e.action, e.result, e.agency) for e in mine] == [
        ("client-add", "ok", "transport"),
        ("client-revoke", "ok", "transport"),
    ]
    assert all(info["token"] not in (e.reason or "") for e in mine)


def test_subscription_changes_are_audited_and_a_verifier_cannot_revoke_the_issuers(
    world: World, hooked: tuple[TestClient, Receiver]
) -> None:
    client, receiver = hooked
    r = client.post(
        "/api/v1/subscriptions",
        json={"url": receiver.url, "events": ["lookup.foreign"]},
        headers=world.auth("transport", "issuer"),
    )
    assert r.status_code == 201, r.text
    SECRETS.append(r.json()["secret"])
    sub_id = r.json()["id"]
    # The counter's verifier client of the same agency may not silence the issuer's alerts.
    r = client.post(
        f"/api/v1/subscriptions/{sub_id}/revoke", headers=world.auth("transport", "verifier")
    )
    assert r.status_code == 403, r.text
    assert r.json()["detail"]["code"] == "NOT_OWNER"
    listed = client.get("/api/v1/subscriptions", headers=world.auth("transport", "issuer"))
    assert next(s for s in listed.json() if s["id"] == sub_id)["revoked_at"] is None
    r = client.post(
        f"/api/v1/subscriptions/{sub_id}/revoke", headers=world.auth("transport", "issuer")
    )
    assert r.status_code == 200, r.text
    trail = [
        (e.event.action, e.event.result, e.event.client_id)
        for e in world.rt.audit.entries(limit=100_000)
        if e.event.reason and e.event.reason.startswith(sub_id)
    ]
    issuer_id = next(
        e.event.client_id
        for e in world.rt.audit.entries(limit=100_000)
        if e.event.action == "subscription-add" and (e.event.reason or "").startswith(sub_id)
    )
    verifier_id = world.client_ids[("transport", "verifier")]
    assert trail == [
        ("subscription-add", "ok", issuer_id),
        ("subscription-revoke", "denied", verifier_id),
        ("subscription-revoke", "ok", issuer_id),
    ]
