"""Everything the nodes are told: crypto on disk, the channel profile, node environments.

Fabric's nodes read their defaults from the upstream ``core.yaml`` / ``orderer.yaml`` that
the build step caches beside the binaries; every setting this network depends on is set
here explicitly, as environment variables, so nothing rides on a default we did not read.
Configuration files are written as JSON, which Fabric's YAML readers accept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from network._pki import CertAuthority, write_msp, write_tls
from network._topology import CHANNEL, ORDERER_MSP, AgencyOrg, Layout, Topology

__all__ = [
    "BATCH_TIMEOUT",
    "admin_env",
    "chaincode_connection",
    "make_crypto",
    "make_org_crypto",
    "orderer_env",
    "peer_env",
    "write_configtx",
]

BATCH_TIMEOUT = "100ms"
"""How long an orderer waits to fill a block: the floor of every submit's latency."""


def _list(paths: list[Path]) -> str:
    return "[" + ",".join(str(p) for p in paths) + "]"


def make_crypto(layout: Layout, topo: Topology) -> None:
    """Generate CAs, MSPs and TLS pairs for the orderer org, each agency and the chaincode."""
    oo = layout.orderer_org
    ca = CertAuthority("OrdererOrg", "ca.orderer-org")
    tls_ca = CertAuthority("OrdererOrg", "tlsca.orderer-org")
    write_msp(oo / "msp", ca, tls_ca, None)
    admin = ca.issue("admin.orderer-org", ou="admin")
    write_msp(oo / "admin" / "msp", ca, tls_ca, admin)
    write_tls(oo / "admin" / "tls", tls_ca, tls_ca.issue("admin.orderer-org", tls=True))
    for name in topo.orderers:
        node = layout.orderer_dir(name)
        write_msp(node / "msp", ca, tls_ca, ca.issue(name, ou="orderer"))
        write_tls(node / "tls", tls_ca, tls_ca.issue(name, tls=True))

    # The chaincode servers' TLS: one CA for the servers and for the peers' client certs.
    cc_ca = CertAuthority("CertLedgerChaincode", "tlsca.chaincode")
    for org in topo.agencies:
        make_org_crypto(layout, org, cc_ca)


def make_org_crypto(layout: Layout, org: AgencyOrg, cc_ca: CertAuthority | None = None) -> None:
    """One agency organisation's CAs, MSPs and TLS pairs, and its chaincode server's TLS
    (signed by ``cc_ca``; an agency added later gets a chaincode CA of its own, which its
    peer's ``connection.json`` names, so no other org's key is needed)."""
    cc_ca = cc_ca or CertAuthority("CertLedgerChaincode", f"tlsca.chaincode.{org.code}")
    cc_dir = layout.crypto / "chaincode"
    write_tls(cc_dir / org.code / "server", cc_ca, cc_ca.issue(f"cc.{org.code}", tls=True))
    write_tls(cc_dir / org.code / "client", cc_ca, cc_ca.issue(f"peer.{org.code}", tls=True))
    d = layout.org_dir(org.code)
    ca = CertAuthority(org.msp_id, f"ca.{org.code}")
    tls_ca = CertAuthority(org.msp_id, f"tlsca.{org.code}")
    write_msp(d / "peer" / "msp", ca, tls_ca, ca.issue(org.peer, ou="peer"))
    write_tls(d / "peer" / "tls", tls_ca, tls_ca.issue(org.peer, tls=True))
    for user, ou in (("admin", "admin"), ("service", "client")):
        write_msp(d / user / "msp", ca, tls_ca, ca.issue(f"{user}.{org.code}", ou=ou))
        write_tls(d / user / "tls", tls_ca, tls_ca.issue(f"{user}.{org.code}", tls=True))
    # The org MSP last: its presence says the whole set was written (add-agency checks it).
    write_msp(d / "msp", ca, tls_ca, None)


def _sig(rule: str) -> dict[str, str]:
    return {"Type": "Signature", "Rule": rule}


def _meta(rule: str) -> dict[str, str]:
    return {"Type": "ImplicitMeta", "Rule": rule}


def write_configtx(layout: Layout, topo: Topology) -> Path:
    """The channel's genesis profile: etcdraft over three orderers, one org per agency,
    endorsement by a MAJORITY of the agency orgs (two of three)."""
    o1 = next(iter(topo.orderers.values()))
    orderer_org = {
        "Name": ORDERER_MSP,
        "ID": ORDERER_MSP,
        "MSPDir": str(layout.orderer_org / "msp"),
        "Policies": {
            "Readers": _sig(f"OR('{ORDERER_MSP}.member')"),
            "Writers": _sig(f"OR('{ORDERER_MSP}.member')"),
            "Admins": _sig(f"OR('{ORDERER_MSP}.admin')"),
        },
        "OrdererEndpoints": [f"127.0.0.1:{p.main}" for p in topo.orderers.values()],
    }
    orgs = []
    for org in topo.agencies:
        m = org.msp_id
        orgs.append(
            {
                "Name": m,
                "ID": m,
                "MSPDir": str(layout.org_dir(org.code) / "msp"),
                "Policies": {
                    "Readers": _sig(f"OR('{m}.admin','{m}.peer','{m}.client')"),
                    "Writers": _sig(f"OR('{m}.admin','{m}.client')"),
                    "Admins": _sig(f"OR('{m}.admin')"),
                    "Endorsement": _sig(f"OR('{m}.peer')"),
                },
                "AnchorPeers": [{"Host": "127.0.0.1", "Port": org.ports.main}],
            }
        )
    consenters = [
        {
            "Host": "127.0.0.1",
            "Port": p.main,
            "ClientTLSCert": str(layout.orderer_dir(name) / "tls" / "server.crt"),
            "ServerTLSCert": str(layout.orderer_dir(name) / "tls" / "server.crt"),
        }
        for name, p in topo.orderers.items()
    ]
    del o1
    profile: dict[str, Any] = {
        "Policies": {
            "Readers": _meta("ANY Readers"),
            "Writers": _meta("ANY Writers"),
            "Admins": _meta("MAJORITY Admins"),
        },
        "Capabilities": {"V3_0": True},
        "Orderer": {
            "OrdererType": "etcdraft",
            "BatchTimeout": BATCH_TIMEOUT,
            "BatchSize": {
                "MaxMessageCount": 500,
                "AbsoluteMaxBytes": "98 MB",
                "PreferredMaxBytes": "8 MB",
            },
            "EtcdRaft": {
                "Consenters": consenters,
                "Options": {
                    "TickInterval": "250ms",
                    "ElectionTick": 8,
                    "HeartbeatTick": 1,
                    "MaxInflightBlocks": 5,
                    "SnapshotIntervalSize": "16 MB",
                },
            },
            "Organizations": [orderer_org],
            "Policies": {
                "Readers": _meta("ANY Readers"),
                "Writers": _meta("ANY Writers"),
                "Admins": _meta("MAJORITY Admins"),
                "BlockValidation": _meta("ANY Writers"),
            },
            "Capabilities": {"V2_0": True},
        },
        "Application": {
            "Organizations": orgs,
            "Policies": {
                "Readers": _meta("ANY Readers"),
                "Writers": _meta("ANY Writers"),
                "Admins": _meta("MAJORITY Admins"),
                "LifecycleEndorsement": _meta("MAJORITY Endorsement"),
                "Endorsement": _meta("MAJORITY Endorsement"),
            },
            "Capabilities": {"V2_5": True},
        },
    }
    path = layout.config / "configtx" / "configtx.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"Profiles": {"CertLedger": profile}}, indent=1), "utf-8")
    return path.parent


def orderer_env(layout: Layout, topo: Topology, name: str, fabric_cfg: Path) -> dict[str, str]:
    p = topo.orderers[name]
    d = layout.orderer_dir(name)
    tls = d / "tls"
    data = layout.data / name
    ca = tls / "ca.crt"
    return {
        "FABRIC_CFG_PATH": str(fabric_cfg),
        "FABRIC_LOGGING_SPEC": "warning",
        "ORDERER_GENERAL_LISTENADDRESS": "127.0.0.1",
        "ORDERER_GENERAL_LISTENPORT": str(p.main),
        "ORDERER_GENERAL_LOCALMSPID": ORDERER_MSP,
        "ORDERER_GENERAL_LOCALMSPDIR": str(d / "msp"),
        "ORDERER_GENERAL_BOOTSTRAPMETHOD": "none",
        "ORDERER_GENERAL_TLS_ENABLED": "true",
        "ORDERER_GENERAL_TLS_PRIVATEKEY": str(tls / "server.key"),
        "ORDERER_GENERAL_TLS_CERTIFICATE": str(tls / "server.crt"),
        "ORDERER_GENERAL_TLS_ROOTCAS": _list([ca]),
        "ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": str(tls / "server.crt"),
        "ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY": str(tls / "server.key"),
        "ORDERER_GENERAL_CLUSTER_ROOTCAS": _list([ca]),
        "ORDERER_CHANNELPARTICIPATION_ENABLED": "true",
        "ORDERER_ADMIN_LISTENADDRESS": f"127.0.0.1:{p.admin}",
        "ORDERER_ADMIN_TLS_ENABLED": "true",
        "ORDERER_ADMIN_TLS_CERTIFICATE": str(tls / "server.crt"),
        "ORDERER_ADMIN_TLS_PRIVATEKEY": str(tls / "server.key"),
        "ORDERER_ADMIN_TLS_ROOTCAS": _list([ca]),
        "ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED": "true",
        "ORDERER_ADMIN_TLS_CLIENTROOTCAS": _list([ca]),
        "ORDERER_OPERATIONS_LISTENADDRESS": f"127.0.0.1:{p.ops}",
        "ORDERER_OPERATIONS_TLS_ENABLED": "true",
        "ORDERER_OPERATIONS_TLS_CERTIFICATE": str(tls / "server.crt"),
        "ORDERER_OPERATIONS_TLS_PRIVATEKEY": str(tls / "server.key"),
        "ORDERER_OPERATIONS_TLS_CLIENTAUTHREQUIRED": "false",
        # /metrics asks for a client certificate even so: the orderer org's TLS CA issues it.
        "ORDERER_OPERATIONS_TLS_CLIENTROOTCAS": _list([ca]),
        # Prometheus on the (TLS) operations port: status and the fault drills read the
        # Raft leader from consensus_etcdraft_is_leader.
        "ORDERER_METRICS_PROVIDER": "prometheus",
        "ORDERER_FILELEDGER_LOCATION": str(data / "ledger"),
        "ORDERER_CONSENSUS_WALDIR": str(data / "etcdraft" / "wal"),
        "ORDERER_CONSENSUS_SNAPDIR": str(data / "etcdraft" / "snapshot"),
    }


def peer_env(layout: Layout, topo: Topology, code: str, fabric_cfg: Path) -> dict[str, str]:
    org = topo.agency(code)
    d = layout.org_dir(code) / "peer"
    tls = d / "tls"
    addr = f"127.0.0.1:{org.ports.main}"
    builders = [
        {"name": "certledger-ccaas", "path": str(Path(__file__).parent / "builder")},
    ]
    return {
        "FABRIC_CFG_PATH": str(fabric_cfg),
        "FABRIC_LOGGING_SPEC": "warning",
        "CORE_PEER_ID": org.peer,
        "CORE_PEER_ADDRESS": addr,
        "CORE_PEER_LISTENADDRESS": addr,
        "CORE_PEER_CHAINCODELISTENADDRESS": f"127.0.0.1:{org.ports.chaincode}",
        "CORE_PEER_CHAINCODEADDRESS": f"127.0.0.1:{org.ports.chaincode}",
        "CORE_PEER_LOCALMSPID": org.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(d / "msp"),
        "CORE_PEER_FILESYSTEMPATH": str(layout.data / org.peer),
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_CERT_FILE": str(tls / "server.crt"),
        "CORE_PEER_TLS_KEY_FILE": str(tls / "server.key"),
        "CORE_PEER_TLS_ROOTCERT_FILE": str(tls / "ca.crt"),
        "CORE_PEER_GOSSIP_BOOTSTRAP": addr,
        "CORE_PEER_GOSSIP_EXTERNALENDPOINT": addr,
        "CORE_PEER_GOSSIP_ENDPOINT": addr,
        "CORE_PEER_GOSSIP_RECONNECTINTERVAL": "2s",
        "CORE_PEER_GOSSIP_USELEADERELECTION": "true",
        "CORE_PEER_GOSSIP_ORGLEADER": "false",
        "CORE_PEER_GATEWAY_ENABLED": "true",
        "CORE_PEER_GATEWAY_ENDORSEMENTTIMEOUT": "10s",
        "CORE_PEER_GATEWAY_DIALTIMEOUT": "2s",
        "CORE_OPERATIONS_LISTENADDRESS": f"127.0.0.1:{org.ports.ops}",
        "CORE_OPERATIONS_TLS_ENABLED": "true",
        "CORE_OPERATIONS_TLS_CERT_FILE": str(tls / "server.crt"),
        "CORE_OPERATIONS_TLS_KEY_FILE": str(tls / "server.key"),
        "CORE_OPERATIONS_TLS_CLIENTAUTHREQUIRED": "false",
        "CORE_METRICS_PROVIDER": "disabled",
        "CORE_VM_ENDPOINT": "",
        "CORE_CHAINCODE_EXTERNALBUILDERS": json.dumps(builders),
        "CORE_CHAINCODE_EXECUTETIMEOUT": "30s",
        "CORE_LEDGER_STATE_STATEDATABASE": "goleveldb",
        "CORE_LEDGER_HISTORY_ENABLEHISTORYDATABASE": "true",
    }


def admin_env(layout: Layout, topo: Topology, code: str, fabric_cfg: Path) -> dict[str, str]:
    """Environment for the ``peer`` CLI acting as ``code``'s admin against its own peer."""
    org = topo.agency(code)
    d = layout.org_dir(code)
    return {
        "FABRIC_CFG_PATH": str(fabric_cfg),
        "FABRIC_LOGGING_SPEC": "warning",
        "CORE_PEER_LOCALMSPID": org.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(d / "admin" / "msp"),
        "CORE_PEER_ADDRESS": f"127.0.0.1:{org.ports.main}",
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_ROOTCERT_FILE": str(d / "peer" / "tls" / "ca.crt"),
    }


def chaincode_connection(layout: Layout, topo: Topology, code: str) -> dict[str, Any]:
    """``connection.json`` for ``code``'s peer: its chaincode server, over mutual TLS."""
    cc = layout.crypto / "chaincode" / code
    return {
        "address": f"127.0.0.1:{topo.chaincode_port[code]}",
        "dial_timeout": "10s",
        "tls_required": True,
        "client_auth_required": True,
        "client_key": (cc / "client" / "server.key").read_text("ascii"),
        "client_cert": (cc / "client" / "server.crt").read_text("ascii"),
        "root_cert": (cc / "server" / "ca.crt").read_text("ascii"),
    }


def channel_name() -> str:
    return CHANNEL
