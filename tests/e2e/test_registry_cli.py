"""`certledger registry propose|approve|list` on the embedded ledger of a real deployment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment, make_deployment

SEAL = "ab" * 32


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return make_deployment(tmp_path_factory.mktemp("registry-cli") / "home")


def test_add_agency_by_majority_through_the_cli(dep: Deployment) -> None:
    proc = dep.cli(
        "registry", "propose", "add-agency", "health",
        "--as", "market-regulation",
        "--msp-id", "HealthMSP", "--name-zh", "卫生健康委员会", "--name-en", "Health Commission",
        "--types", "health-permit", "--fingerprint", SEAL, "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proposal = json.loads(proc.stdout)
    assert proposal["status"] == "open"
    assert proposal["approvals"] == ["market-regulation"]
    assert proposal["needed"] == 2
    pid = proposal["proposal_id"]

    again = dep.cli("registry", "approve", pid, "--as", "market-regulation")
    assert again.returncode == 4
    assert "already approved" in again.stderr and "只批准一次" in again.stderr

    done = dep.cli("registry", "approve", pid, "--as", "transport", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["status"] == "applied" and body["registry_revision"] == 2

    late = dep.cli("registry", "approve", pid, "--as", "human-resources")
    assert late.returncode == 4
    assert "PROPOSAL_CLOSED" not in late.stderr  # a sentence, not a code
    assert "已生效" in late.stderr

    listed = dep.cli("registry", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(p["proposal_id"], p["status"]) for p in json.loads(listed.stdout)] == [
        (pid, "applied")
    ]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["propose", "drop-agency", "transport", "--as", "transport"], "unknown change"),
        (["propose", "add-seal", "transport", "--as", "transport"], "fingerprint"),
        (["propose", "add-seal", "transport", "--as", "transport", "--fingerprint", "xyz"], "hex"),
        (["propose", "set-types", "nobody", "--as", "transport", "--types", "a"], "no registered"),
        (["propose", "set-types", "transport", "--as", "nobody", "--types", "a"], "not in the"),
        (["approve", "no-such-id", "--as", "transport"], "no registry proposal"),
        (["approve", "no-such-id"], "--as"),
    ],
    ids=["kind", "no-fp", "bad-fp", "unknown-target", "unknown-actor", "unknown-id", "no-actor"],
)
def test_bad_requests_exit_non_zero_with_a_reason(
    dep: Deployment, args: list[str], fragment: str
) -> None:
    proc = dep.cli("registry", *args)
    assert proc.returncode != 0
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr
    assert any("\u4e00" <= c <= "\u9fff" for c in proc.stderr), proc.stderr  # Chinese too


def test_network_add_agency_refusals(dep: Deployment, tmp_path: Path) -> None:
    none = dep.cli("network", "add-agency", "transport", "--dir", str(tmp_path / "none"))
    assert none.returncode == 5
    assert "no network at" in none.stderr and "网络尚未创建" in none.stderr
    made = tmp_path / "net"
    made.mkdir()
    (made / "network.json").write_text("{}", "utf-8")
    unknown = dep.cli("network", "add-agency", "nobody", "--dir", str(made))
    assert unknown.returncode == 4
    assert "not in the deployment's registry" in unknown.stderr
    assert "Traceback" not in unknown.stderr
