"""A real local Hyperledger Fabric network for CertLedger: build, configure, start, stop.

Three Raft orderers, one peer per agency organisation, TLS on every connection, one channel
made through the channel participation API, and the contract served to each peer by its
own chaincode-as-a-service process. See README, "The Fabric network".
"""

from network._addorg import add_agency, channel_orgs
from network._network import (
    NetworkError,
    NodeStatus,
    down,
    ensure_fabric,
    kill_node,
    start_node,
    status,
    up,
)
from network._topology import CHAINCODE_NAME, CHANNEL, Layout, Topology

__all__ = [
    "CHAINCODE_NAME",
    "CHANNEL",
    "Layout",
    "NetworkError",
    "NodeStatus",
    "Topology",
    "add_agency",
    "channel_orgs",
    "down",
    "ensure_fabric",
    "kill_node",
    "start_node",
    "status",
    "up",
]
