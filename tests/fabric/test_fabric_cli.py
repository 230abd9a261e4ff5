"""The command line on the Fabric backend: crash safety, an unreachable peer, ledger verify."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.e2e.conftest import CLI, CRASHING_CLI, Deployment, example, free_port

from .conftest import FabricNet, eventually


def _issue(
    dep: Deployment,
    net: FabricNet,
    catalogue: list[dict[str, Any]],
    tmp: Path,
    *,
    crash: bool = False,
) -> tuple[Any, Path]:
    data = tmp / "data.json"
    data.write_text(
        json.dumps(example(catalogue, "road-transport-permit"), ensure_ascii=False), "utf-8"
    )
    out = tmp / "permit.pdf"
    args = ["issue", "--agency", "transport", "--type", "road-transport-permit"]
    proc = dep.cli(
        *args,
        "--data",
        str(data),
        "--out",
        str(out),
        "--json",
        extra_env=net.env(),
        program=CRASHING_CLI if crash else CLI,
    )
    return proc, out


def test_crash_between_seal_and_anchor_anchors_exactly_once_on_fabric(
    fabric_deployment: Deployment,
    fabric_net: FabricNet,
    catalogue: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    dep, env = fabric_deployment, fabric_net.env()
    proc, out = _issue(dep, fabric_net, catalogue, tmp_path, crash=True)
    assert proc.returncode == 137, proc.stderr
    assert not out.exists()
    with sqlite3.connect(dep.home / "certificates.db") as db:
        (cid,) = db.execute(
            "SELECT id FROM certificates ORDER BY issued_at DESC LIMIT 1"
        ).fetchone()

    # `certledger anchor` (or the running server's re-send loop, whichever comes first)
    # anchors it; either way exactly once.
    def anchored() -> dict[str, Any]:
        dep.cli("anchor", "--json", check=True, extra_env=env)
        status: dict[str, Any] = json.loads(
            dep.cli("status", cid, "--json", check=True, extra_env=env).stdout
        )
        assert status["status"] == "active", status
        return status

    status = eventually(anchored, timeout=60)
    again = dep.cli("anchor", "--json", check=True, extra_env=env)
    assert json.loads(again.stdout)["anchored"] == 0
    assert len([h for h in status["history"] if h["status"] == "active"]) == 1
    assert dep.cli("ledger", "verify", extra_env=env).returncode == 0


def test_unreachable_peer_is_indeterminate_never_valid(
    fabric_deployment: Deployment,
    fabric_net: FabricNet,
    catalogue: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    proc, out = _issue(fabric_deployment, fabric_net, catalogue, tmp_path)
    assert proc.returncode == 0, proc.stderr
    profile = json.loads(fabric_net.profile.read_text())
    for agency in profile["agencies"].values():
        agency["peer"]["address"] = f"127.0.0.1:{free_port()}"  # nothing listens there
    dead = tmp_path / "unreachable-profile.json"
    dead.write_text(json.dumps(profile))
    env = dict(fabric_net.env("transport"), CERTLEDGER_FABRIC_PROFILE=str(dead))
    r = fabric_deployment.cli("verify", str(out), "--json", extra_env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["verdict"] == "INDETERMINATE"
    ledger_checks = [c for c in report["checks"] if c["code"] == "LEDGER_ANCHORED"]
    assert ledger_checks and ledger_checks[0]["verdict"] == "INDETERMINATE"
