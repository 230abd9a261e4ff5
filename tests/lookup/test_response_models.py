"""Real answers of the sharing routes match the response models the OpenAPI document declares
(the fuzzer rarely reaches a successful lookup: it needs an agreement)."""

from __future__ import annotations

from datetime import date, timedelta

from verify_api.schemas import (
    AgreementBody,
    AuditTrailBody,
    CertificateStatusBody,
    DetailsBody,
    LookupBody,
)

from .conftest import World


def test_sharing_answers_match_their_models(world: World) -> None:
    r = world.client.post(
        "/api/v1/agreements",
        json={
            "grantee": "transport",
            "types": ["business-licence"],
            "purposes": ["model-check"],
            "fields": ["name"],
            "valid_until": (date.today() + timedelta(days=30)).isoformat(),
        },
        headers=world.auth("market-regulation", "issuer"),
    )
    assert r.status_code == 201, r.text
    AgreementBody.model_validate(r.json())
    cert = world.certs["business-licence"]
    r = world.client.get(
        "/api/v1/lookup",
        params={"type": "business-licence", "holder": cert["holder"], "purpose": "model-check"},
        headers=world.auth("transport", "verifier"),
    )
    assert r.status_code == 200, r.text
    assert LookupBody.model_validate(r.json()).certificates
    r = world.client.get(
        f"/api/v1/certificates/{cert['id']}/details",
        params={"purpose": "model-check"},
        headers=world.auth("transport", "verifier"),
    )
    assert r.status_code == 200, r.text
    assert DetailsBody.model_validate(r.json()).fields == {"name": cert["data"]["name"]}
    r = world.client.get(
        f"/api/v1/certificates/{cert['id']}/audit",
        headers=world.auth("market-regulation", "admin"),
    )
    assert r.status_code == 200, r.text
    assert AuditTrailBody.model_validate(r.json()).entries
    r = world.client.get(f"/api/v1/certificates/{cert['id']}")
    CertificateStatusBody.model_validate(r.json())
