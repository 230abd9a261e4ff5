"""Network pieces that need no running network: build failures, crypto, the builder."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

import network
from network._pki import CertAuthority, fabric_ski, write_msp

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
