"""Fixtures for tests against a real Fabric network, brought up once for this package.

The network is built (or found in the binary cache) and started in a temporary directory on
free ports; every process it starts is stopped by PID after the last test here (package
scope, so the rest of the suite does not share the machine with an idle network). If
Fabric cannot be built or started, the tests FAIL with the reason: nothing here skips
because a network is absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

import network
from ledger import AgencyRecord, AnchorEntry, EmbeddedLedger, LedgerError
from ledger.fabric import FabricLedger
from signing import load_certificate
from tests.e2e.conftest import (  # noqa: F401 (issued: a fixture used here too)
    Deployment,
    Server,
    free_port,
    issued,
    make_deployment,
    start_server,
    stop_server,
)

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fabric: runs against a real local Fabric network")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.fabric)


@dataclass
class FabricNet:
    root: Path
    layout: network.Layout
    profile: Path

    def env(self, agency: str | None = None) -> dict[str, str]:
        env = {"CERTLEDGER_LEDGER": "fabric", "CERTLEDGER_FABRIC_PROFILE": str(self.profile)}
        if agency:
            env["CERTLEDGER_AGENCY"] = agency
        return env

    def ledger(self, agency: str | None = None, **kwargs: Any) -> FabricLedger:
        return FabricLedger.from_profile(self.profile, agency, **kwargs)

    def stop(self, node: str, *, hard: bool = False) -> None:
        assert network.kill_node(self.layout, node, hard=hard), f"{node} was not running"

    def start(self, node: str) -> None:
        network.start_node(self.layout, node)

    def peer(self, agency: str) -> str:
        return f"peer0.{agency}"

    def raft_leader(self) -> str:
        """The orderer that currently leads the channel's Raft cluster (from its metrics)."""
        topo = self.layout.load()
        ca = self.layout.orderer_org / "msp" / "tlscacerts" / "tlsca.pem"
        ctx = ssl.create_default_context(cafile=str(ca))
        admin = self.layout.orderer_org / "admin" / "tls"
        ctx.load_cert_chain(admin / "server.crt", admin / "server.key")
        leaders = []
        for name, ports in topo.orderers.items():
            try:
                text = httpx.get(
                    f"https://127.0.0.1:{ports.ops}/metrics", verify=ctx, timeout=2
                ).text
            except httpx.HTTPError:
                continue
            m = re.search(r'consensus_etcdraft_is_leader\{channel="certledger"\} (\d)', text)
            if m and m.group(1) == "1":
                leaders.append(name)
        assert len(leaders) == 1, f"expected one Raft leader, found {leaders}"
        return leaders[0]


def eventually(fn: Callable[[], T], *, timeout: float = 60.0, what: str = "") -> T:
    """Call ``fn`` until it stops raising (ledger errors or assertions) or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (LedgerError, AssertionError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what or fn} did not succeed in {timeout:.0f} s: {exc}")
            time.sleep(0.5)


_probe_counter = [0]


def probe_entry(cert_type: str = "business-licence") -> AnchorEntry:
    _probe_counter[0] += 1
    n = f"{os.getpid()}-{time.monotonic_ns()}-{_probe_counter[0]}"
    return AnchorEntry(f"PROBE-{n}", "e" * 64, "f" * 64, cert_type, "2026-01-01", None)


def wait_until_anchoring_works(net: FabricNet, timeout: float = 90.0) -> None:
    """After a node came back, gossip needs a moment before a majority can endorse."""
    with net.ledger("market-regulation", attempts=1) as ledger:
        eventually(
            lambda: ledger.anchor("market-regulation", [probe_entry()]),
            timeout=timeout,
            what="anchoring after recovery",
        )


@pytest.fixture(scope="package")
def fabric_deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return make_deployment(tmp_path_factory.mktemp("fabric-deployment") / "home")


@pytest.fixture(scope="package")
def registry(fabric_deployment: Deployment) -> list[AgencyRecord]:
    home = fabric_deployment.home
    with EmbeddedLedger.open_readonly(
        home / "ledger.db", load_certificate(home / "pki" / "ledger-node.pem")
    ) as ledger:
        return ledger.registry()


@pytest.fixture(scope="package")
def fabric_net(
    tmp_path_factory: pytest.TempPathFactory, registry: list[AgencyRecord]
) -> Iterator[FabricNet]:
    root = tmp_path_factory.mktemp("fabric") / "net"
    try:
        profile = network.up(root, registry)
    except network.NetworkError as exc:
        network.down(root)
        pytest.fail(f"the Fabric network could not be built or started: {exc}", pytrace=False)
    net = FabricNet(root, network.Layout(root), profile)
    try:
        yield net
    finally:
        network.down(root)


@pytest.fixture(scope="package")
def deployment(fabric_deployment: Deployment) -> Deployment:
    """The e2e fixtures (catalogue, issued) run on the Fabric deployment here."""
    return fabric_deployment


@pytest.fixture(scope="package")
def server(fabric_server: Server) -> Server:
    return fabric_server


@pytest.fixture(scope="package")
def catalogue(deployment: Deployment) -> list[dict[str, Any]]:
    proc = deployment.cli("types", "--json", check=True)
    return list(json.loads(proc.stdout))


@pytest.fixture(scope="package")
def fabric_server(fabric_deployment: Deployment, fabric_net: FabricNet) -> Iterator[Server]:
    """The real HTTP service on the Fabric backend, holding every agency's identity."""
    env = dict(fabric_net.env(), CERTLEDGER_MAX_UPLOAD_BYTES=str(2 * 1024 * 1024))
    srv = start_server(fabric_deployment, env)
    try:
        yield srv
    finally:
        stop_server(srv)


@contextlib.contextmanager
def agency_server(dep: Deployment, env: dict[str, str]) -> Iterator[Server]:
    """`certledger serve` for one agency (``env``: its Fabric identity), on a port and base URL
    of its own, beside the package's server on the same data directory."""
    url = f"http://127.0.0.1:{free_port()}"
    srv = start_server(
        Deployment(dep.home, dict(dep.env, CERTLEDGER_BASE_URL=url), dep.tokens, url), env
    )
    try:
        yield srv
    finally:
        stop_server(srv)
