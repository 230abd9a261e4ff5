"""Holder-key rotation: a new key for new certificates, the old digests still matched during the
transition, and after the re-key the store needs the current key only and the retired one is
gone. On a real deployment made by `certledger init`, through the application services."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from certificates import Home, Principal
from certificates.holder_key import HolderKey, retired_dir, rotate
from certificates.sharing.rekey import rekey_store
from signing import Secret
from verify_api.runtime import Runtime, open_runtime

from .conftest import PASSPHRASE, example, make_deployment

pytestmark = pytest.mark.e2e

CTYPE = "qualification-certificate"
ISSUER = "human-resources"
GRANTEE = "transport"


def _runtime(home: Home) -> Runtime:
    return open_runtime(home, passphrase=Secret(PASSPHRASE))


def _issue(rt: Runtime, data: dict[str, Any]) -> str:
    return rt.issuing().issue_as(Principal.operator(ISSUER), CTYPE, data).cert_id


def _found(rt: Runtime, holder: str) -> list[str]:
    who = Principal("verifier-test", GRANTEE, frozenset({"verifier"}))
    _decision, results = rt.sharing.lookup(who, CTYPE, holder, "rotation-check")
    return [r["id"] for r in results]


def _digest_of(rt: Runtime, cert_id: str) -> str:
    row = rt.store.get(cert_id)
    assert row is not None
    return row.holder_digest


def test_rotation_keeps_old_certificates_found_until_the_rekey(
    tmp_path: Path, catalogue: list[dict[str, Any]]
) -> None:
    dep = make_deployment(tmp_path / "home")
    home = Home(dep.home)
    data = example(catalogue, CTYPE)
    holder = data["id_number"]

    rt = _runtime(home)
    try:
        rt.sharing.create_agreement(
            Principal.operator(ISSUER),
            grantee=GRANTEE,
            cert_types=[CTYPE],
            purposes=["rotation-check"],
            fields=["holder_name"],
            valid_until=date.today() + timedelta(days=30),
        )
        before = _issue(rt, data)
        old_digest = _digest_of(rt, before)
    finally:
        rt.close()

    rotated = rotate(home.holder_key, Secret(PASSPHRASE))
    assert rotated.retired_count == 1
    assert len(list(retired_dir(home.holder_key).glob("*.bin"))) == 1

    rt = _runtime(home)
    try:
        # The same holder's other qualification (another level: not a duplicate).
        after = _issue(rt, {**data, "level": "四级/中级工"})
        new_digest = _digest_of(rt, after)
        # New certificates get the new key's digest; the old keeps its own.
        assert new_digest != old_digest
        assert new_digest == HolderKey.load(home.holder_key, Secret(PASSPHRASE)).digest(holder)
        # During the transition a lookup finds both.
        assert _found(rt, holder) == [before, after]

        result = rekey_store(rt.store, rotated, home.holder_key, audit=rt.audit, actor="cli:test")
        assert (result.rekeyed, result.forgotten) == (1, 1)
        assert result.rows >= 2
        assert _digest_of(rt, before) == new_digest
        rt.sharing.forget_holders()
    finally:
        rt.close()

    # The retired key is gone; the current key alone finds every certificate.
    assert not list(retired_dir(home.holder_key).glob("*.bin"))
    key = HolderKey.load(home.holder_key, Secret(PASSPHRASE))
    assert key.retired_count == 0
    rt = _runtime(home)
    try:
        assert _found(rt, holder) == [before, after]
        # Run again: nothing left to do.
        again = rekey_store(rt.store, key, home.holder_key, audit=rt.audit, actor="cli:test")
        assert (again.rekeyed, again.forgotten) == (0, 0)
    finally:
        rt.close()


def test_rotation_needs_the_passphrase(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path / "home")
    home = Home(dep.home)
    before = home.holder_key.read_bytes()
    with pytest.raises(Exception, match="does not decrypt"):
        rotate(home.holder_key, Secret("not the passphrase at all"))
    assert home.holder_key.read_bytes() == before
    assert not retired_dir(home.holder_key).exists()


def test_the_commands_rotate_and_rekey(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path / "home")
    home = Home(dep.home)
    first = HolderKey.load(home.holder_key, Secret(PASSPHRASE))
    r = dep.cli("holder-key", "rotate", "--json", check=True)
    assert json.loads(r.stdout) == {"retired_keys": 1}
    assert HolderKey.load(home.holder_key, Secret(PASSPHRASE)).digest("X") != first.digest("X")
    r = dep.cli("holder-key", "rekey", "--json", check=True)
    assert json.loads(r.stdout)["forgotten"] == 1
    assert not list(retired_dir(home.holder_key).glob("*.bin"))
    # Without the passphrase: a clear refusal, nothing changed.
    before = home.holder_key.read_bytes()
    r = dep.cli("holder-key", "rotate", extra_env={"CERTLEDGER_PASSPHRASE": ""})
    assert r.returncode != 0 and "CERTLEDGER_PASSPHRASE" in r.stderr
    assert home.holder_key.read_bytes() == before
    audit = dep.cli("audit", "verify", check=True)
    assert "OK" in audit.stdout
