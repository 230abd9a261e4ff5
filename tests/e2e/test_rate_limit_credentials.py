"""A credential lifts a request out of the per-IP limit only once it has been checked.

Any ``Authorization`` header used to skip the limit, on public routes that never look at it:
120 requests with ``Authorization: x`` drew no 429 at all. Here every public route, with no
header, a malformed one, a wrong token and two headers, draws 429s alike once the address's
burst is spent, while a valid token still gets through (it is limited per client instead).
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import example, make_deployment, start_server, stop_server

pytestmark = pytest.mark.e2e

BURST = 5
TRIES = 120


def test_no_header_skips_the_per_ip_limit(
    tmp_path_factory: pytest.TempPathFactory, catalogue: list[dict[str, Any]]
) -> None:
    dep = make_deployment(tmp_path_factory.mktemp("bypass") / "home")
    server = start_server(
        dep,
        {
            # Refills too slowly to matter: only the burst is available to an address.
            "CERTLEDGER_RATE_PUBLIC": f"0.001/{BURST}",
            "CERTLEDGER_RATE_CLIENT": "0.001/50",
            "CERTLEDGER_RATE_LOOPBACK": "1",
        },
    )
    issuer = dep.auth("market-regulation")
    try:
        with server.client() as c:
            r = c.post(
                "/api/v1/certificates",
                headers=issuer,
                json={"type": "business-licence", "data": example(catalogue, "business-licence")},
            )
            assert r.status_code == 201, r.text
            cert = r.json()
            page = urlsplit(cert["verify_url"])
            page_path = f"{page.path}?{page.query}"

            def public(headers: list[tuple[str, str]]) -> list[int]:
                statuses = [
                    c.get(f"/api/v1/certificates/{cert['id']}", headers=headers).status_code,
                    c.get(page_path, headers=headers).status_code,
                    c.post(
                        "/api/v1/verify",
                        headers=headers,
                        files={"file": ("x.pdf", b"not a pdf", "application/pdf")},
                    ).status_code,
                    c.get("/api/v1/types", headers=headers).status_code,
                    c.get("/pki/root.crt", headers=headers).status_code,
                ]
                return statuses

            forged: list[list[tuple[str, str]]] = [
                [("Authorization", "x")],
                [("Authorization", "Bearer not-a-token")],
                [("Authorization", "Basic dXNlcjpwYXNz")],
                [("Authorization", issuer["Authorization"]), ("Authorization", "x")],
                [],
            ]
            statuses: list[int] = []
            for headers in itertools.islice(itertools.cycle(forged), TRIES // 5):
                statuses.extend(public(headers))
            assert len(statuses) == TRIES
            # The burst is the address's, whichever header each request carried.
            assert statuses.count(429) == TRIES - BURST, statuses
            assert all(s != 429 for s in statuses[:BURST]), statuses

            # A checked credential is limited per client, not per address: it gets through.
            for s in public(list(issuer.items())):
                assert s != 429
            # An authenticated route with a wrong token: the address is spent, so 429.
            r = c.get("/api/v1/agreements", headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 429
            assert r.json()["detail"]["code"] == "RATE_LIMITED"
            assert c.get("/api/v1/agreements", headers=issuer).status_code == 200
    finally:
        stop_server(server)
