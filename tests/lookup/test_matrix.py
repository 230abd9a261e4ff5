"""Authorisation matrix: every role x every endpoint x own / foreign agency, each asserted.

The resource is always a human-resources certificate (or one of its agreements). "own" callers
act for human-resources, "foreign" callers for transport, which has no sharing agreement with
human-resources in this session (no other test grants one), so foreign lookups must be denied.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from certificates.types import CERTIFICATE_TYPES
from tests.distinct import distinct

from .conftest import World

OWNER = "human-resources"
AGENCY = {"own": OWNER, "foreign": "transport"}
CTYPE = "qualification-certificate"
ROLES = ("issuer", "verifier", "admin", "anonymous", "bad-token")
UNTIL = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()


def _issue(world: World) -> str:
    r = world.client.post(
        "/api/v1/certificates",
        json={"type": CTYPE, "data": distinct(CTYPE, CERTIFICATE_TYPES[CTYPE].example)},
        headers=world.auth(OWNER, "issuer"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


_REISSUE_DATA: dict[str, Any] = {}


def _to_reissue(world: World) -> str:
    """A new certificate to correct; its data is kept for the body (the same holder and
    qualification: a correction keeps the uniqueness key)."""
    data = distinct(CTYPE, CERTIFICATE_TYPES[CTYPE].example)
    r = world.client.post(
        "/api/v1/certificates",
        json={"type": CTYPE, "data": data},
        headers=world.auth(OWNER, "issuer"),
    )
    assert r.status_code == 201, r.text
    _REISSUE_DATA["data"] = {**data, CERTIFICATE_TYPES[CTYPE].holder_name_field: "王更正"}
    return f"/api/v1/certificates/{r.json()['id']}/reissue"


def _suspended(world: World) -> str:
    cert_id = _issue(world)
    r = world.client.post(
        f"/api/v1/certificates/{cert_id}/suspend",
        json={"reason": "matrix set-up"},
        headers=world.auth(OWNER, "issuer"),
    )
    assert r.status_code == 200, r.text
    return cert_id


def _agreement(world: World) -> str:
    r = world.client.post(
        "/api/v1/agreements",
        json={
            "grantee": "market-regulation",
            "types": [CTYPE],
            "purposes": ["matrix-only"],
            "fields": ["occupation"],
            "valid_until": UNTIL,
        },
        headers=world.auth(OWNER, "issuer"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _subscription(world: World) -> str:
    r = world.client.post(
        "/api/v1/subscriptions",
        json={"url": "https://receiver.invalid/hook", "events": ["status.changed"]},
        headers=world.auth(OWNER, "verifier"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# endpoint -> (method, path builder, body builder)
Call = tuple[str, Callable[[World], str], Callable[[World], Any]]


def _cid(world: World) -> str:
    return str(world.certs[CTYPE]["id"])


ENDPOINTS: dict[str, Call] = {
    "issue": (
        "POST",
        lambda w: "/api/v1/certificates",
        lambda w: {"type": CTYPE, "data": distinct(CTYPE, CERTIFICATE_TYPES[CTYPE].example)},
    ),
    "pdf": ("GET", lambda w: f"/api/v1/certificates/{_cid(w)}/pdf", lambda w: None),
    "revoke": (
        "POST",
        lambda w: f"/api/v1/certificates/{_issue(w)}/revoke",
        lambda w: {"reason": "matrix test"},
    ),
    "suspend": (
        "POST",
        lambda w: f"/api/v1/certificates/{_issue(w)}/suspend",
        lambda w: {"reason": "matrix test"},
    ),
    "reinstate": (
        "POST",
        lambda w: f"/api/v1/certificates/{_suspended(w)}/reinstate",
        lambda w: {"reason": "matrix test"},
    ),
    # The path is built first (test_authorisation_matrix), so the body has its data.
    "reissue": ("POST", _to_reissue, lambda w: {"data": _REISSUE_DATA["data"]}),
    "lookup": (
        "GET",
        lambda w: (
            f"/api/v1/lookup?type={CTYPE}&holder={w.certs[CTYPE]['holder']}&purpose=matrix-only"
        ),
        lambda w: None,
    ),
    "lookup-post": (
        "POST",
        lambda w: "/api/v1/lookup",
        lambda w: {"type": CTYPE, "holder": w.certs[CTYPE]["holder"], "purpose": "matrix-only"},
    ),
    "details": (
        "GET",
        lambda w: f"/api/v1/certificates/{_cid(w)}/details?purpose=matrix-only",
        lambda w: None,
    ),
    "agreement-create": (
        "POST",
        lambda w: "/api/v1/agreements",
        lambda w: {
            "grantee": "market-regulation",
            "types": [CTYPE],
            "purposes": ["matrix-only"],
            "fields": ["occupation"],
            "valid_until": UNTIL,
        },
    ),
    "agreement-list": ("GET", lambda w: "/api/v1/agreements", lambda w: None),
    "agreement-revoke": (
        "POST",
        lambda w: f"/api/v1/agreements/{_agreement(w)}/revoke",
        lambda w: {"reason": "matrix test"},
    ),
    "subscribe-status": (
        "POST",
        lambda w: "/api/v1/subscriptions",
        lambda w: {
            "url": "https://receiver.invalid/hook",
            "events": ["status.changed"],
            "cert_id": _cid(w),
        },
    ),
    "subscribe-lookups": (
        "POST",
        lambda w: "/api/v1/subscriptions",
        lambda w: {
            "url": "https://receiver.invalid/hook",
            "events": ["lookup.foreign"],
            "cert_id": _cid(w),
        },
    ),
    "subscriptions-list": ("GET", lambda w: "/api/v1/subscriptions", lambda w: None),
    "unsubscribe": (
        "POST",
        lambda w: f"/api/v1/subscriptions/{_subscription(w)}/revoke",
        lambda w: None,
    ),
    "audit-trail": ("GET", lambda w: f"/api/v1/certificates/{_cid(w)}/audit", lambda w: None),
    "status": ("GET", lambda w: f"/api/v1/certificates/{_cid(w)}", lambda w: None),
    "types": ("GET", lambda w: "/api/v1/types", lambda w: None),
}

# (endpoint, role) -> (status when own, status when foreign)
EXPECTED: dict[tuple[str, str], tuple[int, int]] = {}
for _ep in ENDPOINTS:
    EXPECTED[(_ep, "anonymous")] = (401, 401)
    EXPECTED[(_ep, "bad-token")] = (401, 401)
for _role in ("issuer", "verifier", "admin"):
    for _ep in ("issue", "pdf", "revoke", "suspend", "reinstate", "reissue"):
        EXPECTED[(_ep, _role)] = (403, 403)
    for _ep in ("agreement-create", "agreement-revoke"):
        EXPECTED[(_ep, _role)] = (403, 403)
    for _ep in ("lookup", "lookup-post", "details"):
        EXPECTED[(_ep, _role)] = (403, 403)
    EXPECTED[("audit-trail", _role)] = (403, 403)
    EXPECTED[("agreement-list", _role)] = (200, 200)
    # Any client may follow a certificate's (public) status; lookups only of its own.
    EXPECTED[("subscribe-status", _role)] = (201, 201)
    EXPECTED[("subscribe-lookups", _role)] = (201, 403)
    EXPECTED[("subscriptions-list", _role)] = (200, 200)
    # Another agency's subscription answers like a missing one.
    EXPECTED[("unsubscribe", _role)] = (200, 404)
# A subscription is revoked by the issuer role or by the client that made it (the matrix's
# subscription is made by the owner's verifier); the agency's admin client is neither.
EXPECTED[("unsubscribe", "admin")] = (403, 404)
# The allowed cells: the right role, and for agency-bound actions the right agency.
EXPECTED[("issue", "issuer")] = (201, 403)  # transport may not issue HR's type
EXPECTED[("pdf", "issuer")] = (200, 403)
EXPECTED[("revoke", "issuer")] = (200, 403)
EXPECTED[("suspend", "issuer")] = (200, 403)
EXPECTED[("reinstate", "issuer")] = (200, 403)
EXPECTED[("reissue", "issuer")] = (201, 404)  # another agency's answers as a missing one
EXPECTED[("agreement-create", "issuer")] = (201, 403)
EXPECTED[("agreement-revoke", "issuer")] = (200, 403)
EXPECTED[("lookup", "verifier")] = (200, 403)  # foreign: no agreement
EXPECTED[("lookup-post", "verifier")] = (200, 403)
EXPECTED[("details", "verifier")] = (200, 403)
EXPECTED[("audit-trail", "admin")] = (200, 403)
# Public endpoints: everyone, with or without credentials (a bad token is not even read).
for _role in ROLES:
    EXPECTED[("status", _role)] = (200, 200)
    EXPECTED[("types", _role)] = (200, 200)


def _headers(world: World, role: str, agency: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    if role == "bad-token":
        return {"Authorization": f"Bearer clt_{agency}_not-a-real-token"}
    return world.auth(agency, role)


@pytest.mark.parametrize("relation", ["own", "foreign"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_authorisation_matrix(world: World, endpoint: str, role: str, relation: str) -> None:
    method, path, body = ENDPOINTS[endpoint]
    want = EXPECTED[(endpoint, role)][0 if relation == "own" else 1]
    r = world.client.request(
        method,
        path(world),
        json=body(world),
        headers=_headers(world, role, AGENCY[relation]),
    )
    assert r.status_code == want, f"{endpoint} as {relation} {role}: {r.status_code} {r.text}"
    if r.status_code in (401, 403):
        detail = r.json()["detail"]
        assert detail["code"] and detail["message"]["zh"] and detail["message"]["en"]


def test_matrix_covers_every_route(world: World) -> None:
    """A new route must be added to the matrix: fail when the app has one it does not list."""
    covered = {
        "/api/v1/certificates",
        "/api/v1/certificates/{cert_id}/pdf",
        "/api/v1/certificates/{cert_id}/revoke",
        "/api/v1/certificates/{cert_id}/suspend",
        "/api/v1/certificates/{cert_id}/reinstate",
        "/api/v1/certificates/{cert_id}/reissue",
        "/api/v1/lookup",
        "/api/v1/certificates/{cert_id}/details",
        "/api/v1/agreements",
        "/api/v1/agreements/{agreement_id}/revoke",
        "/api/v1/certificates/{cert_id}/audit",
        "/api/v1/certificates/{cert_id}",
        "/api/v1/types",
        "/api/v1/subscriptions",
        "/api/v1/subscriptions/{sub_id}/revoke",
    }
    # Public by design, covered by their own suites: health, docs, upload verify, QR page, TSA.
    public = {"/healthz", "/api/v1/verify", "/v/{cert_id}", "/tsa"}
    # The PKI's publication points (verify_api.routes.pki): public by nature (RFC 5280/6960).
    public |= {"/crl/{name}.crl", "/pki/{name}.crt", "/ocsp", "/ocsp/{encoded:path}"}
    paths = {
        getattr(r, "path", "")
        for r in world.client.app.routes  # type: ignore[attr-defined]
        if getattr(r, "include_in_schema", False)
    }
    assert paths - covered - public == set()
