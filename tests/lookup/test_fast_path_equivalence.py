"""The status fast path answers exactly as the status route, from the cache the route fills,
and keeps the staleness bound: a change made elsewhere shows once the entry expires (the
cache's clock is the test's, advanced instead of slept on)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from certificates.types import CERTIFICATE_TYPES
from certificates.verification.public import STATUS_TTL, PublicService
from tests.certificates.test_types import make_uscc
from tests.distinct import distinct
from verify_api.app import create_app

from .conftest import NO_LIMITS, TestClient, World


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def served(world: World) -> Iterator[tuple[TestClient, PublicService, Clock]]:
    clock = Clock()
    public = PublicService(
        store=world.rt.store,
        ledger=world.rt.ledger,
        verifier=world.rt.verifier,
        audit=world.rt.audit,
        clock=clock,
    )
    saved, world.rt.public = world.rt.public, public
    try:
        app = create_app(world.rt, background_anchoring=False, limits=NO_LIMITS)
        with TestClient(app) as client:
            yield client, public, clock
    finally:
        world.rt.public = saved


def fresh_permit_data() -> dict[str, Any]:
    """The example permit for another operator: its own holder, so that lookups by the
    shared world's holders still find exactly their own certificates."""
    data = distinct("road-transport-permit", CERTIFICATE_TYPES["road-transport-permit"].example)
    data["credit_code"] = make_uscc(random.Random())
    return data


def _permit(client: TestClient, world: World) -> str:
    r = client.post(
        "/api/v1/certificates",
        json={
            "type": "road-transport-permit",
            "data": fresh_permit_data(),
        },
        headers=world.auth("transport", "issuer"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_the_status_fast_path_answers_as_the_route(
    world: World, served: tuple[TestClient, PublicService, Clock]
) -> None:
    client, public, _clock = served
    cert_id = _permit(client, world)
    assert public.status_cache.get(cert_id) is None
    by_route = client.get(f"/api/v1/certificates/{cert_id}")  # a miss: the route answers
    assert by_route.status_code == 200
    assert public.status_cache.get(cert_id) == by_route.content
    by_fast_path = client.get(f"/api/v1/certificates/{cert_id}")
    assert by_fast_path.status_code == by_route.status_code
    assert by_fast_path.content == by_route.content
    assert by_fast_path.headers["content-type"] == by_route.headers["content-type"]
    # Another spelling of the id is not a cache key: the route canonicalises it, alike.
    other = client.get(f"/api/v1/certificates/{cert_id.lower()}")
    assert (other.status_code, other.content) == (by_route.status_code, by_route.content)


def test_a_change_made_elsewhere_shows_once_the_entry_expires(
    world: World, served: tuple[TestClient, PublicService, Clock]
) -> None:
    client, _public, clock = served
    cert_id = _permit(client, world)
    assert client.get(f"/api/v1/certificates/{cert_id}").json()["status"] == "active"
    # Another instance of the agency suspends it on the shared ledger: this process does not
    # hear of it, and may answer from its cache for at most the TTL (jittered up to 120 %).
    world.rt.ledger.suspend("transport", cert_id, "suspended elsewhere")
    clock.now += STATUS_TTL * 0.5
    assert client.get(f"/api/v1/certificates/{cert_id}").json()["status"] == "active"
    clock.now += STATUS_TTL * 0.75  # past 120 % of the TTL since the answer was cached
    fresh = client.get(f"/api/v1/certificates/{cert_id}").json()
    assert fresh["status"] == "suspended" and fresh["status_reason"] == "suspended elsewhere"


def test_a_change_made_here_shows_at_once(
    world: World, served: tuple[TestClient, PublicService, Clock]
) -> None:
    client, _public, _clock = served
    cert_id = _permit(client, world)
    assert client.get(f"/api/v1/certificates/{cert_id}").json()["status"] == "active"
    r = client.post(
        f"/api/v1/certificates/{cert_id}/suspend",
        json={"reason": "suspended here"},
        headers=world.auth("transport", "issuer"),
    )
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/certificates/{cert_id}").json()["status"] == "suspended"
