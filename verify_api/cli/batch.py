"""`certledger issue-batch`: a CSV batch through the batch service, written out as it goes.

Each sealed PDF is written (to a temporary name, then renamed: never half a file) as soon as
its row is stored, and a line is added to ``manifest.csv`` for it; at the end the manifest is
rewritten whole, in row order. Re-running the same file resumes the same batch: rows already
issued are not issued again, their missing PDFs are written, only the rest is done.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from certificates import (
    BatchRefusal,
    BatchRowResult,
    BatchService,
    CertificateError,
    Principal,
)
from certificates.issuance.batches import manifest_header, manifest_line
from certificates.types import FieldError
from verify_api.cli import common

__all__ = ["issue_batch", "register"]

MANIFEST = "manifest.csv"


def register(app: typer.Typer) -> None:
    app.command("issue-batch")(issue_batch)


def issue_batch(
    agency: Annotated[str, typer.Option(help="issuing agency code")],
    cert_type: Annotated[str, typer.Option("--type", help="certificate type code")],
    csv_file: Annotated[Path, typer.Option("--csv", help="CSV with a header row of field names")],
    out_dir: Annotated[Path, typer.Option(help="directory for the sealed PDFs and manifest.csv")],
    workers: Annotated[int, typer.Option(help="worker processes (default: one per core)")] = 0,
    batch_key: Annotated[
        str | None,
        typer.Option(help="the batch's identity (default: agency, type and the file's digest)"),
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="issue the valid rows and report the invalid ones (default: refuse the file "
            "if any row is invalid, issuing nothing)",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Issue many certificates from a CSV file; re-running the same file resumes it.

    Exits 0 when every row was issued, 4 when a row was refused (each named by data row and
    file line, the header being line 1)."""
    try:
        content = csv_file.read_bytes()
    except OSError as exc:
        common.fail(f"cannot read {csv_file}: {exc.strerror}", common.EXIT_UNREADABLE)
    who = Principal.operator(agency)
    rt = common.runtime(keys=True, workers=workers or (os.cpu_count() or 1))
    try:
        batches = rt.batches()
        if not skip_invalid:
            bad = batches.check(who, cert_type, content, batch_key=batch_key)
            if bad:
                typer.secho(
                    f"error: {len(bad)} row(s) are invalid; nothing was issued "
                    "(fix them, or use --skip-invalid to issue the valid rows)",
                    err=True,
                    fg="red",
                )
                _print_failed(bad)
                raise typer.Exit(common.EXIT_BAD_INPUT)
        progress = batches.submit(who, cert_type, content, batch_key=batch_key)
        out_dir.mkdir(parents=True, exist_ok=True)
        if progress.issued:
            typer.echo(
                f"resuming batch {progress.batch_id}, {progress.issued} already issued", err=True
            )
        writer = _Output(out_dir, batches, who, progress.batch_id)
        with typer.progressbar(length=progress.total, label="issuing", file=sys.stderr) as bar:
            bar.update(progress.issued + progress.failed)

            def stored(rows: Sequence[tuple[BatchRowResult, bytes]]) -> None:
                writer.add(rows)
                bar.update(len(rows))

            batches.run(progress.batch_id, on_rows=stored)
        writer.finish()
        results = [
            _result_json(r, out_dir, rt.store.public_view)
            for r in batches.iter_rows(who, progress.batch_id)
        ]
    except BatchRefusal as exc:
        common.fail(f"{exc.en} / {exc.zh}", common.EXIT_BAD_INPUT)
    except CertificateError as exc:
        common.fail(str(exc), common.EXIT_BAD_INPUT)
    finally:
        rt.close()
    failed = [r for r in results if r["status"] == "failed"]
    pending = sum(1 for r in results if r["status"] == "pending")
    issued = len(results) - len(failed)
    if as_json:
        typer.echo(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        typer.echo(
            f"issued {issued} certificate(s) into {out_dir}; {pending} pending anchoring; "
            f"list: {out_dir / MANIFEST}"
        )
    if failed:
        typer.secho(
            f"error: {len(failed)} of {len(results)} row(s) were refused; {issued} issued "
            f"(see {out_dir / MANIFEST})",
            err=True,
            fg="red",
        )
        for r in failed[:50]:
            for e in r["errors"]:
                typer.secho(
                    f"  row {r['row']} (line {r['line']}): {e['field']}: {e['message_en']} / "
                    f"{e['message_zh']}",
                    err=True,
                )
        raise typer.Exit(common.EXIT_BAD_INPUT)


def _print_failed(rows: Sequence[BatchRowResult]) -> None:
    for r in rows[:50]:
        for e in r.errors:
            typer.secho(
                f"  row {r.row} (line {r.line}): {e.field}: {e.message_en} / {e.message_zh}",
                err=True,
            )
    if len(rows) > 50:
        typer.secho(f"  … and {len(rows) - 50} more row(s)", err=True)


def _result_json(r: BatchRowResult, out_dir: Path, view: Any) -> dict[str, Any]:
    state = None
    if r.cert_id is not None:
        public = view(r.cert_id)
        state = "active" if public is not None and public.state != "pending" else "pending"
    return {
        "row": r.row,
        "line": r.line,
        "id": r.cert_id,
        "file": str(out_dir / f"{r.cert_id}.pdf") if r.cert_id else None,
        "verify_url": r.verify_url,
        "status": state or ("failed" if r.errors else "waiting"),
        "errors": [_error_json(e) for e in r.errors],
    }


def _error_json(e: FieldError) -> dict[str, str]:
    return {
        "field": e.field,
        "code": e.code,
        "message_zh": e.message_zh,
        "message_en": e.message_en,
    }


class _Output:
    """The output folder: PDFs and an incremental manifest, durable as they are written."""

    def __init__(self, out_dir: Path, batches: BatchService, who: Principal, batch_id: str) -> None:
        self._dir = out_dir
        self._batches = batches
        self._who = who
        self._batch_id = batch_id
        # What an earlier, interrupted run stored: written out first (those that are missing).
        self._manifest: IO[bytes] = (out_dir / MANIFEST).open("wb")
        self._manifest.write(manifest_header())
        missing = {
            r.cert_id
            for r in batches.iter_rows(who, batch_id)
            if r.cert_id is not None and not (out_dir / f"{r.cert_id}.pdf").exists()
        }
        for cert_id, pdf in batches.pdfs(who, batch_id, wanted=missing.__contains__):
            _write_atomically(out_dir / f"{cert_id}.pdf", pdf)
        for r in batches.iter_rows(who, batch_id):
            if r.status != "waiting":
                self._manifest.write(manifest_line(r))
        self._sync()

    def add(self, rows: Sequence[tuple[BatchRowResult, bytes]]) -> None:
        for r, pdf in rows:
            _write_atomically(self._dir / f"{r.cert_id}.pdf", pdf)
            self._manifest.write(manifest_line(r))
        self._sync()

    def finish(self) -> None:
        """The manifest once more, whole and in row order (replacing the incremental one)."""
        self._manifest.close()
        _write_atomically(
            self._dir / MANIFEST, b"".join(self._batches.manifest_lines(self._who, self._batch_id))
        )

    def _sync(self) -> None:
        self._manifest.flush()
        os.fsync(self._manifest.fileno())


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
