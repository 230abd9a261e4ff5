"""The core chain over HTTP against a real server: issue -> seal -> anchor -> verify, tampering,
revocation, foreign roots, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.tamper import add_annotation, append_visible_content, flip_byte_in_first_stream

from .conftest import Deployment, Server, example, field_of_kind, make_deployment

pytestmark = pytest.mark.e2e


def verify(server: Server, pdf: bytes, name: str = "certificate.pdf") -> Any:
    with server.client() as c:
        r = c.post("/api/v1/verify", files={"file": (name, pdf, "application/pdf")})
    assert r.status_code == 200, r.text
    return r.json()


def count_rows(dep: Deployment) -> int:
    import sqlite3

    with sqlite3.connect(dep.home / "certificates.db") as db:
        return int(db.execute("SELECT count(*) FROM certificates").fetchone()[0])


def check(report: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["code"] == code)


def test_issued_certificate_verifies_valid(server: Server, issued: dict[str, Any]) -> None:
    report = verify(server, issued["pdf"])
    assert report["verdict"] == "VALID", report
    assert all(c["verdict"] == "PASSED" for c in report["checks"])
    codes = {c["code"] for c in report["checks"]}
    assert {
        "SEAL_INTACT",
        "SEAL_TRUSTED",
        "TIMESTAMP_VALID",
        "NO_CHANGE_AFTER_SEAL",
        "LEDGER_ANCHORED",
        "SIGNER_IS_ISSUER",
        "NOT_REVOKED",
        "NOT_EXPIRED",
    } <= codes
    for c in report["checks"]:
        assert c["message"]["zh"] and c["message"]["en"]
    cert = report["certificate"]
    assert cert["id"] == issued["id"]
    assert cert["type"] == "business-licence"
    assert cert["issuer"] == "market-regulation"
    assert cert["status"] == "active"
    assert report["ledger"]["backend"] == "embedded"
    assert report["ledger"]["block"] == issued["ledger"]["block"]
    assert report["ledger"]["tx_id"] == issued["ledger"]["tx_id"]


def test_flipped_byte_is_invalid(server: Server, issued: dict[str, Any]) -> None:
    report = verify(server, flip_byte_in_first_stream(issued["pdf"]))
    assert report["verdict"] == "INVALID"
    assert check(report, "SEAL_INTACT")["verdict"] == "FAILED"


def test_incremental_update_with_visible_change_is_invalid(
    server: Server, issued: dict[str, Any]
) -> None:
    report = verify(server, append_visible_content(issued["pdf"]))
    assert report["verdict"] == "INVALID"
    assert check(report, "NO_CHANGE_AFTER_SEAL")["verdict"] == "FAILED"
    # The seal itself still covers its own revision: the failure is the later change.
    assert check(report, "SEAL_INTACT")["verdict"] == "PASSED"
    assert check(report, "LEDGER_ANCHORED")["verdict"] == "PASSED"


def test_added_annotation_is_invalid(server: Server, issued: dict[str, Any]) -> None:
    report = verify(server, add_annotation(issued["pdf"]))
    assert report["verdict"] == "INVALID"
    assert check(report, "NO_CHANGE_AFTER_SEAL")["verdict"] == "FAILED"


def test_revoked_certificate_is_invalid_with_reason(server: Server, issued: dict[str, Any]) -> None:
    dep = server.deployment
    with server.client() as c:
        r = c.post(
            f"/api/v1/certificates/{issued['id']}/revoke",
            headers=dep.auth("market-regulation"),
            json={"reason": "营业执照被吊销 licence withdrawn"},
        )
        assert r.status_code == 200, r.text
        status = c.get(f"/api/v1/certificates/{issued['id']}").json()
        assert status["status"] == "revoked"
        assert status["status_reason"] == "营业执照被吊销 licence withdrawn"
        again = c.post(
            f"/api/v1/certificates/{issued['id']}/revoke",
            headers=dep.auth("market-regulation"),
            json={"reason": "twice"},
        )
        assert again.status_code == 409
    report = verify(server, issued["pdf"])
    assert report["verdict"] == "INVALID"
    not_revoked = check(report, "NOT_REVOKED")
    assert not_revoked["verdict"] == "FAILED"
    assert "licence withdrawn" in not_revoked["message"]["en"]
    assert report["certificate"]["status"] == "revoked"


def test_certificate_from_a_foreign_root_is_not_valid(
    server: Server, tmp_path_factory: pytest.TempPathFactory, catalogue: list[dict[str, Any]]
) -> None:
    other: Deployment = make_deployment(tmp_path_factory.mktemp("foreign") / "home")
    data = tmp_path_factory.mktemp("foreign-data") / "data.json"
    import json

    data.write_text(json.dumps(example(catalogue, "business-licence"), ensure_ascii=False), "utf-8")
    out = data.with_name("foreign.pdf")
    other.cli(
        "issue",
        "--agency",
        "market-regulation",
        "--type",
        "business-licence",
        "--data",
        str(data),
        "--out",
        str(out),
        check=True,
    )
    report = verify(server, out.read_bytes())
    assert report["verdict"] != "VALID"
    assert check(report, "SEAL_TRUSTED")["verdict"] != "PASSED"


def test_public_status_shows_no_personal_data(
    server: Server, catalogue: list[dict[str, Any]]
) -> None:
    dep = server.deployment
    data = example(catalogue, "qualification-certificate")
    id_field = field_of_kind(catalogue, "qualification-certificate", "resident-id")
    with server.client() as c:
        r = c.post(
            "/api/v1/certificates",
            headers=dep.auth("human-resources"),
            json={"type": "qualification-certificate", "data": data},
        )
        assert r.status_code == 201, r.text
        status = c.get(f"/api/v1/certificates/{r.json()['id']}")
    assert status.status_code == 200
    text = status.text
    assert data[id_field] not in text
    assert data[id_field][-4:] not in text
    name_field = next(
        k
        for k, v in data.items()
        if isinstance(v, str) and 2 <= len(v) <= 4 and k != id_field and "name" in k
    )
    assert data[name_field] not in text
    assert "*" in status.json()["subject"]


# -- bad input ---------------------------------------------------------------------------------


def test_invalid_data_is_422_with_field_and_nothing_stored(
    server: Server, catalogue: list[dict[str, Any]]
) -> None:
    dep = server.deployment
    data = example(catalogue, "business-licence")
    uscc = field_of_kind(catalogue, "business-licence", "uscc")
    good = data[uscc]
    # Change the check character to a different valid-looking one.
    data[uscc] = good[:-1] + ("0" if good[-1] != "0" else "1")
    before = count_rows(dep)
    with server.client() as c:
        r = c.post(
            "/api/v1/certificates",
            headers=dep.auth("market-regulation"),
            json={"type": "business-licence", "data": data},
        )
    assert r.status_code == 422
    detail = r.json()["detail"]
    fields = {e["field"] for e in detail["errors"]}
    assert uscc in fields
    assert all(e["message"]["zh"] and e["message"]["en"] for e in detail["errors"])
    assert count_rows(dep) == before  # nothing stored


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.pdf", b"", 400),
        ("text.pdf", b"hello, this is not a pdf", 400),
        ("truncated.pdf", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", 400),
        ("garbage.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 20, 400),
    ],
)
def test_bad_uploads_are_400(server: Server, name: str, content: bytes, expected: int) -> None:
    with server.client() as c:
        r = c.post("/api/v1/verify", files={"file": (name, content, "application/pdf")})
    assert r.status_code == expected, r.text
    detail = r.json()["detail"]
    assert detail["message"]["en"] and detail["message"]["zh"]
    assert "Traceback" not in r.text


def test_truncated_certificate_is_400(server: Server, issued: dict[str, Any]) -> None:
    with server.client() as c:
        r = c.post(
            "/api/v1/verify", files={"file": ("cut.pdf", issued["pdf"][: len(issued["pdf"]) // 2])}
        )
    assert r.status_code == 400, r.text


def test_oversized_upload_is_413(server: Server) -> None:
    big = b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024)
    with server.client() as c:
        r = c.post("/api/v1/verify", files={"file": ("big.pdf", big, "application/pdf")})
    assert r.status_code == 413
    assert r.json()["detail"]["code"] == "UPLOAD_TOO_LARGE"


def test_oversized_chunked_upload_is_413(server: Server) -> None:
    """No Content-Length to refuse up front: the limit is counted as the chunks arrive, and
    the answer is still 413 (it used to be 400 "error parsing the body")."""
    boundary = "certledger-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.7\n"
    ).encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(48):  # 3 MiB against the server's 2 MiB limit
            yield b"0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    with server.client() as c:
        r = c.post(
            "/api/v1/verify",
            content=chunks(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert r.status_code == 413, r.text
    assert r.json()["detail"]["code"] == "UPLOAD_TOO_LARGE"
    # It really was sent without a length.
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in r.request.headers


def test_unknown_id_is_404(server: Server) -> None:
    with server.client() as c:
        assert c.get("/api/v1/certificates/BL-MR-2026-99999999-01-0").status_code == 404
        assert c.get("/api/v1/certificates/not-an-id").status_code == 404
        r = c.post(
            "/api/v1/certificates/not-an-id/revoke",
            json={"reason": "x"},
            headers=server.deployment.auth("market-regulation"),
        )
        assert r.status_code == 404


def test_agency_tokens(
    server: Server, issued: dict[str, Any], catalogue: list[dict[str, Any]]
) -> None:
    dep = server.deployment
    body = {"type": "business-licence", "data": example(catalogue, "business-licence")}
    with server.client() as c:
        assert c.post("/api/v1/certificates", json=body).status_code == 401
        wrong = {"Authorization": "Bearer clt_market-regulation_wrong"}
        assert c.post("/api/v1/certificates", json=body, headers=wrong).status_code == 401
        # A real token of another agency: authenticated, but not allowed to do this.
        r = c.post("/api/v1/certificates", json=body, headers=dep.auth("transport"))
        assert r.status_code == 403
        r = c.post(
            f"/api/v1/certificates/{issued['id']}/revoke",
            json={"reason": "not mine"},
            headers=dep.auth("transport"),
        )
        assert r.status_code == 403
        assert c.get(f"/api/v1/certificates/{issued['id']}").json()["status"] == "active"


def test_api_docs_come_from_the_service_itself(server: Server) -> None:
    """The running server's /docs loads Swagger UI from its own static files, no CDN."""
    with server.client() as c:
        page = c.get("/docs")
        assert page.status_code == 200
        assert "http://" not in page.text and "https://" not in page.text
        assert "/docs/static/swagger-ui-bundle.js" in page.text
        js = c.get("/docs/static/swagger-ui-bundle.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        assert c.get("/redoc").status_code == 404
