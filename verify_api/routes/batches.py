"""HTTP batch issuance for agencies: submit a CSV as a job, follow its progress, read its rows,
download its results (sealed PDFs and a manifest CSV) as one ZIP.

HTTP only: every rule (identity, validation, resuming, who may see what) is in
``certificates.issuance.batches``; this module parses, calls :class:`BatchService` and maps its
answers. Every answer is ``Cache-Control: no-store``: rows carry verification links.
"""

# No `from __future__ import annotations`: FastAPI resolves route signatures at definition time.
import io
import zipfile
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, File, Form, Header, Path, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from certificates import BatchProgress, BatchRefusal, BatchRowResult, BatchService, Principal
from certificates.issuance.batch_csv import MAX_CSV_BYTES
from verify_api.http.auth import ClientAuth
from verify_api.runtime import Runtime
from verify_api.schemas import ERROR_RESPONSES, Bilingual, FieldErrorBody

__all__ = ["BatchBody", "BatchRowsBody", "batch_json", "batches_router", "refusal_response"]

NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

# The HTTP answer to each refusal of the batch service (and of idempotent issuance).
_STATUS = {
    "NOT_FOUND": 404,
    "BAD_CSV": 400,
    "BAD_BATCH_KEY": 422,
    "BAD_IDEMPOTENCY_KEY": 422,
    "KEY_REUSED": 409,
    "IDEMPOTENCY_KEY_REUSED": 409,
    "BATCH_RUNNING": 409,
    "KEY_CHANGED": 422,
}

_ID = r"^[A-Za-z0-9]{1,64}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchLinks(_Body):
    self: str
    rows: str
    results: str


class BatchBody(_Body):
    id: str
    type: str
    state: Literal["queued", "running", "done", "interrupted"]
    total: int
    issued: int
    failed: int
    waiting: int
    percent: int
    done: bool
    links: BatchLinks


class BatchRowBody(_Body):
    row: int  # 1-based data row
    line: int  # line in the file; the header is line 1
    status: Literal["issued", "failed", "waiting"]
    id: str | None
    verify_url: str | None
    errors: list[FieldErrorBody]


class BatchRowsBody(_Body):
    batch_id: str
    rows: list[BatchRowBody]


def batch_json(p: BatchProgress) -> dict[str, Any]:
    base = f"/api/v1/batches/{p.batch_id}"
    return {
        "id": p.batch_id,
        "type": p.cert_type,
        "state": p.state,
        "total": p.total,
        "issued": p.issued,
        "failed": p.failed,
        "waiting": p.waiting,
        "percent": p.percent,
        "done": p.done,
        "links": {"self": base, "rows": f"{base}/rows", "results": f"{base}/results.zip"},
    }


def _row_json(r: BatchRowResult) -> dict[str, Any]:
    return {
        "row": r.row,
        "line": r.line,
        "status": r.status,
        "id": r.cert_id,
        "verify_url": r.verify_url,
        "errors": [
            {"field": e.field, "code": e.code, "message": {"zh": e.message_zh, "en": e.message_en}}
            for e in r.errors
        ],
    }


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def refusal_response(exc: BatchRefusal) -> Response:
    """A refusal in the API's error body (code, message zh/en), never cached."""
    message = Bilingual(zh=exc.zh, en=exc.en).model_dump()
    body = {"detail": {"code": exc.code, "message": message, **exc.extra}}
    response = _json(body, _STATUS.get(exc.code, 409))
    response.headers.update(NO_STORE)
    return response


def _no_store(response: Response) -> Response:
    response.headers.update(NO_STORE)
    return response


class _Sink(io.RawIOBase):
    """A write-only stream that hands over what was written since the last look: the ZIP is
    sent as it is made, one certificate at a time, never held whole."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self._parts.append(data)
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def zip_stream(pdfs: Iterable[tuple[str, bytes]], manifest: Iterable[bytes]) -> Iterator[bytes]:
    """``{id}.pdf`` for each certificate, then ``manifest.csv``, streamed (PDFs are already
    compressed: stored as they are)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as zf:
        for cert_id, pdf in pdfs:
            zf.writestr(f"{cert_id}.pdf", pdf)
            yield sink.take()
        with zf.open("manifest.csv", "w") as out:
            for line in manifest:
                out.write(line)
    yield sink.take()


def batches_router(rt: Runtime, auth: ClientAuth) -> APIRouter:
    router = APIRouter(tags=["agencies"])
    issuer = auth.require("issuer")
    batch_id_path = Path(pattern=_ID, description="the batch's id, as submitting answered")

    def service() -> BatchService:
        return rt.batches()

    @router.post(
        "/api/v1/batches",
        status_code=202,
        response_model=BatchBody,
        responses={
            **ERROR_RESPONSES,
            202: {"headers": {"Location": {"schema": {"type": "string"}}}},
        },
    )
    def submit_batch(
        who: Annotated[Principal, Depends(issuer)],
        file: Annotated[
            UploadFile,
            File(description="CSV: a header row of field names, then one certificate a row"),
        ],
        cert_type: Annotated[
            str, Form(alias="type", max_length=64, description="certificate type code")
        ],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description="the batch's identity (else: agency, type and the file's digest); "
                "sending it again resumes the batch",
            ),
        ] = None,
    ) -> Response:
        """Submit a CSV batch: every row is checked at once, the valid rows are then issued in
        the background. Answers 202 with the batch's progress; submitting the same batch again
        (same key, or same file) answers the same batch and resumes it, issuing no row twice."""
        data = file.file.read(MAX_CSV_BYTES + 1)
        batches = service()
        try:
            progress = batches.submit(who, cert_type, data, batch_key=idempotency_key)
        except BatchRefusal as exc:
            return refusal_response(exc)
        if not progress.done:
            batches.start(progress.batch_id)
        body = batch_json(progress)
        response = _no_store(_json(body, 202))
        response.headers["Location"] = body["links"]["self"]
        return response

    @router.get("/api/v1/batches/{batch_id}", response_model=BatchBody, responses=ERROR_RESPONSES)
    def batch_progress(
        batch_id: Annotated[str, batch_id_path], who: Annotated[Principal, Depends(issuer)]
    ) -> Response:
        """A batch's progress: rows issued, failed and waiting, and its state."""
        try:
            return _no_store(_json(batch_json(service().progress(who, batch_id))))
        except BatchRefusal as exc:
            return refusal_response(exc)

    @router.get(
        "/api/v1/batches/{batch_id}/rows", response_model=BatchRowsBody, responses=ERROR_RESPONSES
    )
    def batch_rows(
        batch_id: Annotated[str, batch_id_path], who: Annotated[Principal, Depends(issuer)]
    ) -> Response:
        """Every row's outcome: its data row and file line, the certificate id and verification
        link when issued, the field errors (zh/en) when refused."""
        try:
            rows = service().rows(who, batch_id)
        except BatchRefusal as exc:
            return refusal_response(exc)
        return _no_store(_json({"batch_id": batch_id, "rows": [_row_json(r) for r in rows]}))

    @router.get(
        "/api/v1/batches/{batch_id}/results.zip",
        responses={**ERROR_RESPONSES, 200: {"content": {"application/zip": {}}}},
    )
    def batch_results(
        batch_id: Annotated[str, batch_id_path], who: Annotated[Principal, Depends(issuer)]
    ) -> Response:
        """The sealed PDFs of the rows issued so far and ``manifest.csv`` (row, line, id,
        verify_url, status, error_zh, error_en), as one ZIP, streamed."""
        batches = service()
        try:
            batches.progress(who, batch_id)  # refuses another agency's batch before streaming
        except BatchRefusal as exc:
            return refusal_response(exc)
        return StreamingResponse(
            zip_stream(batches.pdfs(who, batch_id), batches.manifest_lines(who, batch_id)),
            media_type="application/zip",
            headers={
                **NO_STORE,
                "Content-Disposition": f'attachment; filename="{batch_id}.zip"',
            },
        )

    return router
