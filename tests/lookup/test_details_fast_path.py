"""The details and lookup routes and their ASGI fast path
(verify_api.routes.fast_paths.LookupFastPath) answer alike, every answer has a committed audit
entry, and the caches behind them keep their staleness bounds (revocations and issuances made
here apply at once, elsewhere within the TTL)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from certificates.audit.log import AuditLog
from certificates.sharing.clients import Principal
from certificates.sharing.lookup import AGREEMENT_CACHE_TTL, RECORD_CACHE_TTL, SharingService
from certificates.store.database import Store
from certificates.types import CERTIFICATE_TYPES
from certificates.types.codes import uscc_check_char
from ledger.interface import Agreement
from tests.distinct import distinct
from verify_api.app import create_app
from verify_api.http.ratelimit import RateLimits
from verify_api.routes.fast_paths import LookupFastPath

from .conftest import TestClient, World

UNTIL = (datetime.now(UTC).date() + timedelta(days=5)).isoformat()
CTYPE = "business-licence"  # issued by market-regulation


def _grant(world: World, purpose: str, fields: list[str]) -> dict[str, Any]:
    r = world.client.post(
        "/api/v1/agreements",
        json={
            "grantee": "transport",
            "types": [CTYPE],
            "purposes": [purpose],
            "fields": fields,
            "valid_until": UNTIL,
        },
        headers=world.auth("market-regulation", "issuer"),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _assert_alike(fast: httpx.Response, slow: httpx.Response, status: int, case: object) -> None:
    """The fast path's answer is the route's, byte for byte, with the same headers."""
    assert fast.status_code == slow.status_code == status, (case, fast.text)
    assert fast.content == slow.content, case
    for header in ("content-type", "content-length", "www-authenticate"):
        assert fast.headers.get(header) == slow.headers.get(header), (case, header)


@pytest.fixture()
def served_fast(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the fast path answered itself (rather than passing on to the route)."""
    seen: list[str] = []
    serve = LookupFastPath._serve

    async def spy(self: LookupFastPath, scope: Any, *args: Any) -> None:
        seen.append(scope["path"])
        await serve(self, scope, *args)

    monkeypatch.setattr(LookupFastPath, "_serve", spy)
    return seen


def test_fast_path_and_route_give_the_same_answers(world: World, served_fast: list[str]) -> None:
    _grant(world, "fastpath-check", ["name"])
    cid = world.certs[CTYPE]["id"]
    made_up = cid[:-12] + "99999999-01-0"  # well formed up to the check character: 404
    transport = world.auth("transport", "verifier")
    cases: list[tuple[str, str, dict[str, str], int]] = [
        ("own agency", cid, world.auth("market-regulation", "verifier"), 200),
        ("under the agreement", cid, world.auth("transport", "verifier"), 200),
        ("lower-case id", cid.lower(), world.auth("transport", "verifier"), 200),
        ("no agreement", world.certs["qualification-certificate"]["id"], transport, 403),
        ("anonymous", cid, {}, 401),
        ("unknown id", made_up, world.auth("transport", "verifier"), 404),
        ("malformed id", "not-an-id", world.auth("transport", "verifier"), 404),
        ("bad token", cid, {"Authorization": "Bearer clt_transport_nope"}, 401),
        ("not bearer", cid, {"Authorization": "Basic dXNlcjpwdw=="}, 401),
        ("issuer role", cid, world.auth("transport", "issuer"), 403),
    ]
    for purpose in ("fastpath-check", "other-purpose"):
        for name, cert_id, headers, status in cases:
            path = f"/api/v1/certificates/{cert_id}/details"
            fast = world.client.get(f"{path}?purpose={purpose}", headers=headers)
            # An extra parameter is left to FastAPI's route (which ignores it).
            slow = world.client.get(f"{path}?purpose={purpose}&via=route", headers=headers)
            if purpose == "other-purpose" and status == 200 and name != "own agency":
                status = 403  # PURPOSE_NOT_ALLOWED
            _assert_alike(fast, slow, status, (name, purpose))
    assert len(served_fast) == 2 * len(cases)  # every fast request went the fast way
    assert all("via" not in p for p in served_fast)
    # The agreement's fields and nothing else, the same way round.
    body = world.client.get(
        f"/api/v1/certificates/{cid}/details?purpose=fastpath-check",
        headers=world.auth("transport", "verifier"),
    ).json()
    assert set(body["fields"]) == {"name"} and body["basis"] == "AGREEMENT"


def test_requests_the_fast_path_does_not_take_go_to_the_route(
    world: World, served_fast: list[str]
) -> None:
    cid = world.certs[CTYPE]["id"]
    headers = world.auth("market-regulation", "verifier")
    for query in ("", "?purpose=", "?purpose=Upper", "?purpose=a%2Db", "?purpose=a&purpose=b"):
        r = world.client.get(f"/api/v1/certificates/{cid}/details{query}", headers=headers)
        if query.startswith("?purpose=a"):
            assert r.status_code == 200, (query, r.text)  # FastAPI decodes; one value wins
        else:
            assert r.status_code == 422 and r.json()["detail"]["code"] == "INVALID_REQUEST"
    doubled = [
        ("Authorization", headers["Authorization"]),
        ("Authorization", "Bearer clt_other"),
    ]
    r = world.client.get(
        f"/api/v1/certificates/{cid}/details?purpose=x", headers=httpx.Headers(doubled)
    )
    assert r.status_code in (200, 401)  # whichever header FastAPI reads; not the fast path
    assert served_fast == []


def test_every_answer_is_audited_before_it_is_sent(world: World) -> None:
    """Each answer's entry is already committed when the client has the answer: a separate
    connection to the database finds it."""
    cid = world.certs[CTYPE]["id"]
    other = Store.open(world.home.database)
    try:
        reader = AuditLog(other)
        for i in range(5):
            purpose = f"durability-{i}"
            r = world.client.get(
                f"/api/v1/certificates/{cid}/details?purpose={purpose}",
                headers=world.auth("market-regulation", "verifier"),
            )
            assert r.status_code == 200
            mine = [e for e in reader.entries(cert_id=cid) if e.event.purpose == purpose]
            assert len(mine) == 1 and mine[0].event.result == "allowed"
        assert reader.verify().ok
    finally:
        other.close()


def test_a_revocation_here_shows_in_details_at_once(world: World) -> None:
    data = distinct(CTYPE, CERTIFICATE_TYPES[CTYPE].example)
    issuer = world.auth("market-regulation", "issuer")
    r = world.client.post(
        "/api/v1/certificates", json={"type": CTYPE, "data": data}, headers=issuer
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    path = f"/api/v1/certificates/{cid}/details?purpose=revocation-check"
    verifier = world.auth("market-regulation", "verifier")
    assert world.client.get(path, headers=verifier).json()["status"] == "active"
    r = world.client.post(
        f"/api/v1/certificates/{cid}/revoke", json={"reason": "closed"}, headers=issuer
    )
    assert r.status_code == 200, r.text
    answer = world.client.get(path, headers=verifier).json()
    assert answer["status"] == "revoked" and answer["status_reason"] == "closed"


def test_an_agreement_revoked_elsewhere_stops_within_the_ttl(world: World) -> None:
    agreement = _grant(world, "ttl-check", ["name"])
    path = f"/api/v1/certificates/{world.certs[CTYPE]['id']}/details?purpose=ttl-check"
    verifier = world.auth("transport", "verifier")
    assert world.client.get(path, headers=verifier).status_code == 200
    # Another process (the CLI, another worker) revokes: straight on the ledger.
    world.rt.ledger.revoke_agreement("market-regulation", agreement["id"], "ended elsewhere")
    time.sleep(AGREEMENT_CACHE_TTL + 0.1)
    r = world.client.get(path, headers=verifier)
    # (Other tests' agreements between these agencies, still active, make the reason
    # PURPOSE_NOT_ALLOWED: no active agreement allows this purpose any more.)
    assert r.status_code == 403, r.text
    assert r.json()["detail"]["code"] in ("AGREEMENT_REVOKED", "PURPOSE_NOT_ALLOWED")


class _RacingLedger:
    """Agreements as a ledger would return them; the first read races with a revocation made
    through the service (as a request thread and a revoking thread would)."""

    def __init__(self, agreements: list[Agreement]) -> None:
        self.agreements_list = agreements
        self.reads = 0
        self.during_read: Any = None

    def agreements(self) -> list[Agreement]:
        self.reads += 1
        if self.during_read is not None:
            hook, self.during_read = self.during_read, None
            hook()
        return self.agreements_list


def test_an_agreement_read_racing_a_revocation_here_is_not_kept(world: World) -> None:
    assert world.rt.audit is not None
    ledger = _RacingLedger(world.rt.ledger.agreements())
    service = SharingService(
        store=world.rt.store,
        ledger=ledger,  # type: ignore[arg-type]
        audit=world.rt.audit,
        holder_key=None,
    )
    ledger.during_read = service._agreements_changed  # what revoke_agreement does
    service.agreements()
    service.agreements()
    assert ledger.reads == 2  # the racing read was not cached
    service.agreements()
    assert ledger.reads == 2  # an undisturbed read is


def test_decisions_follow_the_agreements(world: World) -> None:
    """Decisions are kept with the agreement snapshot they came from."""
    assert world.rt.sharing is not None
    sharing = world.rt.sharing
    who = Principal("test", "transport", frozenset({"verifier"}))
    ctype = CERTIFICATE_TYPES[CTYPE]
    assert not sharing.decide(who, ctype, "decision-cache").allowed
    _grant(world, "decision-cache", ["name"])  # through this process: applies at once
    assert sharing.decide(who, ctype, "decision-cache").code == "AGREEMENT"


@pytest.mark.parametrize(
    ("peer", "fast_answers"),
    [
        # Loopback is exempt from the per-IP middleware, so the client's limit is charged
        # where the fast path or the route authenticates: both answer the 429.
        (("127.0.0.1", 50000), 2),
        # From elsewhere the middleware checks the token and charges its client before
        # either runs: the fast path answers only the first request.
        (("192.0.2.7", 50000), 1),
    ],
)
def test_rate_limited_answers_alike(
    world: World, served_fast: list[str], peer: tuple[str, int], fast_answers: int
) -> None:
    limits = RateLimits(public_rate=100, public_burst=100, client_rate=0.001, client_burst=1)
    app = create_app(world.rt, background_anchoring=False, limits=limits)
    path = f"/api/v1/certificates/{world.certs[CTYPE]['id']}/details?purpose=rate-check"
    headers = world.auth("market-regulation", "verifier")
    with TestClient(app, client=peer) as c:
        assert c.get(path, headers=headers).status_code == 200
        fast = c.get(path, headers=headers)
        slow = c.get(path + "&via=route", headers=headers)
    assert fast.status_code == slow.status_code == 429
    assert fast.content == slow.content and fast.json()["detail"]["code"] == "RATE_LIMITED"
    assert fast.headers["retry-after"] == slow.headers["retry-after"]
    assert len(served_fast) == fast_answers


# -- lookups by holder ------------------------------------------------------------------------


def _lookup_path(holder: str, purpose: str, ctype: str = CTYPE) -> str:
    return f"/api/v1/lookup?type={ctype}&holder={holder}&purpose={purpose}"


def _lookup_cases(world: World) -> list[tuple[str, str, str, dict[str, str], int]]:
    """(name, type, holder, headers, status) for the purpose the test granted."""
    holder = world.certs[CTYPE]["holder"]
    transport = world.auth("transport", "verifier")
    return [
        ("own agency", CTYPE, holder, world.auth("market-regulation", "verifier"), 200),
        ("under the agreement", CTYPE, holder, transport, 200),
        ("lower-case holder", CTYPE, holder.lower(), transport, 200),
        ("nobody holds it", CTYPE, "91350100M000100Y43", transport, 200),
        ("no agreement", "qualification-certificate", "110101199003074514", transport, 403),
        ("unknown type", "no-such-type", holder, transport, 403),
        ("anonymous", CTYPE, holder, {}, 401),
        ("bad token", CTYPE, holder, {"Authorization": "Bearer clt_transport_nope"}, 401),
        ("issuer role", CTYPE, holder, world.auth("transport", "issuer"), 403),
    ]


def test_lookup_fast_path_and_route_give_the_same_answers(
    world: World, served_fast: list[str]
) -> None:
    _grant(world, "lookup-fastpath", ["name"])
    cases = _lookup_cases(world)
    for purpose in ("lookup-fastpath", "other-purpose"):
        for name, ctype, who_holds, headers, status in cases:
            path = _lookup_path(who_holds, purpose, ctype)
            fast = world.client.get(path, headers=headers)
            # An extra parameter is left to FastAPI's route (which ignores it).
            slow = world.client.get(path + "&via=route", headers=headers)
            if purpose == "other-purpose" and status == 200 and name != "own agency":
                status = 403  # PURPOSE_NOT_ALLOWED
            _assert_alike(fast, slow, status, (name, purpose))
    assert len(served_fast) == 2 * len(cases)
    assert all(p == "/api/v1/lookup" for p in served_fast)
    holder, transport = world.certs[CTYPE]["holder"], world.auth("transport", "verifier")
    body = world.client.get(_lookup_path(holder, "lookup-fastpath"), headers=transport).json()
    # (Other tests here issue more certificates to the example holder.)
    assert world.certs[CTYPE]["id"] in [c["id"] for c in body["certificates"]]
    assert all(set(c["fields"]) == {"name"} for c in body["certificates"])
    assert body["basis"] == "AGREEMENT"


def test_lookups_the_fast_path_does_not_take_go_to_the_route(
    world: World, served_fast: list[str]
) -> None:
    holder = world.certs[CTYPE]["holder"]
    headers = world.auth("market-regulation", "verifier")
    found = [
        f"/api/v1/lookup?purpose=p&type={CTYPE}&holder={holder}",  # another order
        f"/api/v1/lookup?type={CTYPE}&holder=%20{holder}&purpose=p",  # to decode
        f"/api/v1/lookup?type={CTYPE}&holder={holder}&purpose=p&purpose=p",  # repeated
    ]
    for path in found:
        r = world.client.get(path, headers=headers)
        assert r.status_code == 200, (path, r.text)
        assert world.certs[CTYPE]["id"] in [c["id"] for c in r.json()["certificates"]]
    for path in (
        f"/api/v1/lookup?type={CTYPE}&holder={holder}",  # no purpose
        f"/api/v1/lookup?type={CTYPE}&holder=&purpose=p",  # empty holder
        f"/api/v1/lookup?type={CTYPE}&holder={holder}&purpose=Upper",
        f"/api/v1/lookup?type={CTYPE}&holder={'9' * 65}&purpose=p",  # too long
    ):
        r = world.client.get(path, headers=headers)
        assert r.status_code == 422 and r.json()["detail"]["code"] == "INVALID_REQUEST", path
    assert served_fast == []


def test_a_certificate_issued_here_is_found_by_holder_at_once(world: World) -> None:
    first17 = "91350100M00020" + "999"
    holder = first17 + uscc_check_char(first17)
    verifier = world.auth("market-regulation", "verifier")
    path = _lookup_path(holder, "new-holder")
    assert world.client.get(path, headers=verifier).json()["certificates"] == []  # now cached
    data = {**CERTIFICATE_TYPES[CTYPE].example, "credit_code": holder}
    r = world.client.post(
        "/api/v1/certificates",
        json={"type": CTYPE, "data": data},
        headers=world.auth("market-regulation", "issuer"),
    )
    assert r.status_code == 201, r.text
    found = world.client.get(path, headers=verifier).json()["certificates"]
    assert [c["id"] for c in found] == [r.json()["id"]]


def test_a_certificate_issued_elsewhere_is_found_by_holder_within_the_ttl(world: World) -> None:
    first17 = "91350100M00030" + "999"
    holder = first17 + uscc_check_char(first17)
    verifier = world.auth("market-regulation", "verifier")
    path = _lookup_path(holder, "new-holder")
    assert world.client.get(path, headers=verifier).json()["certificates"] == []
    # Another process (the CLI, another worker) issues: straight through the pipeline.
    assert world.rt.issuance is not None
    issued = world.rt.issuance.issue(
        "market-regulation", CTYPE, {**CERTIFICATE_TYPES[CTYPE].example, "credit_code": holder}
    )
    time.sleep(RECORD_CACHE_TTL + 0.1)
    found = world.client.get(path, headers=verifier).json()["certificates"]
    assert [c["id"] for c in found] == [issued.cert_id]


def test_a_revocation_here_shows_in_lookups_at_once(world: World) -> None:
    first17 = "91350100M00040" + "999"
    holder = first17 + uscc_check_char(first17)
    issuer = world.auth("market-regulation", "issuer")
    data = {**CERTIFICATE_TYPES[CTYPE].example, "credit_code": holder}
    r = world.client.post(
        "/api/v1/certificates", json={"type": CTYPE, "data": data}, headers=issuer
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    path = _lookup_path(holder, "revocation-check")
    verifier = world.auth("market-regulation", "verifier")
    assert world.client.get(path, headers=verifier).json()["certificates"][0]["status"] == "active"
    r = world.client.post(
        f"/api/v1/certificates/{cid}/revoke", json={"reason": "closed"}, headers=issuer
    )
    assert r.status_code == 200, r.text
    (answer,) = world.client.get(path, headers=verifier).json()["certificates"]
    assert answer["status"] == "revoked" and answer["status_reason"] == "closed"


def test_a_holder_read_racing_an_issuance_here_is_not_kept(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sharing = world.rt.sharing
    assert sharing is not None
    who = Principal("test", "market-regulation", frozenset({"verifier"}))
    holder = world.certs[CTYPE]["holder"]
    store = world.rt.store
    session = store.session
    race = [True]

    @contextlib.contextmanager
    def racing() -> Iterator[Any]:
        if race.pop() if race else False:
            sharing.forget_holders()  # an issuance here while the holder's ids are read
        with session() as s:
            yield s

    sharing.forget_holders()
    monkeypatch.setattr(store, "session", racing)
    _, found = sharing.lookup(who, CTYPE, holder, "race-check", sink=[])
    assert world.certs[CTYPE]["id"] in [c["id"] for c in found]
    assert len(sharing._holders) == 0  # the read that raced was not kept
    _, again = sharing.lookup(who, CTYPE, holder, "race-check", sink=[])
    assert again == found
    assert len(sharing._holders) == 1  # an undisturbed one is


_FAST_JSON_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
)


def test_posted_lookups_fast_and_by_the_route_answer_alike(
    world: World, served_fast: list[str]
) -> None:
    _grant(world, "lookup-post", ["name"])
    cases = _lookup_cases(world)
    for i, (name, ctype, who_holds, headers, status) in enumerate(cases):
        body = orjson.dumps({"type": ctype, "holder": who_holds, "purpose": "lookup-post"})
        fast = world.client.post(
            "/api/v1/lookup",
            content=body,
            headers={**headers, "content-type": _FAST_JSON_TYPES[i % len(_FAST_JSON_TYPES)]},
        )
        # Another spelling (which FastAPI reads as JSON all the same) goes to the route.
        slow = world.client.post(
            "/api/v1/lookup",
            content=body,
            headers={**headers, "content-type": "Application/JSON; charset=utf-8"},
        )
        _assert_alike(fast, slow, status, name)
        get = world.client.get(_lookup_path(who_holds, "lookup-post", ctype), headers=headers)
        assert get.content == fast.content, name  # and the GET form says the same
    assert served_fast.count("/api/v1/lookup") == 2 * len(cases)  # the POSTs and the GETs


def test_posted_lookups_the_fast_path_does_not_take_go_to_the_route_whole(
    world: World, served_fast: list[str]
) -> None:
    holder = world.certs[CTYPE]["holder"]
    headers = {**world.auth("market-regulation", "verifier"), "content-type": "application/json"}
    plain = {"type": CTYPE, "holder": holder, "purpose": "p"}
    found = [
        orjson.dumps({**plain, "holder": f" {holder.lower()} "}),  # normalised by the service
        orjson.dumps(plain) + b" " * 2000,  # longer than the fast path reads: replayed whole
        json.dumps(plain, indent=2).encode(),  # the same values, however laid out: fast
    ]
    for body in found:
        r = world.client.post("/api/v1/lookup", content=body, headers=headers)
        assert r.status_code == 200, (body[:60], r.text)
        assert world.certs[CTYPE]["id"] in [c["id"] for c in r.json()["certificates"]]
    assert len(served_fast) == 1
    for body in (
        orjson.dumps({**plain, "extra": 1}),  # extra=forbid
        orjson.dumps({**plain, "holder": 91350100}),  # not a string
        orjson.dumps({**plain, "purpose": "Upper"}),
        orjson.dumps({"type": CTYPE, "holder": holder}),
        b'{"type": ',  # not JSON
        b"",
    ):
        r = world.client.post("/api/v1/lookup", content=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"]["code"] == "INVALID_REQUEST", body
    assert len(served_fast) == 1
