"""A throw-away deployment made by the real `certledger init`, and the issued certificates the
HTTP benchmarks spread their requests over."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from certificates.home import Home
from certificates.issuance.service import Issued
from signing import Secret

from .procs import run_cli

__all__ = [
    "PASSPHRASE",
    "SEAL_LEVEL_ENV",
    "Deployment",
    "IssuedPool",
    "clean_environment",
    "create_deployment",
]

# A benchmark-only passphrase for a deployment that is deleted afterwards.
PASSPHRASE = "certledger-bench-passphrase"

# The seal level issuance uses (B-T, B-LT, B-LTA); set by the runner for this process and for
# every process it starts, so all measurements issue and verify documents of one level.
SEAL_LEVEL_ENV = "CERTLEDGER_SEAL_LEVEL"

_KEEP_VARS = {"CERTLEDGER_DEBUG", SEAL_LEVEL_ENV}
_URL_SAFE_PATH = re.compile(r"/v/[A-Z0-9-]+\?t=[A-Za-z0-9_-]+")


def clean_environment(base: Mapping[str, str]) -> dict[str, str]:
    """`base` without the CERTLEDGER_* settings that would change what is measured (a base URL
    or ledger override, an upload limit, rate limits, the crash test hook, another home); the
    seal level is kept (the runner sets it)."""
    return {k: v for k, v in base.items() if not k.startswith("CERTLEDGER_") or k in _KEEP_VARS}


@dataclass(frozen=True)
class Deployment:
    root: Path
    home: Home
    port: int
    env: dict[str, str]  # for subprocesses: home and passphrase set

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def secret(self) -> Secret:
        return Secret(PASSPHRASE)


def create_deployment(work_dir: Path, port: int) -> Deployment:
    root = work_dir / "home"
    env = clean_environment(os.environ)
    env["CERTLEDGER_HOME"] = str(root)
    env["CERTLEDGER_PASSPHRASE"] = PASSPHRASE
    run_cli(["init", "--json", "--base-url", f"http://127.0.0.1:{port}"], env, timeout=300)
    return Deployment(root, Home(root), port, env)


@dataclass
class IssuedPool:
    """Ids and QR paths of every certificate issued during the run; PDFs for the first few."""

    keep_pdfs: int
    ids: list[str] = field(default_factory=list)
    qr_paths: list[str] = field(default_factory=list)  # "/v/ID?t=TOKEN"
    pdfs: list[bytes] = field(default_factory=list)
    pending: int = 0

    def add(self, issued: Iterable[Issued]) -> None:
        for item in issued:
            self.ids.append(item.cert_id)
            url = urlsplit(item.verify_url)
            self.qr_paths.append(f"{url.path}?{url.query}")
            if not item.anchored:
                self.pending += 1
            if len(self.pdfs) < self.keep_pdfs:
                self.pdfs.append(item.pdf)

    def __len__(self) -> int:
        return len(self.ids)

    def safe_qr_paths(self) -> list[str]:
        """The QR paths that can be written into a Lua string literal as they are."""
        return [p for p in self.qr_paths if _URL_SAFE_PATH.fullmatch(p)]
