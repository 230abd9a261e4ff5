"""Webhooks: a receiver in the test checks the signature, fails once, and gets the retry."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from certificates.notifications.callbacks import CallbackPolicy
from certificates.notifications.dispatcher import WebhookDispatcher
from certificates.notifications.subscriptions import (
    SIGNATURE_HEADER,
    Subscriptions,
    sign_body,
    verify_signature,
)
from certificates.types import CERTIFICATE_TYPES
from tests.distinct import distinct
from verify_api.app import create_app

from .conftest import NO_LIMITS, SECRETS, TestClient, World

# The test receivers listen on 127.0.0.1 over http: an operator's allow-list entry.
LOOPBACK = CallbackPolicy.from_entries(["127.0.0.1"])


class Receiver:
    """An agency's webhook endpoint: answers 500 to the first `fail_first` deliveries."""

    def __init__(self, fail_first: int = 1) -> None:
        self.fail_left = fail_first
        self.calls: list[tuple[int, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = 500 if receiver.fail_left > 0 else 204
                receiver.fail_left -= 1
                receiver.calls.append((status, dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delivered(self) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for s, h, b in self.calls if s < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_signature_round_trip() -> None:
    body = b'{"event":"status.changed"}'
    header = sign_body("whsec_test", body)
    assert verify_signature("whsec_test", header, body)
    assert not verify_signature("whsec_other", header, body)
    assert not verify_signature("whsec_test", header, body + b" ")
    old = sign_body("whsec_test", body, timestamp=int(time.time()) - 3600)
    assert not verify_signature("whsec_test", old, body)  # replay of an old delivery
    assert not verify_signature("whsec_test", "garbage", body)


def test_foreign_lookup_and_status_change_are_delivered_signed_with_retries(
    world: World,
) -> None:
    receiver = Receiver(fail_first=1)
    dispatcher = WebhookDispatcher(
        Subscriptions(world.rt.store, audit=world.rt.audit, policy=LOOPBACK), backoff=0.05
    )
    app = create_app(world.rt, background_anchoring=False, limits=NO_LIMITS, webhooks=dispatcher)
    try:
        with TestClient(app) as c:
            # The issuing agency follows lookups of, and status changes to, its certificates.
            r = c.post(
                "/api/v1/subscriptions",
                json={"url": receiver.url, "events": ["lookup.foreign", "status.changed"]},
                headers=world.auth("transport", "issuer"),
            )
            assert r.status_code == 201, r.text
            issuer_secret = r.json()["secret"]
            issuer_sub = r.json()["id"]
            SECRETS.append(issuer_secret)
            # A fresh permit, shared with human-resources, which looks it up.
            data = distinct(
                "road-transport-permit", CERTIFICATE_TYPES["road-transport-permit"].example
            )
            r = c.post(
                "/api/v1/certificates",
                json={"type": "road-transport-permit", "data": data},
                headers=world.auth("transport", "issuer"),
            )
            cid = r.json()["id"]
            until = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
            r = c.post(
                "/api/v1/agreements",
                json={
                    "grantee": "human-resources",
                    "types": ["road-transport-permit"],
                    "purposes": ["webhook-test"],
                    "fields": ["operator"],
                    "valid_until": until,
                },
                headers=world.auth("transport", "issuer"),
            )
            assert r.status_code == 201, r.text
            # The receiving agency follows the status of the one certificate it accepted.
            r = c.post(
                "/api/v1/subscriptions",
                json={"url": receiver.url, "events": ["status.changed"], "cert_id": cid},
                headers=world.auth("human-resources", "verifier"),
            )
            assert r.status_code == 201, r.text
            receiver_secret = r.json()["secret"]
            receiver_sub = r.json()["id"]
            SECRETS.append(receiver_secret)
            # ... but may not follow lookups of someone else's certificate.
            r = c.post(
                "/api/v1/subscriptions",
                json={"url": receiver.url, "events": ["lookup.foreign"], "cert_id": cid},
                headers=world.auth("human-resources", "verifier"),
            )
            assert r.status_code == 403

            r = c.get(
                f"/api/v1/certificates/{cid}/details?purpose=webhook-test",
                headers=world.auth("human-resources", "verifier"),
            )
            assert r.status_code == 200, r.text
            wait_for(lambda: len(receiver.delivered()) >= 1)
            # The first attempt got a 500 and was retried.
            assert receiver.calls[0][0] == 500
            headers, body = receiver.delivered()[0]
            assert verify_signature(issuer_secret, headers[SIGNATURE_HEADER], body)
            event = json.loads(body)
            assert event["event"] == "lookup.foreign" and event["cert_id"] == cid
            assert event["by_agency"] == "human-resources" and event["purpose"] == "webhook-test"
            assert event["fields"] == ["operator"]
            assert data["credit_code"] not in body.decode()  # no holder identifier

            changes = [
                ("suspend", "suspended", "inspection due"),
                ("reinstate", "active", "inspection passed"),
                ("revoke", "revoked", "operator closed"),
            ]
            for action, _, reason in changes:
                r = c.post(
                    f"/api/v1/certificates/{cid}/{action}",
                    json={"reason": reason},
                    headers=world.auth("transport", "issuer"),
                )
                assert r.status_code == 200, (action, r.text)
            wait_for(lambda: len(receiver.delivered()) >= 1 + 2 * len(changes))
            status_events = [
                json.loads(b)
                for _, b in receiver.delivered()
                if json.loads(b)["event"] == "status.changed"
            ]
            assert len(status_events) == 2 * len(changes)
            for sub in (issuer_sub, receiver_sub):  # each subscriber hears every change
                heard = {
                    (e["status"], e["reason"]) for e in status_events if e["subscription"] == sub
                }
                assert heard == {(status, reason) for _, status, reason in changes}
            assert all(e["cert_id"] == cid for e in status_events)
            # Each delivery verifies under its own subscription's secret, and no other.
            secrets_by_sub = {issuer_sub: issuer_secret, receiver_sub: receiver_secret}
            for h, b in receiver.delivered():
                sub = json.loads(b)["subscription"]
                assert verify_signature(secrets_by_sub[sub], h[SIGNATURE_HEADER], b)
                other = receiver_secret if sub == issuer_sub else issuer_secret
                assert not verify_signature(other, h[SIGNATURE_HEADER], b)

            for agency, role, sub_id in (
                ("transport", "issuer", issuer_sub),
                ("human-resources", "verifier", receiver_sub),
            ):
                listed = c.get("/api/v1/subscriptions", headers=world.auth(agency, role)).json()
                assert sub_id in {x["id"] for x in listed}
                assert all("secret" not in x for x in listed)
                # Unsubscribe: another agency cannot (and cannot tell it exists); the owner can.
                other = "transport" if agency != "transport" else "human-resources"
                r = c.post(
                    f"/api/v1/subscriptions/{sub_id}/revoke", headers=world.auth(other, "issuer")
                )
                assert r.status_code == 404
                r = c.post(
                    f"/api/v1/subscriptions/{sub_id}/revoke", headers=world.auth(agency, role)
                )
                assert r.status_code == 200 and r.json()["revoked_at"]
    finally:
        receiver.close()


def _outbox_state(world: World, delivery_sub: str) -> list[tuple[str, int]]:
    import sqlite3

    with sqlite3.connect(world.home.root / "certificates.db") as db:
        return [
            (str(r[0]), int(r[1]))
            for r in db.execute(
                "SELECT state, attempts FROM webhook_outbox WHERE sub_id = ?", (delivery_sub,)
            )
        ]


def test_gives_up_after_the_last_attempt(world: World) -> None:
    receiver = Receiver(fail_first=100)
    subs = Subscriptions(world.rt.store, audit=world.rt.audit, policy=LOOPBACK)
    from certificates.sharing.clients import Principal

    who = Principal("test", "market-regulation", frozenset({"issuer"}))
    sub, secret = subs.add(who, receiver.url, ["status.changed"])
    SECRETS.append(secret)
    dispatcher = WebhookDispatcher(subs, attempts=3, backoff=0.02)
    dispatcher.start()
    try:
        cid = world.certs["business-licence"]["id"]
        assert dispatcher.emit("status.changed", cid, "market-regulation", {}) >= 1
        wait_for(lambda: _outbox_state(world, sub.id) == [("failed", 3)])
        ours = [c for c in receiver.calls if json.loads(c[2])["subscription"] == sub.id]
        assert len(ours) == 3 and all(status == 500 for status, _, _ in ours)
    finally:
        dispatcher.stop()
        subs.revoke(who, sub.id)
        receiver.close()


def test_pending_deliveries_survive_a_restart(world: World) -> None:
    from certificates.sharing.clients import Principal

    receiver = Receiver(fail_first=0)
    subs = Subscriptions(world.rt.store, audit=world.rt.audit, policy=LOOPBACK)
    who = Principal("test", "market-regulation", frozenset({"issuer"}))
    sub, secret = subs.add(who, receiver.url, ["status.changed"])
    gone, gone_secret = subs.add(who, receiver.url, ["status.changed"])
    SECRETS.extend([secret, gone_secret])
    cid = world.certs["business-licence"]["id"]
    try:
        # A process that queues the event and dies before delivering it.
        before_crash = WebhookDispatcher(subs)
        assert before_crash.emit("status.changed", cid, "market-regulation", {}) >= 2
        assert _outbox_state(world, sub.id) == [("pending", 0)]
        subs.revoke(who, gone.id)  # revoked meanwhile: its delivery must not be sent
        after_restart = WebhookDispatcher(subs, backoff=0.02)
        after_restart.start()
        try:
            wait_for(lambda: _outbox_state(world, sub.id) == [("delivered", 1)])
            wait_for(lambda: _outbox_state(world, gone.id) == [("dropped", 0)])
        finally:
            after_restart.stop()
        [(headers, body)] = [
            (h, b) for h, b in receiver.delivered() if json.loads(b)["subscription"] == sub.id
        ]
        assert verify_signature(secret, headers[SIGNATURE_HEADER], body)
        assert not any(json.loads(b)["subscription"] == gone.id for _, b in receiver.delivered())
    finally:
        subs.revoke(who, sub.id)
        receiver.close()


def test_callbacks_to_internal_or_plain_http_addresses_are_refused(
    world: World,
) -> None:
    # A deployment whose operator admits no internal receivers.
    nothing_internal = Subscriptions(
        world.rt.store, audit=world.rt.audit, policy=CallbackPolicy.from_entries([])
    )
    app = create_app(
        world.rt,
        background_anchoring=False,
        limits=NO_LIMITS,
        webhooks=WebhookDispatcher(nothing_internal),
    )
    with TestClient(app) as c:
        for url, why in [
            ("http://127.0.0.1:9/hook", "https"),
            ("https://127.0.0.1/hook", "not a public address"),
            ("https://169.254.169.254/latest/meta-data", "not a public address"),
            ("https://[::ffff:10.0.0.1]/hook", "not a public address"),
            ("https://localhost/hook", "not a public address"),
            ("https://user:pw@93.184.216.34/hook", "without credentials"),
            ("https://receiver.invalid/hook", "does not resolve"),
            ("ftp://93.184.216.34/hook", "https"),
        ]:
            r = c.post(
                "/api/v1/subscriptions",
                json={"url": url, "events": ["status.changed"]},
                headers=world.auth("transport", "issuer"),
            )
            assert r.status_code == 422, (url, r.text)
            body = r.json()["detail"]
            assert body["code"] == "BAD_URL"
            assert why in body["message"]["en"], (url, body)
            assert "pw" not in r.text


def test_delivery_rechecks_the_address_when_dns_changes(world: World) -> None:
    """A name that was public when the subscription was made and now points inside."""
    from certificates.sharing.clients import Principal

    receiver = Receiver(fail_first=0)
    answers = {"hooks.example": ["93.184.216.34"]}
    policy = CallbackPolicy.from_entries([], resolver=lambda host, port: answers[host])
    subs = Subscriptions(world.rt.store, audit=world.rt.audit, policy=policy)
    who = Principal("test", "market-regulation", frozenset({"issuer"}))
    port = receiver.server.server_address[1]
    sub, secret = subs.add(who, f"https://hooks.example:{port}/hook", ["status.changed"])
    SECRETS.append(secret)
    answers["hooks.example"] = ["127.0.0.1"]  # re-pointed at the server's own loopback
    dispatcher = WebhookDispatcher(subs, backoff=0.02)
    dispatcher.start()
    try:
        cid = world.certs["business-licence"]["id"]
        assert dispatcher.emit("status.changed", cid, "market-regulation", {}) >= 1
        wait_for(lambda: _outbox_state(world, sub.id) == [("failed", 1)])
        assert receiver.calls == []
    finally:
        dispatcher.stop()
        subs.revoke(who, sub.id)
        receiver.close()


def test_delivery_connects_to_the_checked_address(world: World) -> None:
    """The name is resolved once, by the check; the request goes to that address with the
    original Host header (no second DNS answer to rebind). The name exists nowhere else, so
    only a pinned request can arrive."""
    from certificates.sharing.clients import Principal

    receiver = Receiver(fail_first=0)
    policy = CallbackPolicy.from_entries(
        ["127.0.0.0/8"], resolver=lambda host, port: {"hooks.example": ["127.0.0.1"]}[host]
    )
    subs = Subscriptions(world.rt.store, audit=world.rt.audit, policy=policy)
    who = Principal("test", "market-regulation", frozenset({"issuer"}))
    port = receiver.server.server_address[1]
    sub, secret = subs.add(who, f"http://hooks.example:{port}/hook", ["status.changed"])
    SECRETS.append(secret)
    dispatcher = WebhookDispatcher(subs, backoff=0.02)
    dispatcher.start()
    try:
        cid = world.certs["business-licence"]["id"]
        assert dispatcher.emit("status.changed", cid, "market-regulation", {}) >= 1
        wait_for(lambda: _outbox_state(world, sub.id) == [("delivered", 1)])
        [(headers, body)] = [
            (h, b) for h, b in receiver.delivered() if json.loads(b)["subscription"] == sub.id
        ]
        assert headers["Host"] == f"hooks.example:{port}"
        assert verify_signature(secret, headers[SIGNATURE_HEADER], body)
    finally:
        dispatcher.stop()
        subs.revoke(who, sub.id)
        receiver.close()
