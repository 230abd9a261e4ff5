"""The shape of the local network and where everything lives on disk.

Three Raft orderers in one orderer organisation (any one can be lost), one peer per agency
organisation, everything on 127.0.0.1 with ports chosen free at creation and remembered in
``network.json``, so a stopped network restarts on the same addresses.
"""

from __future__ import annotations

import json
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
    "free_ports",
]

CHANNEL = "certledger"
CHAINCODE_NAME = "certledger"
ORDERER_MSP = "OrdererMSP"


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held open together so none repeats)."""
    socks = []
    try:
        for _ in range(count):
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
