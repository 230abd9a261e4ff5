"""The shape of the local network and where everything lives on disk.

Three Raft orderers in one orderer organisation (any one can be lost), one peer per agency
organisation, everything on 127.0.0.1 with ports chosen free at creation (below the kernel's
ephemeral range, see ``free_ports``) and remembered in ``network.json``, so a stopped network
restarts on the same addresses.
"""

from __future__ import annotations

import json
import random
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHAINCODE_NAME",
    "CHANNEL",
    "ORDERER_MSP",
    "AgencyOrg",
    "Layout",
    "NodePorts",
    "Topology",
    "ephemeral_range",
    "free_ports",
    "port_in_use",
]

CHANNEL = "certledger"
CHAINCODE_NAME = "certledger"
ORDERER_MSP = "OrdererMSP"


_LISTEN_FLOOR = 10000
"""The lowest port the network picks for its listeners (below: well-known services)."""


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for the local ports of outgoing connections (and of bind to 0)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text("ascii")
        low, high = (int(x) for x in text.split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def port_in_use(port: int) -> bool:
    """Whether a listener could not bind ``port`` on 127.0.0.1 now (with SO_REUSEADDR, as the
    nodes' Go listeners do, so connections of a stopped node in TIME_WAIT do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def free_ports(count: int, rng: random.Random | None = None) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1, below the kernel's ephemeral range.

    The ports are picked when a network is made and bound by its nodes later, and again at
    every restart. A port from the ephemeral range (what binding port 0 gives) is free only
    for now: any outgoing connection meanwhile (the nodes' own Raft and gossip dialling,
    health checks, the CLI, other programs) may get it as its local port, and the node that
    should listen there fails with "address already in use". The kernel never hands out a
    port below that range by itself. The picks are held open together so none repeats.
    """
    low, _ = ephemeral_range()
    pool = range(_LISTEN_FLOOR, low)
    if len(pool) < 8 * count:  # an unusual range leaves no room below it: take the kernel's
        pool = range(0, 0)
    pick = rng or random.SystemRandom()
    socks: list[socket.socket] = []
    try:
        for port in pick.sample(pool, len(pool)) if pool else []:
            if len(socks) == count:
                break
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        while len(socks) < count:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(frozen=True)
class NodePorts:
    """``main``: gRPC (peer: endorse/gateway/gossip; orderer: broadcast/deliver/cluster);
    ``admin``: orderer channel participation; ``ops``: health and metrics;
    ``chaincode``: the peer's chaincode listener (unused with CCaaS but must not clash)."""

    main: int
    ops: int
    admin: int = 0
    chaincode: int = 0


@dataclass(frozen=True)
class AgencyOrg:
    code: str
    msp_id: str
    peer: str
    ports: NodePorts


@dataclass
class Topology:
    orderers: dict[str, NodePorts]
    agencies: list[AgencyOrg]
    chaincode_port: dict[str, int]
    """Per agency: the port its chaincode server listens on (one server per peer)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, agencies: list[tuple[str, str]]) -> Topology:
        n = 3 * 3 + len(agencies) * 4
        ports = iter(free_ports(n))
        orderers = {
            f"orderer{i}": NodePorts(main=next(ports), ops=next(ports), admin=next(ports))
            for i in (1, 2, 3)
        }
        orgs = []
        cc_ports = {}
        for code, msp in agencies:
            orgs.append(
                AgencyOrg(
                    code=code,
                    msp_id=msp,
                    peer=f"peer0.{code}",
                    ports=NodePorts(main=next(ports), ops=next(ports), chaincode=next(ports)),
                )
            )
            cc_ports[code] = next(ports)
        return cls(orderers, orgs, cc_ports)

    def agency(self, code: str) -> AgencyOrg:
        for org in self.agencies:
            if org.code == code:
                return org
        raise KeyError(code)

    def to_json(self) -> dict[str, Any]:
        return {
            "orderers": {k: asdict(v) for k, v in self.orderers.items()},
            "agencies": [asdict(a) for a in self.agencies],
            "chaincode_port": self.chaincode_port,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Topology:
        return cls(
            orderers={k: NodePorts(**v) for k, v in raw["orderers"].items()},
            agencies=[
                AgencyOrg(
                    code=a["code"],
                    msp_id=a["msp_id"],
                    peer=a["peer"],
                    ports=NodePorts(**a["ports"]),
                )
                for a in raw["agencies"]
            ],
            chaincode_port={k: int(v) for k, v in raw["chaincode_port"].items()},
            extra=dict(raw.get("extra", {})),
        )


@dataclass(frozen=True)
class Layout:
    """Paths under one network directory."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "network.json"

    @property
    def profile(self) -> Path:
        """The connection profile services read (``CERTLEDGER_FABRIC_PROFILE``)."""
        return self.root / "connection-profile.json"

    @property
    def crypto(self) -> Path:
        return self.root / "crypto"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def channel_block(self) -> Path:
        return self.root / "channel" / f"{CHANNEL}.block"

    @property
    def chaincode(self) -> Path:
        return self.root / "cc-packages"

    def orderer_dir(self, name: str) -> Path:
        return self.crypto / "orderer-org" / name

    @property
    def orderer_org(self) -> Path:
        return self.crypto / "orderer-org"

    def org_dir(self, code: str) -> Path:
        return self.crypto / code

    def pid_file(self, node: str) -> Path:
        return self.run / f"{node}.pid"

    def log_file(self, node: str) -> Path:
        return self.logs / f"{node}.log"

    def load(self) -> Topology:
        return Topology.from_json(json.loads(self.state_file.read_text("utf-8")))

    def save(self, topo: Topology) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(topo.to_json(), indent=1), "utf-8")
