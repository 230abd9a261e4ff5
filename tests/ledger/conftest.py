from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ledger import EmbeddedLedger
from tests.ledger.ledger_helpers import REGISTRY, make_node


@pytest.fixture(scope="session")
def node() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    return make_node()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(
    path: Path, node: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]
) -> Iterator[EmbeddedLedger]:
    key, cert = node
    with EmbeddedLedger.create(path, node_key=key, node_cert=cert, registry=REGISTRY) as led:
        yield led
