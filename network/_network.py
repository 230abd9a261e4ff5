"""``up``, ``down`` and ``status`` of the local Fabric network.

``up`` on an empty directory goes from nothing to a channel with the contract committed and
its registry written: crypto, channel genesis block, three orderers joined through the
channel participation API (no system channel), one peer per agency joined, one chaincode
server per agency, chaincode installed, approved by every agency, committed, initialised.
Each stage is recorded in ``network.json`` once done, so ``up`` on a stopped (or half-made)
network only starts processes and finishes what is missing.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import shutil
import ssl
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from chaincode import AgencyRecord
from network import _procs
from network._config import (
    admin_env,
    chaincode_connection,
    make_crypto,
    orderer_env,
    peer_env,
    write_configtx,
)
from network._topology import CHAINCODE_NAME, CHANNEL, Layout, Topology, port_in_use

__all__ = [
    "NetworkError",
    "NodeStatus",
    "down",
    "ensure_fabric",
    "kill_node",
    "start_node",
    "status",
    "up",
]

CC_VERSION = "1.0"
CC_SEQUENCE = 1
_BUILD_SCRIPT = Path(__file__).parent / "build.sh"


class NetworkError(Exception):
    """The network could not be built, started or queried; the message says why."""


def ensure_fabric() -> Path:
    """The directory with ``bin/`` and ``config/`` of the pinned Fabric, building it once.

    ``CERTLEDGER_FABRIC_HOME`` may point at such a directory made elsewhere.
    """
    preset = os.environ.get("CERTLEDGER_FABRIC_HOME")
    if preset:
        home = Path(preset)
        if not (home / "bin" / "peer").is_file():
            raise NetworkError(f"CERTLEDGER_FABRIC_HOME={preset} has no bin/peer")
        return home
    proc = subprocess.run(  # noqa: S603
        [shutil.which("bash") or "/bin/bash", str(_BUILD_SCRIPT)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise NetworkError(
            "Fabric could not be built (network/build.sh exited "
            f"{proc.returncode}):\n{proc.stderr.strip()[-2000:]}"
        )
    return Path(proc.stdout.strip().splitlines()[-1])


def _run(argv: list[str], env: dict[str, str], what: str) -> str:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("CORE_", "ORDERER_"))}
    full.update(env)
    proc = subprocess.run(  # noqa: S603
        argv, env=full, capture_output=True, text=True, check=False, timeout=120
    )
    if proc.returncode != 0:
        raise NetworkError(f"{what} failed: {(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc.stdout


def _retry(fn: Callable[[], str], what: str, *, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    delay = 0.3
    while True:
        try:
            return fn()
        except NetworkError as exc:
            if time.monotonic() > deadline:
                raise NetworkError(f"{what}: gave up after {timeout:.0f} s: {exc}") from None
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)


def _stage(layout: Layout, topo: Topology, name: str) -> bool:
    return bool(topo.extra.get(name))


def _done(layout: Layout, topo: Topology, name: str) -> None:
    topo.extra[name] = True
    layout.save(topo)


# --- packaging ----------------------------------------------------------------------------


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _package(layout: Layout, topo: Topology, code: str) -> tuple[Path, str]:
    """A CCaaS package for ``code``'s peer and its package id (label:sha256)."""
    label = f"{CHAINCODE_NAME}-{code}"
    conn = json.dumps(chaincode_connection(layout, topo, code)).encode()
    meta = json.dumps({"type": "ccaas", "label": label}).encode()
    pkg = _tar({"metadata.json": meta, "code.tar.gz": _tar({"connection.json": conn})})
    path = layout.chaincode / f"{label}.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pkg)
    return path, f"{label}:{hashlib.sha256(pkg).hexdigest()}"


# --- nodes --------------------------------------------------------------------------------


def _builder_executable() -> None:
    """The peers run the builder scripts directly: make sure a checkout kept them runnable."""
    for script in (Path(__file__).parent / "builder" / "bin").iterdir():
        if not os.access(script, os.X_OK):
            script.chmod(0o755)


def _node_names(topo: Topology) -> list[str]:
    return [
        *topo.orderers,
        *(o.peer for o in topo.agencies),
        *(f"cc.{o.code}" for o in topo.agencies),
    ]


def node_ports(topo: Topology, name: str) -> dict[str, int]:
    """The ports ``name`` listens on, by what they are for."""
    if name in topo.orderers:
        p = topo.orderers[name]
        return {"gRPC": p.main, "admin": p.admin, "operations": p.ops}
    for org in topo.agencies:
        if name == org.peer:
            p = org.ports
            return {"gRPC": p.main, "operations": p.ops, "chaincode listener": p.chaincode}
        if name == f"cc.{org.code}":
            return {"chaincode server": topo.chaincode_port[org.code]}
    raise NetworkError(f"no node {name!r} in this network")


def _taken(ports: dict[str, int]) -> list[str]:
    return [f"{port} ({what})" for what, port in ports.items() if port_in_use(port)]


PORT_GRACE = 3.0
"""How long a node's port may stay taken before ``start_node`` refuses: a node of ours that
was stopped a moment ago may still be closing its listeners."""


def _check_ports_free(name: str, ports: dict[str, int]) -> None:
    """Refuse to start ``name`` on a port another process holds, and say which."""
    deadline = time.monotonic() + PORT_GRACE
    while taken := _taken(ports):
        if time.monotonic() > deadline:
            raise NetworkError(
                f"cannot start {name}: port {', '.join(taken)} on 127.0.0.1 is in use by "
                "another process (`ss -ltnp` names it); stop it or make the network anew"
            )
        time.sleep(0.1)


def start_node(layout: Layout, name: str, fabric: Path | None = None) -> int:
    """(Re)start one node by name (``orderer1``, ``peer0.transport``, ``cc.transport``)."""
    fabric = fabric or ensure_fabric()
    topo = layout.load()
    cfg = fabric / "config"
    if not _procs.alive(layout, name):
        _check_ports_free(name, node_ports(topo, name))
    if name in topo.orderers:
        binary = str(fabric / "bin" / "orderer")
        return _procs.start(
            layout, name, [binary], orderer_env(layout, topo, name, cfg), marker=binary
        )
    for org in topo.agencies:
        if name == org.peer:
            binary = str(fabric / "bin" / "peer")
            return _procs.start(
                layout,
                name,
                [binary, "node", "start"],
                peer_env(layout, topo, org.code, cfg),
                marker=binary,
            )
        if name == f"cc.{org.code}":
            cc = layout.crypto / "chaincode" / org.code / "server"
            env = {
                "CHAINCODE_ID": str(topo.extra["package_ids"][org.code]),
                "CHAINCODE_NAME": CHAINCODE_NAME,
                "CHAINCODE_SERVER_ADDRESS": f"127.0.0.1:{topo.chaincode_port[org.code]}",
                "CERTLEDGER_CC_TLS_KEY": str(cc / "server.key"),
                "CERTLEDGER_CC_TLS_CERT": str(cc / "server.crt"),
                "CERTLEDGER_CC_TLS_CLIENT_CA": str(cc / "ca.crt"),
                "PYTHONUNBUFFERED": "1",
            }
            return _procs.start(
                layout,
                name,
                [sys.executable, "-m", "chaincode.fabric"],
                env,
                marker="chaincode.fabric",
            )
    raise NetworkError(f"no node {name!r} in this network")


def kill_node(layout: Layout, name: str, *, hard: bool = False) -> bool:
    """Stop one node (SIGKILL when ``hard``); True when it was running."""
    return _procs.stop(layout, name, kill=hard)


def _ops_ok(port: int, ca: Path) -> bool:
    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        r = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=ctx, timeout=2)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def _log_report(layout: Layout, name: str) -> str:
    log = _procs.log_since_start(layout, name)
    path = layout.log_file(name)
    if not log:
        return f"it wrote nothing to {path} since this start"
    return f"{path} since this start ends:\n{log}"


def start_failure(layout: Layout, topo: Topology, name: str, port: int) -> str:
    """What to say when ``name`` exited before its health endpoint on ``port`` answered:
    how it ended, the ports it needed that something else holds now, and its own log."""
    how = _procs.describe_exit(_procs.exit_status(layout, name))
    taken = _taken(node_ports(topo, name))
    held = f"; port {', '.join(taken)} is now held by another process" if taken else ""
    return (
        f"{name} {how} during start-up, before https://127.0.0.1:{port}/healthz answered{held}; "
        + _log_report(layout, name)
    )


def _wait_ops(
    layout: Layout, topo: Topology, name: str, port: int, ca: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _ops_ok(port, ca):
            return
        if not _procs.alive(layout, name):
            raise NetworkError(start_failure(layout, topo, name, port))
        time.sleep(0.1)
    pid = _procs.pid_of(layout, name)
    raise NetworkError(
        f"{name} (pid {pid}, still running) did not report healthy on "
        f"https://127.0.0.1:{port}/healthz within {timeout:.0f} s; " + _log_report(layout, name)
    )


# --- up / down / status -------------------------------------------------------------------


def up(root: Path, registry: Sequence[AgencyRecord] | None = None) -> Path:
    """Create (first time) and start the network; returns the connection profile path.

    ``registry`` (required the first time) is the genesis agency registry: one org per agency.
    """
    layout = Layout(root.absolute())
    fabric = ensure_fabric()
    _builder_executable()
    if not layout.state_file.exists():
        if not registry:
            raise NetworkError("a new network needs the agency registry for its genesis")
        _create(layout, fabric, registry)
    topo = layout.load()
    cfg = fabric / "config"
    oca = layout.orderer_org / "msp" / "tlscacerts" / "tlsca.pem"

    for name in topo.orderers:
        start_node(layout, name, fabric)
    for name, ports in topo.orderers.items():
        _wait_ops(layout, topo, name, ports.ops, oca)
    if not _stage(layout, topo, "orderers_joined"):
        admin_tls = layout.orderer_org / "admin" / "tls"
        for name, ports in topo.orderers.items():
            _retry(
                functools.partial(
                    _run,
                    [
                        str(fabric / "bin" / "osnadmin"),
                        "channel",
                        "join",
                        "--channelID",
                        CHANNEL,
                        "--config-block",
                        str(layout.channel_block),
                        "-o",
                        f"127.0.0.1:{ports.admin}",
                        "--ca-file",
                        str(oca),
                        "--client-cert",
                        str(admin_tls / "server.crt"),
                        "--client-key",
                        str(admin_tls / "server.key"),
                    ],
                    {"FABRIC_LOGGING_SPEC": "warning"},
                    f"osnadmin channel join on {name}",
                ),
                f"joining {name} to the channel",
            )
        _done(layout, topo, "orderers_joined")

    for org in topo.agencies:
        start_node(layout, f"cc.{org.code}", fabric)
        start_node(layout, org.peer, fabric)
    for org in topo.agencies:
        ca = layout.org_dir(org.code) / "peer" / "tls" / "ca.crt"
        _wait_ops(layout, topo, org.peer, org.ports.ops, ca)

    if not _stage(layout, topo, "peers_joined"):
        for org in topo.agencies:
            env = admin_env(layout, topo, org.code, cfg)
            peer_bin = str(fabric / "bin" / "peer")
            _retry(
                functools.partial(
                    _run,
                    [peer_bin, "channel", "join", "-b", str(layout.channel_block)],
                    env,
                    f"peer channel join ({org.code})",
                ),
                f"joining {org.peer} to the channel",
            )
        _done(layout, topo, "peers_joined")

    if not _stage(layout, topo, "chaincode_committed"):
        _deploy(layout, topo, fabric)
        _done(layout, topo, "chaincode_committed")
    if not _stage(layout, topo, "registry_written"):
        _init_registry(layout, topo, fabric)
        _done(layout, topo, "registry_written")
    _write_profile(layout, topo)
    return layout.profile


def _create(layout: Layout, fabric: Path, registry: Sequence[AgencyRecord]) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    if any(layout.root.iterdir()):
        raise NetworkError(f"{layout.root} is not empty and holds no network.json")
    layout.root.chmod(0o700)
    topo = Topology.new([(a.code, a.msp_id) for a in registry])
    topo.extra["registry"] = [a.to_dict() for a in registry]
    make_crypto(layout, topo)
    cfg_dir = write_configtx(layout, topo)
    layout.channel_block.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            str(fabric / "bin" / "configtxgen"),
            "-configPath",
            str(cfg_dir),
            "-profile",
            "CertLedger",
            "-channelID",
            CHANNEL,
            "-outputBlock",
            str(layout.channel_block),
        ],
        {"FABRIC_LOGGING_SPEC": "warning"},
        "configtxgen (channel genesis block)",
    )
    ids = {}
    for org in topo.agencies:
        _, ids[org.code] = _package(layout, topo, org.code)
    topo.extra["package_ids"] = ids
    layout.save(topo)


def _orderer_args(layout: Layout, topo: Topology) -> list[str]:
    o = next(iter(topo.orderers.values()))
    return [
        "-o",
        f"127.0.0.1:{o.main}",
        "--tls",
        "--cafile",
        str(layout.orderer_org / "msp" / "tlscacerts" / "tlsca.pem"),
    ]


def _peer_targets(layout: Layout, topo: Topology) -> list[str]:
    args: list[str] = []
    for org in topo.agencies:
        args += [
            "--peerAddresses",
            f"127.0.0.1:{org.ports.main}",
            "--tlsRootCertFiles",
            str(layout.org_dir(org.code) / "peer" / "tls" / "ca.crt"),
        ]
    return args


def _deploy(layout: Layout, topo: Topology, fabric: Path) -> None:
    peer_bin = str(fabric / "bin" / "peer")
    cfg = fabric / "config"
    common = [
        "--channelID",
        CHANNEL,
        "--name",
        CHAINCODE_NAME,
        "--version",
        CC_VERSION,
        "--sequence",
        str(CC_SEQUENCE),
        "--init-required",
    ]
    for org in topo.agencies:
        env = admin_env(layout, topo, org.code, cfg)
        pkg = layout.chaincode / f"{CHAINCODE_NAME}-{org.code}.tar.gz"
        try:
            _run(
                [peer_bin, "lifecycle", "chaincode", "install", str(pkg)],
                env,
                f"chaincode install ({org.code})",
            )
        except NetworkError as exc:
            if "already successfully installed" not in str(exc):
                raise
        pkg_id = str(topo.extra["package_ids"][org.code])
        _retry(
            functools.partial(
                _run,
                [
                    peer_bin,
                    "lifecycle",
                    "chaincode",
                    "approveformyorg",
                    *_orderer_args(layout, topo),
                    *common,
                    "--package-id",
                    pkg_id,
                ],
                env,
                f"approveformyorg ({org.code})",
            ),
            f"approving the chaincode for {org.code}",
        )
    env = admin_env(layout, topo, topo.agencies[0].code, cfg)
    _retry(
        lambda: _run(
            [
                peer_bin,
                "lifecycle",
                "chaincode",
                "commit",
                *_orderer_args(layout, topo),
                *common,
                *_peer_targets(layout, topo),
            ],
            env,
            "chaincode commit",
        ),
        "committing the chaincode definition",
    )


def _init_registry(layout: Layout, topo: Topology, fabric: Path) -> None:
    """Genesis of the contract: the registry, as the chaincode's one init transaction."""
    peer_bin = str(fabric / "bin" / "peer")
    env = admin_env(layout, topo, topo.agencies[0].code, fabric / "config")
    arg = json.dumps({"agencies": topo.extra["registry"]}, ensure_ascii=False)
    ctor = json.dumps({"Args": ["init_registry", arg]}, ensure_ascii=False)
    _retry(
        lambda: _run(
            [
                peer_bin,
                "chaincode",
                "invoke",
                *_orderer_args(layout, topo),
                "-C",
                CHANNEL,
                "-n",
                CHAINCODE_NAME,
                "--isInit",
                "-c",
                ctor,
                *_peer_targets(layout, topo),
                "--waitForEvent",
            ],
            env,
            "chaincode init (registry genesis)",
        ),
        "writing the genesis registry",
        timeout=90,
    )


def _write_profile(layout: Layout, topo: Topology) -> None:
    agencies: dict[str, Any] = {}
    for org in topo.agencies:
        d = layout.org_dir(org.code)
        keystore = next((d / "service" / "msp" / "keystore").iterdir())
        agencies[org.code] = {
            "msp_id": org.msp_id,
            "peer": {
                "address": f"127.0.0.1:{org.ports.main}",
                "tls_ca": str(d / "peer" / "tls" / "ca.crt"),
                "server_name": org.peer,
            },
            "identity": {
                "cert": str(d / "service" / "msp" / "signcerts" / "cert.pem"),
                "key": str(keystore),
            },
        }
    profile = {"channel": CHANNEL, "chaincode": CHAINCODE_NAME, "agencies": agencies}
    layout.profile.write_text(json.dumps(profile, indent=1), "utf-8")


def down(root: Path, *, purge: bool = False) -> list[str]:
    """Stop every node we started (by PID); ``purge`` also deletes the network directory."""
    layout = Layout(root.absolute())
    stopped = []
    if layout.state_file.exists():
        topo = layout.load()
        for name in reversed(_node_names(topo)):
            if _procs.stop(layout, name):
                stopped.append(name)
    if purge and layout.state_file.exists():
        shutil.rmtree(layout.root)
    return stopped


@dataclass(frozen=True)
class NodeStatus:
    name: str
    kind: str
    address: str
    pid: int | None
    healthy: bool
    height: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "address": self.address,
            "pid": self.pid,
            "healthy": self.healthy,
            "height": self.height,
        }


def _chaincode_ok(layout: Layout, code: str, address: str) -> bool:
    """A chaincode server is healthy when it accepts the peer's client certificate over TLS
    and opens the shim stream (it speaks first: REGISTER)."""
    import grpc
    from fabric_protos.peer import chaincode_shim_pb2, chaincode_shim_pb2_grpc

    d = layout.crypto / "chaincode" / code
    creds = grpc.ssl_channel_credentials(
        root_certificates=(d / "server" / "ca.crt").read_bytes(),
        private_key=(d / "client" / "server.key").read_bytes(),
        certificate_chain=(d / "client" / "server.crt").read_bytes(),
    )
    with grpc.secure_channel(address, creds) as channel:
        call = chaincode_shim_pb2_grpc.ChaincodeStub(channel).Connect(iter(()), timeout=3)
        try:
            first = next(iter(call))
        except (grpc.RpcError, StopIteration):
            return False
        finally:
            call.cancel()
    return bool(first.type == chaincode_shim_pb2.ChaincodeMessage.REGISTER)


def status(root: Path) -> list[NodeStatus]:
    """Each node's process, health endpoint and block height on the channel."""
    layout = Layout(root.absolute())
    if not layout.state_file.exists():
        raise NetworkError(f"no network at {layout.root} (run `certledger network up`)")
    fabric = ensure_fabric()
    topo = layout.load()
    out = []
    oca = layout.orderer_org / "msp" / "tlscacerts" / "tlsca.pem"
    admin_tls = layout.orderer_org / "admin" / "tls"
    for name, p in topo.orderers.items():
        pid = _procs.pid_of(layout, name)
        healthy = pid is not None and _ops_ok(p.ops, oca)
        height = None
        if healthy:
            try:
                info = _run(
                    [
                        str(fabric / "bin" / "osnadmin"),
                        "channel",
                        "list",
                        "--channelID",
                        CHANNEL,
                        "-o",
                        f"127.0.0.1:{p.admin}",
                        "--ca-file",
                        str(oca),
                        "--client-cert",
                        str(admin_tls / "server.crt"),
                        "--client-key",
                        str(admin_tls / "server.key"),
                    ],
                    {"FABRIC_LOGGING_SPEC": "warning"},
                    "osnadmin channel list",
                )
                height = int(json.loads(info[info.index("{") :])["height"])
            except (NetworkError, ValueError, KeyError):
                height = None
        out.append(NodeStatus(name, "orderer", f"127.0.0.1:{p.main}", pid, healthy, height))
    for org in topo.agencies:
        pid = _procs.pid_of(layout, org.peer)
        ca = layout.org_dir(org.code) / "peer" / "tls" / "ca.crt"
        healthy = pid is not None and _ops_ok(org.ports.ops, ca)
        height = None
        if healthy:
            try:
                info = _run(
                    [str(fabric / "bin" / "peer"), "channel", "getinfo", "-c", CHANNEL],
                    admin_env(layout, topo, org.code, fabric / "config"),
                    "peer channel getinfo",
                )
                height = int(json.loads(info[info.index("{") :])["height"])
            except (NetworkError, ValueError, KeyError):
                height = None
        out.append(
            NodeStatus(org.peer, "peer", f"127.0.0.1:{org.ports.main}", pid, healthy, height)
        )
    for org in topo.agencies:
        name = f"cc.{org.code}"
        pid = _procs.pid_of(layout, name)
        address = f"127.0.0.1:{topo.chaincode_port[org.code]}"
        healthy = pid is not None and _chaincode_ok(layout, org.code, address)
        out.append(NodeStatus(name, "chaincode", address, pid, healthy, None))
    return out
