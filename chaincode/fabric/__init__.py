"""The contract on Hyperledger Fabric: a chaincode-as-a-service server.

Run ``python -m chaincode.fabric`` with ``CHAINCODE_ID`` (the package id the peer installed),
``CHAINCODE_SERVER_ADDRESS`` (host:port to listen on) and the TLS files
``CERTLEDGER_CC_TLS_KEY``, ``CERTLEDGER_CC_TLS_CERT``, ``CERTLEDGER_CC_TLS_CLIENT_CA``.
The rules are :mod:`chaincode.contract`'s, unchanged; this package only adapts the stub.
"""

from chaincode.fabric._dispatch import FUNCTIONS, INIT_FUNCTION, dispatch
from chaincode.fabric._server import ContractHandler, SerialisedStream, ServerTls, build_server
from chaincode.fabric._stub import FabricStub, ShimError, TxContext

__all__ = [
    "FUNCTIONS",
    "INIT_FUNCTION",
    "ContractHandler",
    "FabricStub",
    "SerialisedStream",
    "ServerTls",
    "ShimError",
    "TxContext",
    "build_server",
    "dispatch",
]
