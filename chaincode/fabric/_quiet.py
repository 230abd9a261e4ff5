"""Import the fabric-chaincode-python shim without its logging side effects.

Defect (2.5.4): importing ``fabric_shim`` runs ``logging.basicConfig(level=DEBUG)`` on the
root logger and moves the ``asyncio`` logger behind a queue; the handler then logs every
message it receives from the peer at INFO, *including state values* (GET_STATE responses)
and every ``put_state`` value. A ledger must not copy certificate records into log files, so
this module is the only place that imports the shim: it puts the root logger back as it was
and raises the shim's logger (it is the ``asyncio`` logger) to ERROR, where it only reports
failures, never payloads.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["Handler", "ccshim_grpc", "ccshim_pb2", "shim_logger"]

_root = logging.getLogger()
_root_level = _root.level
_root_handlers = list(_root.handlers)

from fabric_chaincode_python.fabric_shim import logging as _shim_logging  # noqa: E402
from fabric_chaincode_python.fabric_shim.handler import Handler  # noqa: E402
from fabric_protos.peer import chaincode_shim_pb2 as ccshim_pb2  # noqa: E402
from fabric_protos.peer import chaincode_shim_pb2_grpc as ccshim_grpc  # noqa: E402


def _restore() -> logging.Logger:
    for h in list(_root.handlers):
        if h not in _root_handlers:
            _root.removeHandler(h)
    _root.setLevel(_root_level)
    shim: logging.Logger = _shim_logging.LOGGER
    for h in list(shim.handlers):
        shim.removeHandler(h)
    listener: Any = getattr(_shim_logging, "_QUEUE_LISTENER", None)
    if listener is not None and getattr(listener, "_thread", None) is not None:
        listener.stop()
    shim.setLevel(logging.ERROR)
    return shim


shim_logger = _restore()
