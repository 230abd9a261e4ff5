"""``python -m chaincode.fabric``: serve the contract to the peers (CCaaS)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from chaincode.fabric._server import ServerTls, build_server


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"chaincode server: {name} is not set")
    return value


async def _serve() -> None:
    tls = ServerTls(
        key=Path(_env("CERTLEDGER_CC_TLS_KEY")).read_bytes(),
        cert=Path(_env("CERTLEDGER_CC_TLS_CERT")).read_bytes(),
        client_ca=Path(_env("CERTLEDGER_CC_TLS_CLIENT_CA")).read_bytes(),
    )
    address = _env("CHAINCODE_SERVER_ADDRESS")
    server = build_server(
        _env("CHAINCODE_ID"), os.environ.get("CHAINCODE_NAME", "certledger"), address, tls
    )
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"chaincode server listening on {address} (TLS, client certs required)", flush=True)
    await stop.wait()
    await server.stop(2)


def main() -> None:
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.WARNING, format=fmt)
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
