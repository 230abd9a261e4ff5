"""Network pieces that need no running network: build failures, crypto, the builder,
starting and stopping processes, ports, and build.sh's choice of binaries."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509

import network
from network import _network, _procs
from network._network import node_ports, start_failure
from network._pki import CertAuthority, fabric_ski, write_msp
from network._topology import Topology, ephemeral_range, free_ports, port_in_use

BUILDER = Path(network.__file__).parent / "builder" / "bin"


def test_missing_fabric_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTLEDGER_FABRIC_HOME", str(tmp_path))
    with pytest.raises(network.NetworkError, match="no bin/peer"):
        network.ensure_fabric()


def test_msp_layout_roles_and_key_name(tmp_path: Path) -> None:
    ca = CertAuthority("TransportMSP", "ca.transport")
    tls = CertAuthority("TransportMSP", "tlsca.transport")
    peer = ca.issue("peer0.transport", ou="peer")
    write_msp(tmp_path / "msp", ca, tls, peer)
    key_file = tmp_path / "msp" / "keystore" / f"{fabric_ski(peer.key.public_key())}_sk"
    assert key_file.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(
        (tmp_path / "msp" / "signcerts" / "cert.pem").read_bytes()
    )
    ous = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [a.value for a in ous] == ["peer"]
    config = json.loads((tmp_path / "msp" / "config.yaml").read_text())
    assert config["NodeOUs"]["Enable"] is True
    assert "key=<hidden>" in repr(peer)


def test_external_builder_claims_only_ccaas(tmp_path: Path) -> None:
    src, meta, out, rel = (tmp_path / d for d in ("src", "meta", "out", "rel"))
    for d in (src, meta, out, rel):
        d.mkdir()
    (meta / "metadata.json").write_text('{"type": "golang", "label": "x"}')
    assert subprocess.run([BUILDER / "detect", src, meta]).returncode != 0
    (meta / "metadata.json").write_text('{"type":"ccaas","label":"x"}')
    assert subprocess.run([BUILDER / "detect", src, meta]).returncode == 0
    (src / "connection.json").write_text('{"address": "127.0.0.1:1"}')
    subprocess.run([BUILDER / "build", src, meta, out], check=True)
    subprocess.run([BUILDER / "release", out, rel], check=True)
    released = rel / "chaincode" / "server" / "connection.json"
    assert json.loads(released.read_text()) == {"address": "127.0.0.1:1"}


def test_signatures_are_low_s_and_verify() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from ledger.fabric import Identity

    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    key = ec.generate_private_key(ec.SECP256R1())
    ident = Identity("TransportMSP", b"cert", key)
    for i in range(100):
        data = f"proposal {i}".encode()
        sig = ident.sign(data)
        _, s = decode_dss_signature(sig)
        assert s <= n // 2
        key.public_key().verify(sig, data, ec.ECDSA(hashes.SHA256()))
    assert "hidden" in repr(ident)


# --- start-up: the PID check, how a failed start is reported, ports ------------------------

SLEEP = shutil.which("sleep") or "/bin/sleep"


def _layout(tmp_path: Path) -> network.Layout:
    layout = network.Layout(tmp_path / "net")
    layout.save(Topology.new([("transport", "TransportMSP")]))
    return layout


def test_a_node_is_recognised_as_running_the_moment_start_returns(tmp_path: Path) -> None:
    # Popen returns while the child is still in execve, when /proc/<pid>/cmdline reads
    # empty: a PID check right then took a starting peer for dead ("exited during start-up"
    # with an empty log). start() now returns only once the command line is in place.
    layout = _layout(tmp_path)
    for i in range(150):
        node = f"n{i % 3}"
        pid = _procs.start(layout, node, [SLEEP, "30"], {}, marker=SLEEP)
        assert _procs.pid_of(layout, node) == pid, f"start {i}: pid_of missed pid {pid}"
        assert _procs.alive(layout, node)
        assert SLEEP in " ".join(_procs._cmdline(pid))
        assert _procs.stop(layout, node, kill=True)
        assert not _procs.alive(layout, node)


def test_another_process_sees_the_started_node_as_ours(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    pid = _procs.start(layout, "n", [SLEEP, "30"], {}, marker=SLEEP)
    try:
        code = (
            "import sys; from pathlib import Path; import network; from network import _procs;"
            "print(_procs.pid_of(network.Layout(Path(sys.argv[1])), 'n'))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(layout.root)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert out == str(pid)
    finally:
        _procs.stop(layout, "n", kill=True)


def _wait_exit(layout: network.Layout, node: str) -> None:
    deadline = time.monotonic() + 10
    while _procs.alive(layout, node):
        assert time.monotonic() < deadline, f"{node} did not exit"
        time.sleep(0.02)


def test_a_failed_start_says_how_it_ended_and_shows_only_this_starts_log(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path)
    topo = layout.load()
    layout.logs.mkdir(parents=True)
    layout.log_file("peer0.transport").write_text("an earlier run's last words\n")
    script = "echo 'listen tcp: bind: address already in use' >&2; exit 3"
    _procs.start(layout, "peer0.transport", ["sh", "-c", script], {}, marker=script)
    _wait_exit(layout, "peer0.transport")
    assert _procs.exit_status(layout, "peer0.transport") == 3
    ops = topo.agency("transport").ports.ops
    with socket.socket() as holder:  # something else took the node's operations port
        holder.bind(("127.0.0.1", ops))
        holder.listen()
        message = start_failure(layout, topo, "peer0.transport", ops)
    assert message.startswith("peer0.transport exited with status 3 during start-up"), message
    assert f"https://127.0.0.1:{ops}/healthz" in message
    assert f"port {ops} (operations) is now held by another process" in message
    assert message.rstrip().endswith("listen tcp: bind: address already in use"), message
    assert "earlier run" not in message


def test_a_start_killed_by_a_signal_with_an_empty_log_says_so(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    topo = layout.load()
    script = "kill -9 $$"
    _procs.start(layout, "orderer1", ["sh", "-c", script], {}, marker=script)
    _wait_exit(layout, "orderer1")
    ops = topo.orderers["orderer1"].ops
    message = start_failure(layout, topo, "orderer1", ops)
    assert "orderer1 was killed by signal 9 (SIGKILL) during start-up" in message, message
    assert f"it wrote nothing to {layout.log_file('orderer1')} since this start" in message
    assert _procs.describe_exit(None).startswith("exited (exit status unknown")


def test_ports_are_picked_below_the_ephemeral_range(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ports from the ephemeral range can be taken, between the pick and the node's bind, by
    # any outgoing connection's local end; below the range the kernel hands none out.
    low, _ = ephemeral_range()
    ports = free_ports(30)
    assert len(set(ports)) == 30
    if low > 10000 + 8 * 30:
        assert all(10000 <= p < low for p in ports), ports
    assert not any(port_in_use(p) for p in ports)
    topo = Topology.new([("a", "AMSP"), ("b", "BMSP"), ("c", "CMSP")])
    everything = [p for n in topo.orderers for p in node_ports(topo, n).values()]
    for org in topo.agencies:
        everything += [*node_ports(topo, org.peer).values(), topo.chaincode_port[org.code]]
    assert len(set(everything)) == len(everything) == 21


def test_start_node_refuses_a_taken_port_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = _layout(tmp_path)
    topo = layout.load()
    monkeypatch.setattr(_network, "PORT_GRACE", 0.2)
    main = topo.agency("transport").ports.main
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", main))
        holder.listen()
        with pytest.raises(network.NetworkError, match=rf"port {main} \(gRPC\) on 127.0.0.1"):
            network.start_node(layout, "peer0.transport", tmp_path / "no-fabric")
    assert not layout.pid_file("peer0.transport").exists()


# --- network/build.sh, without building anything ------------------------------------------

BUILD = Path(network.__file__).parent / "build.sh"


def _build(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CERTLEDGER_FABRIC")}
    full.update(CERTLEDGER_FABRIC_CACHE=str(tmp_path / "cache"), **env)
    return subprocess.run(
        ["bash", str(BUILD)], env=full, capture_output=True, text=True, timeout=60
    )


def test_build_refuses_a_source_archive_with_another_digest(tmp_path: Path) -> None:
    archive = tmp_path / "fabric-src.tar.xz"
    archive.write_bytes(b"not the pinned source")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    proc = _build(tmp_path, CERTLEDGER_FABRIC_SOURCE=str(archive))
    assert proc.returncode == 3, proc.stderr
    assert f"refusing CERTLEDGER_FABRIC_SOURCE={archive}: its SHA-256 is {digest}" in proc.stderr
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [".lock"], "no half cache"
    proc = _build(tmp_path, CERTLEDGER_FABRIC_SOURCE=str(tmp_path / "missing.tar.xz"))
    assert proc.returncode == 2 and "is not a file" in proc.stderr


def _release(tmp_path: Path, *, config: bool = True) -> Path:
    bin_dir = tmp_path / "release" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("peer", "orderer", "configtxgen", "osnadmin"):
        script = bin_dir / tool
        script.write_text("#!/bin/sh\necho 'peer:'; echo ' Version: v3.1.5'\n")
        script.chmod(0o755)
    if config:
        (tmp_path / "release" / "config").mkdir()
        for name in ("core.yaml", "orderer.yaml"):
            (tmp_path / "release" / "config" / name).write_text(f"# {name}\n")
    return bin_dir


def test_build_takes_release_binaries_first_and_caches_the_entry(tmp_path: Path) -> None:
    bin_dir = _release(tmp_path)
    (tmp_path / "cache" / ".build.left-by-a-killed-build" / "bin").mkdir(parents=True)
    proc = _build(
        tmp_path,
        CERTLEDGER_FABRIC_BIN=str(bin_dir),
        CERTLEDGER_FABRIC_SOURCE=str(tmp_path / "never-read.tar.xz"),
    )
    assert proc.returncode == 0, proc.stderr
    home = Path(proc.stdout.strip())
    assert home.parent == tmp_path / "cache"
    assert (home / "bin").resolve() == bin_dir.resolve()
    assert (home / "config" / "core.yaml").read_text() == "# core.yaml\n"
    assert proc.stderr == ""
    again = _build(tmp_path, CERTLEDGER_FABRIC_BIN=str(bin_dir))
    assert again.returncode == 0 and Path(again.stdout.strip()) == home
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [".lock", home.name]


def test_build_says_where_release_config_is_missing(tmp_path: Path) -> None:
    proc = _build(tmp_path, CERTLEDGER_FABRIC_BIN=str(_release(tmp_path, config=False)))
    assert proc.returncode == 2
    assert "no sibling config/{core,orderer}.yaml" in proc.stderr
    assert "CERTLEDGER_FABRIC_SOURCE" in proc.stderr
    proc = _build(tmp_path, CERTLEDGER_FABRIC_BIN=str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_the_exit_status_survives_other_nodes_starting(tmp_path: Path) -> None:
    # up() starts every peer before it waits on the first: a peer that died meanwhile must
    # still be reported with its own exit status, not as "started by another process".
    layout = _layout(tmp_path)
    _procs.start(layout, "peer0.transport", ["sh", "-c", "exit 7"], {}, marker="exit 7")
    _wait_exit(layout, "peer0.transport")
    pid = _procs.start(layout, "cc.transport", [SLEEP, "30"], {}, marker=SLEEP)
    try:
        assert _procs.exit_status(layout, "peer0.transport") == 7
    finally:
        _procs.stop(layout, "cc.transport", kill=True)
    assert pid not in _procs._CHILDREN
