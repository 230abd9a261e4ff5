"""The channel update `add-agency` computes, checked without a network."""

from __future__ import annotations

from pathlib import Path

from fabric_protos.common import configtx_pb2, policies_pb2
from fabric_protos.msp import msp_config_pb2, msp_principal_pb2
from fabric_protos.peer import configuration_pb2

from network import Layout
from network._addorg import _config_update
from network._config import make_org_crypto
from network._topology import AgencyOrg, NodePorts


def _signature_policy(msp: str) -> configtx_pb2.ConfigPolicy:
    role = msp_principal_pb2.MSPRole(msp_identifier=msp, role=msp_principal_pb2.MSPRole.ADMIN)
    envelope = policies_pb2.SignaturePolicyEnvelope(
        identities=[msp_principal_pb2.MSPPrincipal(principal=role.SerializeToString())]
    )
    policy = configtx_pb2.ConfigPolicy(version=4, mod_policy="Admins")
    policy.policy.type = policies_pb2.Policy.SIGNATURE
    policy.policy.value = envelope.SerializeToString()
    return policy


def _config() -> configtx_pb2.Config:
    config = configtx_pb2.Config(sequence=5)
    channel = config.channel_group
    channel.version = 3
    channel.groups["Orderer"].version = 7
    app = channel.groups["Application"]
    app.version = 2
    app.mod_policy = "Admins"
    app.policies["Admins"].version = 1
    app.values["Capabilities"].version = 1
    org = app.groups["OldMSP"]
    org.version = 1
    org.mod_policy = "Admins"
    msp = msp_config_pb2.FabricMSPConfig(name="OldMSP", root_certs=[b"old ca"])
    msp.fabric_node_ous.enable = True
    msp.fabric_node_ous.peer_ou_identifier.certificate = b"old ca"
    org.values["MSP"].value = msp_config_pb2.MSPConfig(
        config=msp.SerializeToString()
    ).SerializeToString()
    org.values["MSP"].version = 2
    org.values["AnchorPeers"].version = 1
    org.policies["Admins"].CopyFrom(_signature_policy("OldMSP"))
    return config


def test_update_adds_one_org_and_lists_the_rest_by_version(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    new = AgencyOrg("newcomer", "NewMSP", "peer0.newcomer", NodePorts(main=12345, ops=12346))
    make_org_crypto(layout, new)
    update = _config_update(layout, new, _config())

    assert update.channel_id == "certledger"
    assert set(update.read_set.groups) == {"Application"} == set(update.write_set.groups)
    read_app, write_app = (
        update.read_set.groups["Application"],
        update.write_set.groups["Application"],
    )
    assert read_app.version == 2 and write_app.version == 3
    assert write_app.mod_policy == "Admins"
    assert set(read_app.groups) == {"OldMSP"}
    assert set(write_app.groups) == {"OldMSP", "NewMSP"}
    # The existing org is named by version only: nothing of it is rewritten.
    assert write_app.groups["OldMSP"] == configtx_pb2.ConfigGroup(version=1)
    assert write_app.policies["Admins"] == configtx_pb2.ConfigPolicy(version=1)
    assert write_app.values["Capabilities"] == configtx_pb2.ConfigValue(version=1)

    added = write_app.groups["NewMSP"]
    assert added.version == 0 and added.mod_policy == "Admins"
    msp = msp_config_pb2.FabricMSPConfig.FromString(
        msp_config_pb2.MSPConfig.FromString(added.values["MSP"].value).config
    )
    ca = (tmp_path / "crypto" / "newcomer" / "msp" / "cacerts" / "ca.pem").read_bytes()
    assert msp.name == "NewMSP"
    assert list(msp.root_certs) == [ca]
    assert msp.fabric_node_ous.peer_ou_identifier.certificate == ca
    anchors = configuration_pb2.AnchorPeers.FromString(added.values["AnchorPeers"].value)
    assert [(a.host, a.port) for a in anchors.anchor_peers] == [("127.0.0.1", 12345)]
    envelope = policies_pb2.SignaturePolicyEnvelope.FromString(
        added.policies["Admins"].policy.value
    )
    roles = [msp_principal_pb2.MSPRole.FromString(p.principal) for p in envelope.identities]
    assert [r.msp_identifier for r in roles] == ["NewMSP"]
    assert all(v.version == 0 for v in added.values.values())
    assert all(p.version == 0 for p in added.policies.values())
