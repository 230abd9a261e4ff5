"""`certledger issue-batch` with bad rows (refused whole by default, issued in part with
--skip-invalid, rows named by data row and file line) and `issue --idempotency-key`."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    Deployment,
    example,
    issue_batch_args,
    licence_name_field,
    licence_row,
    make_deployment,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return make_deployment(tmp_path_factory.mktemp("batch-cli") / "home")


def _batch(dep: Deployment, csv_file: Path, out_dir: Path, *more: str) -> Any:
    return dep.cli(*issue_batch_args(csv_file, out_dir, *more))


def test_bad_rows_refused_whole_or_skipped(
    dep: Deployment, catalogue: list[dict[str, Any]], tmp_path: Path
) -> None:
    data, name = example(catalogue, "business-licence"), licence_name_field(catalogue)
    csv_file = tmp_path / "b.csv"
    with csv_file.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(data))
        w.writeheader()
        for n in range(1, 7):
            row = licence_row(catalogue, "命令行", n)
            w.writerow({**row, name: "" if n == 3 else f"{data[name]}命令行{n}"})
    out = tmp_path / "out"

    refused = _batch(dep, csv_file, out)
    assert refused.returncode == 4, refused.stderr
    assert f"row 3 (line 4): {name}" in refused.stderr and "nothing was issued" in refused.stderr
    assert not list(out.glob("*.pdf"))

    partial = _batch(dep, csv_file, out, "--skip-invalid", "--json")
    assert partial.returncode == 4, partial.stderr
    assert "1 of 6 row(s) were refused; 5 issued" in partial.stderr
    assert f"row 3 (line 4): {name}" in partial.stderr
    results = json.loads(partial.stdout)
    assert [(r["row"], r["line"], r["status"]) for r in results] == [
        (1, 2, "active"),
        (2, 3, "active"),
        (3, 4, "failed"),
        (4, 5, "active"),
        (5, 6, "active"),
        (6, 7, "active"),
    ]
    bad = results[2]
    assert bad["id"] is None and bad["verify_url"] is None
    assert bad["errors"][0]["field"] == name and bad["errors"][0]["message_zh"]
    for r in results:
        if r["id"]:
            assert r["verify_url"].startswith(f"{dep.base_url}/v/{r['id']}?t=")
            assert Path(r["file"]).is_file()
    assert {p.stem for p in out.glob("*.pdf")} == {r["id"] for r in results if r["id"]}
    manifest = list(csv.DictReader((out / "manifest.csv").read_text("utf-8").splitlines()))
    assert [m["status"] for m in manifest] == ["issued"] * 2 + ["failed"] + ["issued"] * 3
    assert name in manifest[2]["error_en"] and manifest[2]["line"] == "4"
    # The same file again: the same batch, done; nothing issued twice.
    again = _batch(dep, csv_file, out, "--skip-invalid", "--json")
    assert "resuming batch" in again.stderr and "5 already issued" in again.stderr
    assert [r["id"] for r in json.loads(again.stdout)] == [r["id"] for r in results]


def test_issue_with_an_idempotency_key(
    dep: Deployment, catalogue: list[dict[str, Any]], tmp_path: Path
) -> None:
    data = tmp_path / "permit.json"
    data.write_text(json.dumps(example(catalogue, "road-transport-permit")), "utf-8")

    def issue(key: str, out: str) -> Any:
        return dep.issue_permit(data, tmp_path / out, more=("--idempotency-key", key))

    first, again = issue("permit-2026-1", "a.pdf"), issue("permit-2026-1", "b.pdf")
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert json.loads(first.stdout)["id"] == json.loads(again.stdout)["id"]
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    other = example(catalogue, "road-transport-permit")
    data.write_text(json.dumps({**other, "licence_number": "440305000999"}), "utf-8")
    refused = issue("permit-2026-1", "c.pdf")
    assert refused.returncode == 4 and "different" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "c.pdf").exists()
