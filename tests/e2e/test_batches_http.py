"""Batch issuance and idempotency keys over HTTP, against a real server on a free port: a CSV
with bad rows is issued in part, its progress reaches 100 %, its rows name data row and file
line, and its ZIP holds exactly the issued PDFs, each of which verifies."""

from __future__ import annotations

import csv
import io
import time
import zipfile
from typing import Any

import httpx
import pytest

from .conftest import Server, example, licence_row

pytestmark = pytest.mark.e2e

MR = "market-regulation"


def _name_field(catalogue: list[dict[str, Any]]) -> str:
    fields = next(t for t in catalogue if t["code"] == "business-licence")["fields"]
    return str(next(f["name"] for f in fields if f["label_en"].lower() == "name"))


def _csv(catalogue: list[dict[str, Any]], n: int, bad: set[int], tag: str) -> bytes:
    data = example(catalogue, "business-licence")
    name = _name_field(catalogue)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(data))
    w.writeheader()
    for row in range(1, n + 1):
        values = licence_row(catalogue, f"http/{tag}", row)
        w.writerow({**values, name: "" if row in bad else f"{data[name]}{tag}第{row}分公司"})
    return buf.getvalue().encode()


def _submit(c: httpx.Client, server: Server, content: bytes, **headers: str) -> httpx.Response:
    return c.post(
        "/api/v1/batches",
        headers={**server.deployment.auth(MR), **headers},
        files={"file": ("licences.csv", content, "text/csv")},
        data={"type": "business-licence"},
    )


def _wait_done(c: httpx.Client, server: Server, url: str) -> list[int]:
    percents = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        r = c.get(url, headers=server.deployment.auth(MR))
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        percents.append(r.json()["percent"])
        if r.json()["done"]:
            return percents
        time.sleep(0.3)
    raise AssertionError(f"the batch did not finish: {percents[-5:]}")


def test_http_batch_issues_the_valid_rows_and_serves_the_results(
    server: Server, catalogue: list[dict[str, Any]]
) -> None:
    content = _csv(catalogue, 24, {5, 12, 20}, "HTTP")
    with server.client() as c:
        r = _submit(c, server, content)
        assert r.status_code == 202, r.text
        assert r.headers["cache-control"] == "no-store"
        batch = r.json()
        assert (batch["total"], batch["failed"]) == (24, 3)
        assert batch["state"] in ("queued", "running", "done")
        assert r.headers["location"] == batch["links"]["self"]

        percents = _wait_done(c, server, batch["links"]["self"])
        assert percents == sorted(percents) and percents[-1] == 100
        final = c.get(batch["links"]["self"], headers=server.deployment.auth(MR)).json()
        assert (final["issued"], final["failed"], final["state"]) == (21, 3, "done")

        r = c.get(batch["links"]["rows"], headers=server.deployment.auth(MR))
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        rows = r.json()["rows"]
        assert [(x["row"], x["line"]) for x in rows] == [(n, n + 1) for n in range(1, 25)]
        failed = [x for x in rows if x["status"] == "failed"]
        assert [x["row"] for x in failed] == [5, 12, 20]
        name = _name_field(catalogue)
        for x in failed:
            assert x["id"] is None and x["verify_url"] is None
            assert [e["field"] for e in x["errors"]] == [name]
            assert x["errors"][0]["message"]["zh"] and x["errors"][0]["message"]["en"]
        issued = {x["id"]: x for x in rows if x["status"] == "issued"}
        assert len(issued) == 21
        for cid, x in issued.items():
            assert x["verify_url"].startswith(f"{server.url}/v/{cid}?t=")

        r = c.get(batch["links"]["results"], headers=server.deployment.auth(MR))
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert r.headers["cache-control"] == "no-store"
        archive = zipfile.ZipFile(io.BytesIO(r.content))
        names = set(archive.namelist())
        assert names == {f"{cid}.pdf" for cid in issued} | {"manifest.csv"}
        manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
        assert len(manifest) == 24
        assert {m["id"] for m in manifest if m["status"] == "issued"} == set(issued)
        assert [m["line"] for m in manifest if m["status"] == "failed"] == ["6", "13", "21"]
        for cid in issued:
            v = c.post(
                "/api/v1/verify",
                files={"file": (f"{cid}.pdf", archive.read(f"{cid}.pdf"), "application/pdf")},
            )
            assert v.status_code == 200, v.text
            report = v.json()
            assert report["verdict"] == "VALID", report
            assert cid in v.text

        # The same file again: the same batch, nothing issued twice.
        again = _submit(c, server, content)
        assert again.status_code == 202 and again.json()["id"] == batch["id"]
        assert again.json()["issued"] == 21 and again.json()["done"]
        rows_again = c.get(batch["links"]["rows"], headers=server.deployment.auth(MR)).json()
        assert {x["id"] for x in rows_again["rows"] if x["id"]} == set(issued)


def test_http_batch_refusals(server: Server, catalogue: list[dict[str, Any]]) -> None:
    content = _csv(catalogue, 2, set(), "refusals")
    with server.client() as c:
        r = _submit(c, server, content, **{"Idempotency-Key": "refusal-test-1"})
        assert r.status_code == 202, r.text
        url = r.json()["links"]["self"]
        # Another agency's batch is unknown to them; no credential: 401.
        other = c.get(url, headers=server.deployment.auth("transport"))
        assert other.status_code == 404
        assert other.json()["detail"]["message"]["zh"] and other.json()["detail"]["code"]
        for suffix in ("", "/rows", "/results.zip"):
            assert (
                c.get(url + suffix, headers=server.deployment.auth("transport")).status_code == 404
            )
            assert c.get(url + suffix).status_code == 401
        # The same key with another file.
        reused = _submit(
            c, server, _csv(catalogue, 3, set(), "x"), **{"Idempotency-Key": "refusal-test-1"}
        )
        assert reused.status_code == 409 and reused.json()["detail"]["code"] == "KEY_REUSED"
        # Not a usable CSV at all: refused whole, in both languages.
        bad = _submit(c, server, b"\xff\xfe\x00\x01")
        assert bad.status_code == 400, bad.text
        detail = bad.json()["detail"]
        assert detail["code"] == "BAD_CSV" and "UTF-8" in detail["message"]["en"]
        assert detail["message"]["zh"]
        wrong_type = c.post(
            "/api/v1/batches",
            headers=server.deployment.auth(MR),
            files={"file": ("x.csv", content, "text/csv")},
            data={"type": "road-transport-permit"},
        )
        assert wrong_type.status_code == 403
        _wait_done(c, server, url)


def test_idempotency_key_on_single_issuance(
    server: Server, catalogue: list[dict[str, Any]]
) -> None:
    data = example(catalogue, "business-licence")
    name = _name_field(catalogue)
    body = {"type": "business-licence", "data": {**data, name: f"{data[name]}幂等"}}
    key = {"Idempotency-Key": f"order-{time.time_ns()}"}
    with server.client() as c:
        auth = server.deployment.auth(MR)
        first = c.post("/api/v1/certificates", headers={**auth, **key}, json=body)
        assert first.status_code == 201, first.text
        again = c.post("/api/v1/certificates", headers={**auth, **key}, json=body)
        assert again.status_code in (200, 201), again.text
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["verify_url"] == first.json()["verify_url"]
        pdf1 = c.get(first.json()["pdf_url"], headers=auth).content
        pdf2 = c.get(again.json()["pdf_url"], headers=auth).content
        assert pdf1 == pdf2
        other = {**body, "data": {**body["data"], name: f"{data[name]}另一家"}}
        refused = c.post("/api/v1/certificates", headers={**auth, **key}, json=other)
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert detail["code"] == "IDEMPOTENCY_KEY_REUSED"
        assert detail["message"]["zh"] and "different" in detail["message"]["en"]
        malformed = c.post(
            "/api/v1/certificates", headers={**auth, "Idempotency-Key": "has space"}, json=body
        )
        assert malformed.status_code == 422 and malformed.json()["detail"]["message"]["zh"]
        # Without a key, the same request is a second licence for one company: refused, with
        # the first one's id (one active licence per credit code).
        plain = c.post("/api/v1/certificates", headers=auth, json=body)
        assert plain.status_code == 409, plain.text
        assert plain.json()["detail"]["code"] == "ALREADY_ISSUED"
        assert plain.json()["detail"]["existing_id"] == first.json()["id"]
