"""A real deployment (PKI, ledger, store made by `init`) served in-process through the ASGI app:
clients of every role for every agency, and one sealed certificate of every type."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    # Starlette's TestClient warns that it will move from httpx to httpx2; httpx is what this
    # project pins, and the warning is about packaging, not behaviour.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from certificates.home import Home
from certificates.sharing.clients import ClientRegistry
from certificates.types import CERTIFICATE_TYPES
from signing import Secret
from tests.distinct import distinct
from verify_api.app import create_app
from verify_api.bootstrap import init_home
from verify_api.http.ratelimit import RateLimits
from verify_api.runtime import Runtime, open_runtime
from verify_api.settings import ServiceSettings

PASSPHRASE = "lookup test passphrase, not a secret"
NO_LIMITS = RateLimits(0, 0, 0, 0)
AGENCY_OF_TYPE = {code: t.agency for code, t in CERTIFICATE_TYPES.items()}
# Every secret a test hands out is collected here, so the log test can search for all of them.
SECRETS: list[str] = []


@dataclass
class World:
    home: Home
    rt: Runtime
    client: TestClient
    tokens: dict[tuple[str, str], str]  # (agency, role) -> bearer token
    certs: dict[str, dict[str, Any]]  # type code -> {"id", "holder", "agency", "data"}
    client_ids: dict[tuple[str, str], str] = field(default_factory=dict)

    def auth(self, agency: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[(agency, role)]}"}


def holder_of(ctype_code: str, data: dict[str, Any]) -> str:
    return str(data[CERTIFICATE_TYPES[ctype_code].holder_field])


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("lookup") / "home"
    home = Home(Path(root))
    creds = init_home(home, Secret(PASSPHRASE), base_url="http://testserver")
    # The matrix subscribes a receiver under a reserved name that resolves nowhere; the
    # operator's allow-list is how a deployment admits such internal receivers.
    config = ServiceSettings(webhook_allow=("receiver.invalid",))
    rt = open_runtime(home, passphrase=Secret(PASSPHRASE), config=config)
    assert rt.clients is not None
    tokens: dict[tuple[str, str], str] = {}
    ids: dict[tuple[str, str], str] = {}
    for c in creds:
        tokens[(c.agency, "issuer")] = c.token
        SECRETS.append(c.token)
    registry = ClientRegistry(rt.store)
    for agency in {c.agency for c in creds}:
        for role in ("verifier", "admin"):
            info, token = registry.add(agency, f"{agency} {role} test client", [role])
            assert token is not None
            tokens[(agency, role)] = token
            ids[(agency, role)] = info.id
            SECRETS.append(token)
    app = create_app(rt, background_anchoring=False, limits=NO_LIMITS)
    certs: dict[str, dict[str, Any]] = {}
    with TestClient(app) as client:
        for code, ctype in CERTIFICATE_TYPES.items():
            data = distinct(ctype.code, ctype.example)
            r = client.post(
                "/api/v1/certificates",
                json={"type": code, "data": data},
                headers={"Authorization": f"Bearer {tokens[(ctype.agency, 'issuer')]}"},
            )
            assert r.status_code == 201, r.text
            certs[code] = {
                "id": r.json()["id"],
                "holder": holder_of(code, data),
                "agency": ctype.agency,
                "data": data,
            }
        yield World(home, rt, client, tokens, certs, ids)
    rt.close()


@pytest.fixture()
def caplog_all(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog
