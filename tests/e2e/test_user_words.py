"""What people are told, on a real server and through the real command line: a verification
report says its verdict first with a one-line reason and what the ledger status means; every
Chinese message is Chinese through and through (no English fragment from the layers below);
a revoke without a body names ``reason``; the command line's reports are readable in zh and
en; and a final revocation is never made without a confirmation."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.tamper import append_visible_content

from .conftest import CLI, ROOT, Deployment, Server

pytestmark = pytest.mark.e2e

# ASCII words a Chinese sentence may hold: the file format's name.
_ALLOWED = {"PDF"}


def _english_in(zh: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z_]{2,}", zh) if w not in _ALLOWED]


def _cli(dep: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    """The command with stdin not a terminal (as in a script or a pipe)."""
    return subprocess.run(
        [*CLI, *args],
        env=dict(dep.env, PYTHONPATH=ROOT),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _status(server: Server, cert_id: str) -> str:
    with server.client() as c:
        return str(c.get(f"/api/v1/certificates/{cert_id}").json()["status"])


def _verify(server: Server, pdf: bytes) -> dict[str, Any]:
    with server.client() as c:
        r = c.post("/api/v1/verify", files={"file": ("c.pdf", pdf, "application/pdf")})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _change(server: Server, cert_id: str, action: str, **kw: Any) -> Any:
    with server.client() as c:
        return c.post(
            f"/api/v1/certificates/{cert_id}/{action}",
            headers=server.deployment.auth("market-regulation"),
            **kw,
        )


def test_a_revoke_without_a_body_names_reason(server: Server, issued: dict[str, Any]) -> None:
    for kw in ({}, {"json": {}}):
        r = _change(server, issued["id"], "revoke", **kw)
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert detail["code"] == "INVALID_REQUEST"
        assert [e["field"] for e in detail["errors"]] == ["reason"], detail
        assert all(e["message"]["zh"] and e["message"]["en"] for e in detail["errors"])
        assert not _english_in(detail["errors"][0]["message"]["zh"])
    assert _status(server, issued["id"]) == "active"  # nothing changed


def test_unreadable_uploads_are_refused_in_chinese_words(server: Server) -> None:
    for content in (b"not a pdf at all", b"%PDF-1.7\nthis is not really a PDF\n"):
        with server.client() as c:
            r = c.post("/api/v1/verify", files={"file": ("x.pdf", content)})
        assert r.status_code == 400, r.text
        detail = r.json()["detail"]
        assert detail["code"] == "UNREADABLE_PDF" and detail["reason"] in {"NOT_PDF", "MALFORMED"}
        zh, en = detail["message"]["zh"], detail["message"]["en"]
        assert zh and not _english_in(zh), zh
        # The checker's own words ("no %PDF header", pyHanko's) are not repeated to people.
        assert "%PDF" not in zh + en and "header" not in en


def test_refused_status_changes_are_said_in_chinese_words(
    server: Server, issued: dict[str, Any]
) -> None:
    cid = issued["id"]
    assert _change(server, cid, "suspend", json={"reason": "年检"}).status_code == 200
    twice = _change(server, cid, "suspend", json={"reason": "again"})
    assert twice.status_code == 409
    detail = twice.json()["detail"]
    assert detail["reason"] == "INVALID_TRANSITION"
    assert not _english_in(detail["message"]["zh"]) and "suspended" in detail["message"]["en"]
    assert _change(server, cid, "revoke", json={"reason": "注销"}).status_code == 200
    again = _change(server, cid, "revoke", json={"reason": "again"})
    assert again.status_code == 409
    detail = again.json()["detail"]
    assert detail["reason"] == "ALREADY_REVOKED" and "ALREADY_REVOKED" not in str(detail["message"])
    assert not _english_in(detail["message"]["zh"]) and "final" in detail["message"]["en"]


def test_the_report_puts_the_verdict_and_its_reason_first(
    server: Server, issued: dict[str, Any]
) -> None:
    good = _verify(server, issued["pdf"])
    assert list(good)[:2] == ["verdict", "reason"]
    assert good["verdict"] == "VALID" and "genuine and in force" in good["reason"]["en"].lower()
    assert good["certificate"]["ledger_status"]["code"] == "active"

    # Tampered: still "active" on the ledger, and the report says that does not save it.
    bad = _verify(server, append_visible_content(issued["pdf"]))
    assert bad["verdict"] == "INVALID"
    failed = [c for c in bad["checks"] if c["verdict"] == "FAILED"]
    assert bad["reason"] == failed[0]["message"]
    meaning = bad["certificate"]["ledger_status"]
    assert meaning["code"] == "active" and bad["certificate"]["status"] == "active"
    assert "does not make the document valid" in meaning["message"]["en"]
    assert "未通过核验" in meaning["message"]["zh"]

    assert _change(server, issued["id"], "revoke", json={"reason": "营业执照已注销"}).is_success
    revoked = _verify(server, issued["pdf"])
    assert revoked["verdict"] == "INVALID" and "营业执照已注销" in revoked["reason"]["zh"]
    assert revoked["certificate"]["ledger_status"]["code"] == "revoked"
    assert all(not _english_in(c["message"]["zh"]) for c in revoked["checks"]), revoked


def test_cli_revoke_without_yes_on_a_pipe_revokes_nothing(
    server: Server, issued: dict[str, Any]
) -> None:
    dep = server.deployment
    cid = issued["id"]
    refused = _cli(dep, "revoke", cid, "--reason", "closed")
    assert refused.returncode != 0
    assert "--yes" in refused.stderr and "撤销是最终的" in refused.stderr
    assert "Traceback" not in refused.stderr
    refused_en = _cli(dep, "revoke", cid, "--reason", "closed", "--lang", "en")
    assert refused_en.returncode != 0 and "revocation is final" in refused_en.stderr
    assert _status(server, cid) == "active"
    # Answered "no" at the prompt's place: still nothing.
    no = subprocess.run(
        [*CLI, "revoke", cid, "--reason", "closed"],
        env=dict(dep.env, PYTHONPATH=ROOT),
        input="n\n",
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert no.returncode != 0 and _status(server, cid) == "active"

    done = _cli(dep, "revoke", cid, "--reason", "closed", "--yes")
    assert done.returncode == 0, done.stderr
    assert "已撤销" in done.stdout and _status(server, cid) == "revoked"
    again = _cli(dep, "revoke", cid, "--reason", "again", "--yes")
    assert again.returncode != 0
    said = again.stderr.removeprefix("error: ").strip()
    assert "撤销是最终的" in said and not _english_in(said), said


def test_cli_status_is_a_readable_report(server: Server, issued: dict[str, Any]) -> None:
    dep = server.deployment
    cid = issued["id"]
    assert _change(server, cid, "suspend", json={"reason": "年检未通过"}).is_success
    zh = _cli(dep, "status", cid)
    assert zh.returncode == 0, zh.stderr
    assert "{'" not in zh.stdout and "':" not in zh.stdout  # no dict reprs
    first = zh.stdout.splitlines()[0]
    assert first == f"{cid}：已暂停（年检未通过）"
    assert "营业执照" in zh.stdout and "北京时间" in zh.stdout and "区块" in zh.stdout
    en = _cli(dep, "status", cid, "--lang", "en")
    assert en.returncode == 0 and en.stdout.splitlines()[0] == f"{cid}: suspended (年检未通过)"
    assert "Business licence" in en.stdout or "business licence" in en.stdout.lower()
    assert "Beijing time (UTC+8)" in en.stdout
    machine = json.loads(_cli(dep, "status", cid, "--json").stdout)
    assert machine["status"] == "suspended" and machine["reason"] == "年检未通过"
    bad_lang = _cli(dep, "status", cid, "--lang", "fr")
    assert bad_lang.returncode != 0 and "Traceback" not in bad_lang.stderr


def test_cli_verify_speaks_zh_and_en(
    server: Server, issued: dict[str, Any], tmp_path: Path
) -> None:
    dep = server.deployment
    pdf = tmp_path / "licence.pdf"
    pdf.write_bytes(issued["pdf"])
    zh = _cli(dep, "verify", str(pdf))
    assert zh.returncode == 0, zh.stderr
    lines = zh.stdout.splitlines()
    assert lines[0] == "VALID  证照有效" and lines[1].startswith("原因：证照真实有效")
    en = _cli(dep, "verify", str(pdf), "--lang", "en")
    assert en.returncode == 0
    lines = en.stdout.splitlines()
    assert lines[0] == "VALID  Certificate is valid"
    assert lines[1].startswith("Reason: Genuine and in force")
    assert all("✔ passed" in ln for ln in lines if ln.startswith("  "))

    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(append_visible_content(issued["pdf"]))
    bad = _cli(dep, "verify", str(tampered))
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert lines[0] == "INVALID  证照无效" and "签章后文件被修改" in lines[1]
    checks = [ln for ln in lines if ln.startswith("  ")]
    assert checks[0].startswith("  ✖ 未通过")  # the failing check first
    assert any("但本文件未通过核验" in ln for ln in lines)  # "active" explained

    junk = tmp_path / "notes.pdf"
    junk.write_bytes(b"not a pdf at all")
    unreadable = _cli(dep, "verify", str(junk))
    assert unreadable.returncode >= 3
    said = unreadable.stderr.split(f"{junk}: ", 1)[1].strip()
    assert said and not _english_in(said), said


def test_a_type_the_agency_does_not_issue_is_refused_in_chinese_words(server: Server) -> None:
    with server.client() as c:
        for cert_type in ("road-transport-permit", "no-such-type"):
            r = c.post(
                "/api/v1/certificates",
                headers=server.deployment.auth("market-regulation"),
                json={"type": cert_type, "data": {}},
            )
            assert r.status_code in (403, 422), r.text
            message = r.json()["detail"]["message"]
            assert message["zh"] and not _english_in(message["zh"]), message
            assert message["en"]
