"""Rate limits hold for the whole server, not per worker: `certledger serve --workers 2` with a
burst of 5 allows 5 requests in all, whichever worker each connection reaches."""

from __future__ import annotations

import pytest

from .conftest import make_deployment, start_server, stop_server

pytestmark = pytest.mark.e2e

BURST = 5
TRIES = 40


def test_limits_are_shared_by_the_workers(tmp_path_factory: pytest.TempPathFactory) -> None:
    dep = make_deployment(tmp_path_factory.mktemp("limits") / "home")
    server = start_server(
        dep,
        {
            # Refills too slowly to matter here: only the burst is available.
            "CERTLEDGER_RATE_CLIENT": f"0.001/{BURST}",
            "CERTLEDGER_RATE_PUBLIC": f"0.001/{BURST}",
            "CERTLEDGER_RATE_LOOPBACK": "1",
        },
        args=("--workers", "2"),
    )
    try:
        for path, headers in (
            ("/api/v1/agreements", dep.auth("market-regulation")),  # per client
            ("/api/v1/types", {}),  # per address (public)
        ):
            statuses = []
            for _ in range(TRIES):
                # A new connection each time, so both workers take their share of them.
                with server.client() as c:
                    r = c.get(path, headers={**headers, "Connection": "close"})
                statuses.append(r.status_code)
                if r.status_code == 429:
                    assert int(r.headers["retry-after"]) >= 1
                    assert r.json()["detail"]["code"] == "RATE_LIMITED"
            assert statuses.count(200) == BURST, (path, statuses)
            assert statuses.count(429) == TRIES - BURST, (path, statuses)
    finally:
        stop_server(server)
