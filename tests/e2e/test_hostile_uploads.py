"""Hostile uploads against a real server: each is refused within seconds with a 4xx and a
reason, the sandbox workers stay under their memory limit, the server keeps answering (a
genuine certificate verifies VALID during the attack) and keeps no memory afterwards.

The documents are generated here (tests.hostile), each a genuine sealed certificate with raw
incremental updates appended: a million empty arrays in the catalog, deflate bombs of a GiB
in the DSS's OCSP/CRL/certificate streams and in page content, a thousand revisions, arrays
nested 50,000 deep. Before the sandbox and the caps the first took 10 s and 1 GB of the
server's memory and kept it; the revisions came back VALID.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import hostile

from .conftest import Server, example, make_deployment, start_server, stop_server

pytestmark = pytest.mark.e2e

GiB = 1 << 30
MiB = 1 << 20

HOSTILE: dict[str, tuple[Callable[[bytes], bytes], int, str]] = {
    # name: (make it from a genuine PDF, expected status, expected limit)
    "many-small-objects": (lambda g: hostile.many_small_objects(g, 1_000_000), 422, "structure"),
    "dss-deflate-bomb": (lambda g: hostile.dss_deflate_bomb(g, GiB), 413, "decoded_bytes"),
    "page-content-bomb": (lambda g: hostile.page_content_bomb(g, GiB), 413, "decoded_bytes"),
    "thousand-revisions": (lambda g: hostile.many_revisions(g, 1000), 422, "revisions"),
    "deep-nesting": (lambda g: hostile.deep_nesting(g, 50_000), 422, "nesting"),
}


@pytest.fixture(scope="module")
def attacked(
    tmp_path_factory: pytest.TempPathFactory, catalogue: list[dict[str, Any]]
) -> Iterator[tuple[Server, bytes]]:
    dep = make_deployment(tmp_path_factory.mktemp("hostile") / "home")
    server = start_server(dep, {"CERTLEDGER_VERIFY_WORKERS": "2"})
    try:
        with server.client() as c:
            auth = dep.auth("market-regulation")
            r = c.post(
                "/api/v1/certificates",
                headers=auth,
                json={"type": "business-licence", "data": example(catalogue, "business-licence")},
            )
            assert r.status_code == 201, r.text
            pdf = c.get(r.json()["pdf_url"], headers=auth).content
        yield server, pdf
    finally:
        stop_server(server)


def _verify(c: httpx.Client, pdf: bytes) -> httpx.Response:
    return c.post("/api/v1/verify", files={"file": ("doc.pdf", pdf, "application/pdf")})


def _status(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _kib(value: str) -> int:
    return int(value.split()[0])


def _sandbox_workers(server_pid: int) -> list[int]:
    """The server's verification workers: its children started by multiprocessing."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == server_pid and b"multiprocessing" in cmdline:
            found.append(int(entry))
    return found


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_upload_is_refused_with_a_reason(attacked: tuple[Server, bytes], name: str) -> None:
    server, genuine = attacked
    make, status, limit = HOSTILE[name]
    document = make(genuine)
    assert len(document) < 20 * MiB  # under the upload limit: only the caps can refuse it
    with server.client() as c:
        started = time.monotonic()
        r = _verify(c, document)
        elapsed = time.monotonic() - started
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "DOCUMENT_REFUSED"
    assert detail["limit"] == limit
    assert detail["message"]["zh"] and detail["message"]["en"]
    assert "verdict" not in r.json()
    assert elapsed < 10, f"{name} took {elapsed:.1f} s"


def test_the_server_keeps_serving_and_keeps_no_memory(attacked: tuple[Server, bytes]) -> None:
    server, genuine = attacked
    with server.client() as c:
        assert _verify(c, genuine).json()["verdict"] == "VALID"  # workers started
    server_rss_before = _kib(_status(server.proc.pid)["VmRSS"])
    documents = [make(genuine) for make, _s, _l in HOSTILE.values()]

    answers: list[int] = []

    def attack() -> None:
        with server.client() as c:
            for _ in range(3):
                for document in documents:
                    answers.append(_verify(c, document).status_code)

    attackers = [threading.Thread(target=attack) for _ in range(2)]
    for t in attackers:
        t.start()
    genuine_verdicts = []
    with server.client() as c:
        while any(t.is_alive() for t in attackers):
            genuine_verdicts.append(_verify(c, genuine).json()["verdict"])
            assert c.get("/healthz").status_code == 200
    for t in attackers:
        t.join()

    assert answers and all(s in (413, 422) for s in answers), answers
    assert genuine_verdicts and set(genuine_verdicts) == {"VALID"}, genuine_verdicts
    # The server process parsed none of it: its memory did not grow with the attack.
    server_rss_after = _kib(_status(server.proc.pid)["VmRSS"])
    assert server_rss_after - server_rss_before < 100 * 1024, (
        server_rss_before,
        server_rss_after,
    )
    workers = _sandbox_workers(server.proc.pid)
    assert workers, "no sandbox worker found"
    for pid in workers:
        status = _status(pid)
        # Peak resident memory of each worker, over the whole attack: far below the 768 MiB
        # it may add, and now back near where a worker starts.
        assert _kib(status["VmHWM"]) < 512 * 1024, status["VmHWM"]
        assert _kib(status["VmRSS"]) < 320 * 1024, status["VmRSS"]
