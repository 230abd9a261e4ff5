"""Sharing agreements and lookups: the agreement decides who sees which fields, for what purpose,
until when; everything else is a 403 with the reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from certificates.sharing.clients import Principal
from certificates.sharing.lookup import AccessDenied, SharingService
from certificates.types import CERTIFICATE_TYPES

from .conftest import World

TODAY = datetime.now(UTC).date()


def grant(world: World, grantor: str, body: dict[str, Any]) -> dict[str, Any]:
    r = world.client.post("/api/v1/agreements", json=body, headers=world.auth(grantor, "issuer"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def lookup(world: World, agency: str, ctype: str, purpose: str, holder: str | None = None) -> Any:
    holder = holder if holder is not None else world.certs[ctype]["holder"]
    return world.client.get(
        "/api/v1/lookup",
        params={"type": ctype, "holder": holder, "purpose": purpose},
        headers=world.auth(agency, "verifier"),
    )


def denied(r: Any, code: str) -> None:
    assert r.status_code == 403, r.text
    detail = r.json()["detail"]
    assert detail["code"] == code
    assert detail["message"]["zh"] and detail["message"]["en"]


def test_agreement_releases_exactly_its_fields(world: World) -> None:
    a = grant(
        world,
        "market-regulation",
        {
            "grantee": "human-resources",
            "types": ["business-licence"],
            "purposes": ["employer-check"],
            "fields": ["name", "company_type"],
            "valid_until": (TODAY + timedelta(days=30)).isoformat(),
        },
    )
    assert a["status"] == "active" and a["id"].startswith("AG-")
    r = lookup(world, "human-resources", "business-licence", "employer-check")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["basis"] == "AGREEMENT" and a["id"] in body["agreements"]
    [cert] = [c for c in body["certificates"] if c["id"] == world.certs["business-licence"]["id"]]
    # Exactly the agreement's fields; the rest are absent, not null.
    assert set(cert["fields"]) == {"name", "company_type"}
    assert cert["fields"]["name"] == world.certs["business-licence"]["data"]["name"]
    assert cert["status"] == "active"

    cid = world.certs["business-licence"]["id"]
    r = world.client.get(
        f"/api/v1/certificates/{cid}/details",
        params={"purpose": "employer-check"},
        headers=world.auth("human-resources", "verifier"),
    )
    assert r.status_code == 200, r.text
    assert set(r.json()["fields"]) == {"name", "company_type"}
    assert "legal_representative" not in r.text and "credit_code" not in r.json()["fields"]


def test_every_agency_sees_the_same_agreements(world: World) -> None:
    lists = []
    for agency in ("market-regulation", "human-resources", "transport"):
        r = world.client.get("/api/v1/agreements", headers=world.auth(agency, "verifier"))
        assert r.status_code == 200
        lists.append(r.json())
    assert lists[0] == lists[1] == lists[2]
    assert all(
        a["grantor"] in {"market-regulation", "human-resources", "transport"} for a in lists[0]
    )


def test_holder_is_matched_by_keyed_digest(world: World) -> None:
    ctype = "business-licence"
    grant(
        world,
        "market-regulation",
        {
            "grantee": "transport",
            "types": [ctype],
            "purposes": ["permit-check"],
            "fields": ["name"],
            "valid_until": (TODAY + timedelta(days=5)).isoformat(),
        },
    )
    holder = world.certs[ctype]["holder"]
    # Identifiers are normalised (case, surrounding spaces) before digesting.
    r = lookup(world, "transport", ctype, "permit-check", holder=f"  {holder.lower()} ")
    assert world.certs[ctype]["id"] in [c["id"] for c in r.json()["certificates"]]
    r = lookup(world, "transport", ctype, "permit-check", holder="91350100M000100Y43")
    assert r.status_code == 200 and r.json()["certificates"] == []


def test_no_agreement_is_403_with_reason(world: World) -> None:
    denied(lookup(world, "transport", "qualification-certificate", "any-purpose"), "NO_AGREEMENT")
    cid = world.certs["qualification-certificate"]["id"]
    r = world.client.get(
        f"/api/v1/certificates/{cid}/details",
        params={"purpose": "any-purpose"},
        headers=world.auth("transport", "verifier"),
    )
    denied(r, "NO_AGREEMENT")


def test_wrong_purpose_is_403(world: World) -> None:
    grant(
        world,
        "human-resources",
        {
            "grantee": "market-regulation",
            "types": ["qualification-certificate"],
            "purposes": ["licence-application"],
            "fields": ["holder_name", "occupation", "level"],
            "valid_until": (TODAY + timedelta(days=10)).isoformat(),
        },
    )
    denied(
        lookup(world, "market-regulation", "qualification-certificate", "marketing"),
        "PURPOSE_NOT_ALLOWED",
    )
    r = lookup(world, "market-regulation", "qualification-certificate", "licence-application")
    assert r.status_code == 200
    [cert] = [
        c
        for c in r.json()["certificates"]
        if c["id"] == world.certs["qualification-certificate"]["id"]
    ]
    # The id number was the search key but is outside the agreement: not released.
    assert set(cert["fields"]) == {"holder_name", "occupation", "level"}
    assert world.certs["qualification-certificate"]["holder"] not in r.text


def test_revoked_agreement_is_403(world: World) -> None:
    a = grant(
        world,
        "transport",
        {
            "grantee": "human-resources",
            "types": ["road-transport-permit"],
            "purposes": ["driver-check"],
            "fields": ["operator"],
            "valid_until": (TODAY + timedelta(days=10)).isoformat(),
        },
    )
    assert (
        lookup(world, "human-resources", "road-transport-permit", "driver-check").status_code == 200
    )
    # Only the grantor may revoke.
    r = world.client.post(
        f"/api/v1/agreements/{a['id']}/revoke",
        json={"reason": "not mine"},
        headers=world.auth("human-resources", "issuer"),
    )
    assert r.status_code == 403, r.text
    r = world.client.post(
        f"/api/v1/agreements/{a['id']}/revoke",
        json={"reason": "programme ended"},
        headers=world.auth("transport", "issuer"),
    )
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    denied(
        lookup(world, "human-resources", "road-transport-permit", "driver-check"),
        "AGREEMENT_REVOKED",
    )
    r = world.client.post(
        f"/api/v1/agreements/{a['id']}/revoke",
        json={"reason": "again"},
        headers=world.auth("transport", "issuer"),
    )
    assert r.status_code == 409


def test_expired_agreement_is_denied(world: World) -> None:
    grant(
        world,
        "transport",
        {
            "grantee": "market-regulation",
            "types": ["road-transport-permit"],
            "purposes": ["registration-check"],
            "fields": ["operator"],
            "valid_until": TODAY.isoformat(),  # last day: today
        },
    )
    assert world.rt.sharing is not None and world.rt.audit is not None
    who = Principal("test", "market-regulation", frozenset({"verifier"}))
    holder = world.certs["road-transport-permit"]["holder"]
    on_the_day = SharingService(
        store=world.rt.store,
        ledger=world.rt.ledger,
        audit=world.rt.audit,
        holder_key=world.rt.sharing._holder_key,
        today=lambda: TODAY,
    )
    decision, found = on_the_day.lookup(who, "road-transport-permit", holder, "registration-check")
    assert decision.allowed and len(found) == 1
    day_after = SharingService(
        store=world.rt.store,
        ledger=world.rt.ledger,
        audit=world.rt.audit,
        holder_key=world.rt.sharing._holder_key,
        today=lambda: TODAY + timedelta(days=1),
    )
    with pytest.raises(AccessDenied) as exc:
        day_after.lookup(who, "road-transport-permit", holder, "registration-check")
    assert exc.value.decision.code == "AGREEMENT_EXPIRED"


def test_own_agency_sees_all_fields(world: World) -> None:
    r = lookup(world, "market-regulation", "business-licence", "counter-service")
    assert r.status_code == 200
    [cert] = [
        c for c in r.json()["certificates"] if c["id"] == world.certs["business-licence"]["id"]
    ]
    assert set(cert["fields"]) == set(CERTIFICATE_TYPES["business-licence"].field_names)
    assert r.json()["basis"] == "OWN_AGENCY"


@pytest.mark.parametrize(
    ("grantor", "body", "status", "code"),
    [
        # An agency can share only its own types.
        (
            "transport",
            {"grantee": "human-resources", "types": ["business-licence"]},
            403,
            "NOT_OWN_TYPE",
        ),
        # Fields must belong to the shared types.
        ("market-regulation", {"fields": ["id_number"]}, 422, "UNKNOWN_FIELD"),
        # The ledger refuses an agreement that ended before it began.
        ("market-regulation", {"valid_until": "2020-01-01"}, 409, "REFUSED"),
        ("market-regulation", {"grantee": "market-regulation"}, 409, "REFUSED"),
        ("market-regulation", {"grantee": "nobody"}, 422, "UNKNOWN_AGENCY"),
    ],
)
def test_invalid_agreements_are_refused(
    world: World, grantor: str, body: dict[str, Any], status: int, code: str
) -> None:
    full = {
        "grantee": "human-resources",
        "types": ["business-licence"],
        "purposes": ["x"],
        "fields": ["name"],
        "valid_until": (TODAY + timedelta(days=1)).isoformat(),
        **body,
    }
    r = world.client.post("/api/v1/agreements", json=full, headers=world.auth(grantor, "issuer"))
    assert r.status_code == status, r.text
    assert r.json()["detail"]["code"] == code


def test_agreements_live_on_the_ledger(world: World) -> None:
    on_ledger = {a.agreement_id for a in world.rt.ledger.agreements()}
    r = world.client.get("/api/v1/agreements", headers=world.auth("transport", "verifier"))
    assert {a["id"] for a in r.json()} == on_ledger
    assert world.rt.ledger.verify_chain().ok
    assert isinstance(date.today(), date)


def test_cli_agreements_add_list_revoke(world: World) -> None:
    import json

    from typer.testing import CliRunner

    from verify_api.cli.main import app as cli_app

    from .conftest import PASSPHRASE

    runner = CliRunner()
    home = ["--home", str(world.home.root)]
    env = {"CERTLEDGER_PASSPHRASE": PASSPHRASE}
    until = (TODAY + timedelta(days=7)).isoformat()
    r = runner.invoke(
        cli_app,
        [
            *home,
            "agreements",
            "add",
            "--agency",
            "market-regulation",
            "--grantee",
            "transport",
            "--type",
            "business-licence",
            "--purpose",
            "cli-test",
            "--field",
            "name",
            "--valid-until",
            until,
            "--json",
        ],
        env=env,
    )
    assert r.exit_code == 0, r.output
    created = json.loads(r.output)
    assert created["grantor"] == "market-regulation" and created["fields"] == ["name"]
    r = runner.invoke(cli_app, [*home, "agreements", "list", "--json"])
    assert created["id"] in {a["id"] for a in json.loads(r.output)}
    # An agency cannot grant another's type, nor revoke another's agreement.
    r = runner.invoke(
        cli_app,
        [
            *home,
            "agreements",
            "add",
            "--agency",
            "transport",
            "--grantee",
            "human-resources",
            "--type",
            "business-licence",
            "--purpose",
            "x",
            "--field",
            "name",
            "--valid-until",
            until,
        ],
        env=env,
    )
    assert r.exit_code != 0 and "NOT_OWN_TYPE" in r.output
    r = runner.invoke(
        cli_app,
        [*home, "agreements", "revoke", created["id"], "--agency", "transport", "--reason", "x"],
        env=env,
    )
    assert r.exit_code != 0 and "NOT_ISSUER" in r.output
    r = runner.invoke(
        cli_app,
        [
            *home,
            "agreements",
            "revoke",
            created["id"],
            "--agency",
            "market-regulation",
            "--reason",
            "test over",
        ],
        env=env,
    )
    assert r.exit_code == 0, r.output
    assert world.rt.sharing is not None
    [a] = [a for a in world.rt.sharing.agreements(fresh=True) if a.agreement_id == created["id"]]
    assert a.status == "revoked"


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2026, 11, 28, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2026, 11, 29, 0, 0, 0, tzinfo=UTC),
        datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_the_cached_utc_date_follows_the_clock(
    instant: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Agreements expire at midnight UTC exactly; the date the decisions use is cached per
    # day, so it must turn over with the clock, in both directions.
    import certificates.sharing.lookup as lookup

    monkeypatch.setattr(lookup.time, "time", lambda: instant.timestamp())
    assert lookup._utc_today() == instant.date()
    later = instant + timedelta(seconds=1)
    monkeypatch.setattr(lookup.time, "time", lambda: later.timestamp())
    assert lookup._utc_today() == later.date()
