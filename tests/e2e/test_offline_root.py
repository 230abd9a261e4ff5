"""The root CA key is kept out of the serving deployment, through the real command line:
`certledger init` writes it to a separate offline directory, issuing, verifying, serving and the
daily `seal crl` work without it, and `seal arl` (the yearly offline step) needs it explicitly."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from signing import Secret
from signing._keys import read_private_key
from signing.revocation import ARL_VALIDITY, build_crl
from tests.keyfiles import private_keys_under

from .conftest import (
    CLI,
    PASSPHRASE,
    Deployment,
    example,
    make_deployment,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return make_deployment(tmp_path_factory.mktemp("offline-root") / "home")


def _offline(dep: Deployment) -> Path:
    return dep.home.with_name(dep.home.name + ".root-ca")


def _root(dep: Deployment) -> x509.Certificate:
    return x509.load_pem_x509_certificate((dep.home / "pki" / "root-ca.pem").read_bytes())


def _private_keys(directory: Path) -> list[tuple[Path, ec.EllipticCurvePublicKey]]:
    return private_keys_under(directory, Secret(PASSPHRASE))


def _arl(dep: Deployment) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl((dep.home / "pki" / "crl" / "root-ca.crl").read_bytes())


def _number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_init_leaves_no_root_private_key_in_the_home(dep: Deployment) -> None:
    root = _root(dep)
    keys = _private_keys(dep.home)
    assert keys, "the walk found no key files at all"
    assert all(public != root.public_key() for _, public in keys), [str(p) for p, _ in keys]

    offline = _offline(dep)
    key_file = offline / "root-ca.key.pem"
    assert stat.S_IMODE(offline.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    [(_, public)] = _private_keys(offline)
    assert public == root.public_key()


def test_init_reports_where_the_root_key_went(tmp_path: Path) -> None:
    env = dict(os.environ, CERTLEDGER_HOME=str(tmp_path / "home"), CERTLEDGER_PASSPHRASE=PASSPHRASE)
    env.pop("CERTLEDGER_BASE_URL", None)
    media = tmp_path / "usb" / "certledger-root"

    inside = subprocess.run(
        [*CLI, "init", "--offline-dir", str(tmp_path / "home" / "offline")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert inside.returncode != 0 and "inside the data directory" in inside.stderr
    assert not (tmp_path / "home").exists()

    proc = subprocess.run(
        [*CLI, "init", "--offline-dir", str(media)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"root CA key (offline) written to {media / 'root-ca.key.pem'}" in proc.stdout
    assert "offline media" in proc.stdout and "离线介质" in proc.stdout
    assert (media / "root-ca.key.pem").is_file()
    assert not (tmp_path / "home.root-ca").exists()

    again = subprocess.run(
        [*CLI, "--home", str(tmp_path / "second"), "init", "--json", "--offline-dir", str(media)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert again.returncode != 0 and "already exists" in again.stderr  # never overwritten
    assert not (tmp_path / "second" / "settings.json").exists()


def test_init_json_names_the_offline_key(tmp_path: Path) -> None:
    env = dict(os.environ, CERTLEDGER_HOME=str(tmp_path / "h"), CERTLEDGER_PASSPHRASE=PASSPHRASE)
    proc = subprocess.run(
        [*CLI, "init", "--json"], env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["offline_root_key"] == str(tmp_path / "h.root-ca" / "root-ca.key.pem")
    assert "offline media" in info["offline_root_key_advice"]


def test_issuing_verifying_serving_and_the_daily_crl_work_without_the_root_key(
    dep: Deployment, catalogue: list[dict[str, Any]], tmp_path: Path
) -> None:
    offline = _offline(dep)
    shelf = tmp_path / "on-a-shelf"
    offline.rename(shelf)  # the offline media, unplugged
    try:
        data = tmp_path / "data.json"
        data.write_text(
            json.dumps(example(catalogue, "road-transport-permit"), ensure_ascii=False), "utf-8"
        )
        out = tmp_path / "permit.pdf"
        dep.issue_permit(data, out, check=True)
        verified = dep.cli("verify", str(out), "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert json.loads(verified.stdout)["verdict"] == "VALID"

        arl_before = _arl(dep)
        daily = dep.cli("seal", "crl", check=True)
        assert "issuing-ca.crl" in daily.stdout and "root ARL valid until" in daily.stdout
        assert _number(_arl(dep)) == _number(arl_before)  # the ARL is not re-signed online

        server = start_server(dep)
        try:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                assert c.get("/crl/root-ca.crl").status_code == 200
                assert c.get("/healthz").status_code == 200
        finally:
            stop_server(server)
    finally:
        shelf.rename(offline)


def test_seal_arl_is_an_offline_step(dep: Deployment) -> None:
    refused = dep.cli("seal", "arl")
    assert refused.returncode != 0
    assert "offline step" in refused.stderr and "--offline-dir" in refused.stderr
    assert "离线" in refused.stderr and "Traceback" not in refused.stderr

    wrong = dep.cli("seal", "arl", "--offline-dir", str(dep.home / "pki"))
    assert wrong.returncode != 0 and "root CA key" in wrong.stderr

    # A year on, the daily `seal crl` says the ARL has expired and how to re-sign it.
    root_key = read_private_key(
        _offline(dep) / "root-ca.key.pem", Secret(PASSPHRASE), display_name="root"
    )
    stale = build_crl(
        _root(dep),
        root_key,
        {},
        now=datetime.now(UTC) - timedelta(days=400),
        number=_number(_arl(dep)) + 1,
        validity=ARL_VALIDITY,
    )
    (dep.home / "pki" / "crl" / "root-ca.crl").write_bytes(stale)
    daily = dep.cli("seal", "crl")
    assert daily.returncode == 0, daily.stderr  # the issuing CA's CRL is still published
    assert "ARL expired on" in daily.stderr and "seal arl --offline-dir" in daily.stderr

    before = _arl(dep)
    done = dep.cli("seal", "arl", "--offline-dir", str(_offline(dep)), "--json", check=True)
    result = json.loads(done.stdout)
    after = _arl(dep)
    assert result["published"].endswith("root-ca.crl")
    assert result["valid_until"] == after.next_update_utc.isoformat()
    assert _number(after) == _number(before) + 1
    assert after.is_signature_valid(_root(dep).public_key())  # type: ignore[arg-type]

    audit = dep.cli("audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr
