"""PostgreSQL restarted under load: the requests in flight get 503 with a reason (never a 500),
nothing is half-written, and the service recovers by itself, without a restart of its own."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.postgres import PostgresServer

from .conftest import example, make_deployment, start_server, stop_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    # A server of this test's own: it is stopped and started again under the service.
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.remove()


def test_a_postgres_restart_is_503_then_recovers(
    own_postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = own_postgres.create_database("restart")
    dep = make_deployment(
        tmp_path_factory.mktemp("pg-restart") / "home", extra_env={"CERTLEDGER_DATABASE_URL": url}
    )
    catalogue = json.loads(dep.cli("types", "--json", check=True).stdout)

    def data() -> dict[str, str]:
        return example(catalogue, "business-licence")  # another company's each time

    server = start_server(dep)
    auth = dep.auth("market-regulation")
    statuses: list[int] = []
    unavailable: list[httpx.Response] = []
    issued: dict[str, str] = {}  # idempotency key -> certificate id
    lock = threading.Lock()
    stop = threading.Event()

    def record(r: httpx.Response) -> None:
        with lock:
            statuses.append(r.status_code)
            if r.status_code == 503:
                unavailable.append(r)

    def issuer() -> None:
        with server.client() as c:
            while not stop.is_set():
                key, body = uuid.uuid4().hex, data()
                # Retried with the same key until answered: what a careful client does.
                while True:
                    try:
                        r = c.post(
                            "/api/v1/certificates",
                            headers={**auth, "Idempotency-Key": key},
                            json={"type": "business-licence", "data": body},
                        )
                    except httpx.TransportError:
                        time.sleep(0.2)
                        continue
                    record(r)
                    if r.status_code == 201:
                        with lock:
                            issued[key] = r.json()["id"]
                        break
                    assert r.status_code == 503, r.text
                    time.sleep(0.2)

    def reader() -> None:
        with server.client() as c:
            while not stop.is_set():
                with lock:
                    ids = list(issued.values())
                for path in (
                    "/api/v1/agreements",
                    *(f"/api/v1/certificates/{i}" for i in ids[-3:]),
                ):
                    with contextlib.suppress(httpx.TransportError):
                        record(c.get(path, headers=auth))
                time.sleep(0.02)

    threads = [threading.Thread(target=f) for f in (issuer, issuer, reader)]
    try:
        for t in threads:
            t.start()
        time.sleep(3)
        own_postgres.stop(fast=True)  # connections cut, transactions in flight rolled back
        time.sleep(3)
        own_postgres.boot()
        recovered_from = len(statuses)
        time.sleep(6)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    try:
        assert 500 not in statuses and all(s in (200, 201, 503) for s in statuses), statuses
        assert unavailable, "no request met the outage"
        for r in unavailable:
            detail = r.json()["detail"]
            assert detail["code"] in ("STORE_UNAVAILABLE", "AUDIT_UNAVAILABLE"), detail
            assert detail["message"]["zh"] and detail["message"]["en"]
            assert "password" not in r.text and url not in r.text
        # Recovered by itself: the last answers are all successes.
        tail = statuses[recovered_from:][-20:]
        assert tail and all(s in (200, 201) for s in tail), tail
        with server.client() as c:
            after = c.post(
                "/api/v1/certificates",
                headers=auth,
                json={"type": "business-licence", "data": data()},
            )
            assert after.status_code == 201, after.text
            issued["after"] = after.json()["id"]
            # Nothing half-written: one certificate per answered request, every one complete.
            deadline = time.monotonic() + 60
            while True:
                with psycopg.connect(url) as conn:
                    rows = conn.execute(
                        "SELECT id, state, pdf IS NOT NULL FROM certificates"
                    ).fetchall()
                if all(state == "anchored" for _, state, _ in rows) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        assert sorted(r[0] for r in rows) == sorted(issued.values())
        assert all(state == "anchored" and has_pdf for _, state, has_pdf in rows), rows
    finally:
        stop_server(server)
    for check in (("audit", "verify", "--json"), ("ledger", "verify", "--json")):
        proc = dep.cli(*check)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["ok"] is True
