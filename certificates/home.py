"""Where a deployment keeps its files, and the settings written at `init`.

Only paths and plain settings live here; building keys, ledgers and sealers from them happens at
the edge (verify_api), so the domain layer receives ready objects.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from certificates.errors import ConfigurationError, NotInitialisedError

__all__ = ["DEFAULT_MAX_UPLOAD", "Home", "Settings"]

DEFAULT_MAX_UPLOAD = 20 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    base_url: str
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    ledger_backend: str = "embedded"

    def to_json(self) -> str:
        return json.dumps(
            {
                "base_url": self.base_url,
                "max_upload_bytes": self.max_upload_bytes,
                "ledger_backend": self.ledger_backend,
            },
            indent=2,
        )


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, home: str | Path | None) -> Home:
        raw = home or os.environ.get("CERTLEDGER_HOME") or Path.home() / ".certledger"
        return cls(Path(raw).expanduser().absolute())

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def trust_roots(self) -> Path:
        return self.pki / "trust-roots.pem"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.db"

    @property
    def database(self) -> Path:
        return self.root / "certificates.db"

    @property
    def holder_key(self) -> Path:
        return self.root / "secrets" / "holder-key.bin"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    def exists(self) -> bool:
        return self.settings_file.is_file()

    def require(self) -> None:
        if not self.exists():
            raise NotInitialisedError(str(self.root))

    def settings(self) -> Settings:
        self.require()
        try:
            raw = json.loads(self.settings_file.read_text("utf-8"))
            settings = Settings(
                base_url=str(raw["base_url"]).rstrip("/"),
                max_upload_bytes=int(raw.get("max_upload_bytes", DEFAULT_MAX_UPLOAD)),
                ledger_backend=str(raw.get("ledger_backend", "embedded")),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"settings.json is unreadable: {exc}") from None
        # Environment overrides let one data directory be served under another address.
        if url := os.environ.get("CERTLEDGER_BASE_URL"):
            settings = Settings(url.rstrip("/"), settings.max_upload_bytes, settings.ledger_backend)
        if limit := os.environ.get("CERTLEDGER_MAX_UPLOAD_BYTES"):
            if not limit.isdigit() or int(limit) <= 0:
                raise ConfigurationError("CERTLEDGER_MAX_UPLOAD_BYTES must be a positive integer")
            settings = Settings(settings.base_url, int(limit), settings.ledger_backend)
        if backend := os.environ.get("CERTLEDGER_LEDGER"):
            settings = Settings(settings.base_url, settings.max_upload_bytes, backend)
        return settings
