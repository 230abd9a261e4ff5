"""The command line: verify exit codes, crash safety between sealing and anchoring, ledger
tamper detection and an unreachable ledger."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.tamper import append_visible_content

from .conftest import (
    CLI,
    CRASHING_CLI,
    Deployment,
    example,
    issue_batch_args,
    licence_name_field,
    licence_row,
    make_deployment,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cli_dep(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return make_deployment(tmp_path_factory.mktemp("cli") / "home")


def _issue(
    dep: Deployment,
    catalogue: list[dict[str, Any]],
    tmp: Path,
    *,
    crash: bool = False,
    **env: str,
) -> Any:
    data = tmp / "data.json"
    data.write_text(
        json.dumps(example(catalogue, "road-transport-permit"), ensure_ascii=False), "utf-8"
    )
    out = tmp / "permit.pdf"
    program = CRASHING_CLI if crash else CLI
    return dep.issue_permit(data, out, extra_env=env, program=program), out


def test_verify_exit_codes(
    cli_dep: Deployment, catalogue: list[dict[str, Any]], tmp_path: Path
) -> None:
    proc, out = _issue(cli_dep, catalogue, tmp_path)
    assert proc.returncode == 0, proc.stderr
    ok = cli_dep.cli("verify", str(out), "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["verdict"] == "VALID"

    changed = tmp_path / "changed.pdf"
    changed.write_bytes(append_visible_content(out.read_bytes()))
    bad = cli_dep.cli("verify", str(changed))
    assert bad.returncode == 1
    assert "INVALID" in bad.stdout

    for name, content in [("empty.pdf", b""), ("notes.txt", b"not a pdf at all")]:
        f = tmp_path / name
        f.write_bytes(content)
        r = cli_dep.cli("verify", str(f))
        assert r.returncode >= 3, r.stdout
        assert "Traceback" not in r.stderr and r.stderr.strip()
    missing = cli_dep.cli("verify", str(tmp_path / "nope.pdf"))
    assert missing.returncode >= 3 and "Traceback" not in missing.stderr


def test_bad_issue_input_exits_nonzero_with_reason(cli_dep: Deployment, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", "utf-8")
    r = cli_dep.issue_permit(bad, tmp_path / "x.pdf")
    assert r.returncode >= 3 and "not valid JSON" in r.stderr and "Traceback" not in r.stderr
    empty = tmp_path / "empty.json"
    empty.write_text("{}", "utf-8")
    r = cli_dep.issue_permit(empty, tmp_path / "x.pdf")
    assert r.returncode >= 3 and "Traceback" not in r.stderr
    assert not (tmp_path / "x.pdf").exists()


def test_wrong_passphrase_is_a_clear_startup_error(
    cli_dep: Deployment, catalogue: list[dict[str, Any]], tmp_path: Path
) -> None:
    proc, _ = _issue(cli_dep, catalogue, tmp_path, CERTLEDGER_PASSPHRASE="wrong passphrase")
    assert proc.returncode >= 3
    assert "passphrase" in proc.stderr and "wrong passphrase" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_crash_between_seal_and_anchor_anchors_exactly_once(
    cli_dep: Deployment, catalogue: list[dict[str, Any]], tmp_path: Path
) -> None:
    proc, out = _issue(cli_dep, catalogue, tmp_path, crash=True)
    assert proc.returncode == 137  # died right after storing the sealed certificate
    assert not out.exists()
    with sqlite3.connect(cli_dep.home / "certificates.db") as db:
        (cid, state) = db.execute(
            "SELECT id, state FROM certificates ORDER BY issued_at DESC LIMIT 1"
        ).fetchone()
    assert state == "pending"
    status = cli_dep.cli("status", cid, "--json")
    assert json.loads(status.stdout)["status"] == "pending"

    first = cli_dep.cli("anchor", "--json", check=True)
    assert json.loads(first.stdout)["anchored"] >= 1
    second = cli_dep.cli("anchor", "--json", check=True)
    assert json.loads(second.stdout)["anchored"] == 0

    status = json.loads(cli_dep.cli("status", cid, "--json", check=True).stdout)
    assert status["status"] == "active"
    anchorings = [h for h in status["history"] if h["status"] == "active"]
    assert len(anchorings) == 1
    assert cli_dep.cli("ledger", "verify").returncode == 0


def test_ledger_tampering_is_reported(tmp_path: Path, catalogue: list[dict[str, Any]]) -> None:
    dep = make_deployment(tmp_path / "home")
    proc, _ = _issue(dep, catalogue, tmp_path)
    assert proc.returncode == 0, proc.stderr
    block = json.loads(proc.stdout)["ledger"]["block"]
    assert dep.cli("ledger", "verify").returncode == 0
    with sqlite3.connect(dep.home / "ledger.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "writes" in tables
        cols = [r[1] for r in db.execute("PRAGMA table_info(writes)")]
        value_col = "value" if "value" in cols else next(c for c in cols if "value" in c)
        block_col = next(c for c in cols if "block" in c)
        n = db.execute(
            f"UPDATE writes SET {value_col} = replace({value_col}, 'active', 'revoked') "
            f"WHERE {block_col} = ?",
            (block,),
        ).rowcount
        assert n >= 1
    r = dep.cli("ledger", "verify")
    assert r.returncode == 1
    assert f"block {block}" in r.stderr


def test_unreachable_ledger_is_indeterminate(
    tmp_path: Path, catalogue: list[dict[str, Any]]
) -> None:
    dep = make_deployment(tmp_path / "home")
    proc, out = _issue(dep, catalogue, tmp_path)
    assert proc.returncode == 0, proc.stderr
    shutil.move(dep.home / "ledger.db", tmp_path / "ledger.db.away")
    r = dep.cli("verify", str(out), "--json")
    assert r.returncode == 2, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["verdict"] == "INDETERMINATE"
    ledger_checks = [c for c in report["checks"] if c["code"] == "LEDGER_ANCHORED"]
    assert ledger_checks and ledger_checks[0]["verdict"] == "INDETERMINATE"


def test_issue_batch_from_csv(
    cli_dep: Deployment, catalogue: list[dict[str, Any]], tmp_path: Path
) -> None:
    import csv

    data = example(catalogue, "business-licence")
    name_field = licence_name_field(catalogue)
    csv_file = tmp_path / "batch.csv"
    with csv_file.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(data))
        w.writeheader()
        for n in range(12):
            row = licence_row(catalogue, "cli-batch", n)
            w.writerow({**row, name_field: f"{data[name_field]}第{n}分公司"})
    out_dir = tmp_path / "out"
    r = cli_dep.cli(*issue_batch_args(csv_file, out_dir, "--json", workers=2))
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)
    assert len(results) == 12 and all(x["status"] == "active" for x in results)
    assert "issuing" in r.stderr  # the progress bar
    pdfs = sorted(out_dir.glob("*.pdf"))
    assert len(pdfs) == 12
    v = cli_dep.cli("verify", str(pdfs[5]), "--json")
    assert v.returncode == 0 and json.loads(v.stdout)["verdict"] == "VALID"
    # One ledger transaction for the whole batch.
    blocks = {
        json.loads(cli_dep.cli("status", x["id"], "--json").stdout)["ledger"]["tx_id"]
        for x in results[:3]
    }
    assert len(blocks) == 1

    # A bad row: nothing issued, the row and field named.
    with csv_file.open("a", newline="", encoding="utf-8") as fh:
        csv.DictWriter(fh, fieldnames=list(data)).writerow({**data, name_field: ""})
    before = len(list(out_dir.glob("*.pdf")))
    bad = cli_dep.cli(*issue_batch_args(csv_file, out_dir, workers=None))
    assert bad.returncode >= 3
    assert "row 13" in bad.stderr and name_field in bad.stderr
    assert len(list(out_dir.glob("*.pdf"))) == before


def test_a_second_permit_is_refused_and_reissue_supersedes(
    cli_dep: Deployment, catalogue: list[dict[str, Any]], tmp_path: Path
) -> None:
    proc, out = _issue(cli_dep, catalogue, tmp_path)
    assert proc.returncode == 0, proc.stderr
    first = json.loads(proc.stdout)["id"]
    data = tmp_path / "data.json"
    # The same licence number again: refused, naming the active permit, in both languages.
    again = cli_dep.issue_permit(data, tmp_path / "again.pdf")
    assert again.returncode == 4 and not (tmp_path / "again.pdf").exists()
    assert first in again.stderr and "re-issue" in again.stderr and "补发" in again.stderr
    assert "Traceback" not in again.stderr
    # The correction: the next version of the number, superseding the first.
    corrected = {**json.loads(data.read_text("utf-8")), "address": "广东省深圳市更正路2号"}
    data.write_text(json.dumps(corrected, ensure_ascii=False), "utf-8")
    done = cli_dep.cli(
        "reissue",
        first,
        "--agency",
        "transport",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "v2.pdf"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    new = json.loads(done.stdout)
    assert new["supersedes"] == first and new["id"].split("-")[4] == "02"
    assert (tmp_path / "v2.pdf").read_bytes().startswith(b"%PDF")
    old = json.loads(cli_dep.cli("status", first, "--json", check=True).stdout)
    assert old["status"] == "revoked" and new["id"] in old["reason"]
    assert cli_dep.cli("verify", str(out), "--json").returncode == 1  # the old paper: INVALID
    assert cli_dep.cli("verify", str(tmp_path / "v2.pdf"), "--json").returncode == 0
    # A superseded version is not re-issued again.
    twice = cli_dep.cli(
        "reissue",
        first,
        "--agency",
        "transport",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "v3.pdf"),
    )
    assert twice.returncode == 4 and "revoked" in twice.stderr
