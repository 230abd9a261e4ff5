from __future__ import annotations

import pytest

import chaincode as cc
from tests.chaincode.chaincode_fakes import REGISTRY, FakePlatform


@pytest.fixture
def platform() -> FakePlatform:
    """A platform after genesis with the sample registry."""
    p = FakePlatform()
    p.invoke("genesis", cc.init_registry, list(REGISTRY))
    return p
