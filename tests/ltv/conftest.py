"""Fixtures for the long-term-validation suite: PKIs made at a fixed time (with or without
service URLs), a certificate PDF, and the project's PKI routes served on loopback."""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from signing import (
    AgencyIdentity,
    InProcessRevocationSource,
    Pki,
    Secret,
    TimeStampAuthority,
    init_pki,
    load_pki,
)

PASSPHRASE = "ltv-test-passphrase-not-for-production"
AGENCY = AgencyIdentity("BJ-EDU", "北京市教育委员会", "Beijing Municipal Education Commission")
SEAL_BOX = (400.0, 60.0, 520.0, 180.0)
# The PKI is made at T0; tests seal and revoke at fixed times after it (freezegun).
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FONT = Path(os.environ.get("CERTLEDGER_STAMP_FONT", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"))
_BODY = "LtvTestBody"


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: run `make install` (Debian packages in the Makefile)"
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Info(pdfdoc.PDFInfo):  # type: ignore[misc]
    def format(self, document: object) -> bytes:
        formatted: bytes = super().format(document)
        entry = b"/CertLedgerId " + pdfdoc.PDFString("CL-2026-000777").format(document)
        return formatted.replace(b"<<", b"<< " + entry + b" ", 1)


def make_pdf() -> bytes:
    if not FONT.is_file():
        pytest.fail(f"font {FONT} missing (Debian package fonts-wqy-zenhei; make install)")
    if _BODY not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_BODY, str(FONT)))
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, initialFontName=_BODY, invariant=1)
    canvas._doc.info = _Info()
    canvas.setFont(_BODY, 24)
    canvas.drawCentredString(A4[0] / 2, 770, "职业资格证书")
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def make_pki(root: Path, *, base_url: str | None = None, now: datetime = T0) -> Path:
    path = root / "pki"
    init_pki(path, [AGENCY], Secret(PASSPHRASE), now=now, base_url=base_url)
    return path


@pytest.fixture(scope="session")
def certificate_pdf() -> bytes:
    return make_pdf()


@pytest.fixture
def passphrase() -> Secret:
    return Secret(PASSPHRASE)


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    return make_pki(tmp_path)


@pytest.fixture
def pki(pki_dir: Path, passphrase: Secret) -> Pki:
    return load_pki(pki_dir, passphrase)


class LoopbackServer:
    """The project's PKI routes (verify_api.routes.pki) under uvicorn on 127.0.0.1."""

    def __init__(self, pki: Pki) -> None:
        from verify_api.routes.pki import pki_router

        runtime = SimpleNamespace(
            home=SimpleNamespace(pki=pki.pki_dir),
            ocsp=InProcessRevocationSource.from_pki(pki).service,
        )
        app = FastAPI()
        app.include_router(pki_router(runtime))  # type: ignore[arg-type]
        tsa = TimeStampAuthority(pki.tsa)

        @app.post("/tsa")
        async def timestamp(request: Request) -> Response:
            body = await request.body()
            return Response(tsa.respond(body), media_type="application/timestamp-reply")

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                pytest.fail("the loopback PKI server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture
def served(pki: Pki) -> Iterator[LoopbackServer]:
    with LoopbackServer(pki) as server:
        yield server
