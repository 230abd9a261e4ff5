"""Where a deployment keeps its files, and the settings written at `init`.

Only paths and plain settings live here; building keys, ledgers and sealers from them happens at
the edge (verify_api), so the domain layer receives ready objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from certificates.errors import ConfigurationError, NotInitialisedError

__all__ = ["DEFAULT_MAX_UPLOAD", "HOME_ENV", "Home", "Settings"]

HOME_ENV = "CERTLEDGER_HOME"

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
    def resolve(cls, home: str | Path | None, env: Mapping[str, str]) -> Home:
        """``home`` (an option), else ``CERTLEDGER_HOME`` in ``env``, else ``~/.certledger``.
        The environment is the edge's to read and hand in: nothing below the edges reads it."""
        raw = home or env.get(HOME_ENV) or Path.home() / ".certledger"
        return cls(Path(raw).expanduser().absolute())

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def offline_root(self) -> Path:
        """The default directory `certledger init` writes the root CA key to: the sibling
        ``<home>.root-ca`` of the data directory, never inside it (``init --offline-dir``
        chooses another). It belongs on offline media; nothing that serves reads it."""
        return self.root.with_name(self.root.name + ".root-ca")

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
    def data_key(self) -> Path:
        return self.root / "secrets" / "data-key.bin"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    def exists(self) -> bool:
        return self.settings_file.is_file()

    def require(self) -> None:
        if not self.exists():
            raise NotInitialisedError(str(self.root))

    def settings(
        self,
        *,
        base_url: str | None = None,
        max_upload_bytes: int | None = None,
        ledger_backend: str | None = None,
    ) -> Settings:
        """The deployment's settings file; the arguments, when given, override it for this
        process (one data directory served under another address, say)."""
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
        return Settings(
            base_url=base_url.rstrip("/") if base_url else settings.base_url,
            max_upload_bytes=max_upload_bytes or settings.max_upload_bytes,
            ledger_backend=ledger_backend or settings.ledger_backend,
        )
