"""Per-agency bearer tokens. Only their SHA-256 digests are stored; comparison is constant-time."""

from __future__ import annotations

import hmac
import threading
import time
from typing import Annotated

from fastapi import Header, HTTPException

from certificates.ids import token_digest
from certificates.store import Store

__all__ = ["AgencyAuth"]

_RELOAD = 10.0


class AgencyAuth:
    """FastAPI dependency: returns the agency code the bearer token belongs to."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._digests: dict[str, str] = {}
        self._loaded = 0.0
        self._lock = threading.Lock()

    def _table(self) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._loaded > _RELOAD:
                self._digests = self._store.agency_token_digests()
                self._loaded = time.monotonic()
            return self._digests

    def __call__(self, authorization: Annotated[str | None, Header()] = None) -> str:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise HTTPException(
                401,
                detail={
                    "code": "MISSING_TOKEN",
                    "message": {
                        "zh": "需要机构令牌（Authorization: Bearer ...）。",
                        "en": "An agency token is required (Authorization: Bearer ...).",
                    },
                },
                headers={"WWW-Authenticate": "Bearer"},
            )
        presented = token_digest(authorization[7:].strip())
        match = None
        for agency, digest in self._table().items():
            # Compare against every entry so timing does not reveal which agency matched.
            if hmac.compare_digest(presented, digest):
                match = agency
        if match is None:
            raise HTTPException(
                401,
                detail={
                    "code": "BAD_TOKEN",
                    "message": {"zh": "机构令牌无效。", "en": "The agency token is not valid."},
                },
                headers={"WWW-Authenticate": "Bearer"},
            )
        return match
