"""``add-agency``: a new agency organisation joins the running network, in one command.

Steps, each checked against the network's real state before it is done, so a re-run after
any failure (the new peer lost mid-join, a timeout, a signature missing) finishes the job
and never does a step twice:

1. ports and names for the new org in ``network.json``;
2. its crypto material (``make_org_crypto``), unless its org MSP is already on disk;
3. the channel configuration update: fetch the latest config block, add the org (its MSP
   with its own CA and TLS CA, its policies, its anchor peer) under ``/Channel/Application``,
   compute the update, have a MAJORITY of the existing orgs' admins sign it (the
   Application ``Admins`` policy), submit it; skipped when the config already has the org;
4. its chaincode server and peer started, and the peer joined to the channel unless its
   ``peer channel list`` already shows the channel. A Fabric peer creates its ledger only
   from the channel's genesis block (or a snapshot); it then pulls every later block and so
   applies the latest config, the one that admits its org. (Orderers can join from a later
   config block; peers cannot, see docs/fabric.md);
5. the contract installed on its peer and the committed definition approved for its org (same
   sequence: the endorsement policy is ``MAJORITY Endorsement`` over the channel's orgs, so it
   grows with the channel and the definition need not be committed again);
6. its registry entry, through the contract's majority procedure (:mod:`chaincode.governance`):
   proposed by one existing agency and approved by others, each with its own identity; an
   open proposal for the same agency is approved instead of making a second one.
"""

from __future__ import annotations

import functools
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from fabric_protos.common import common_pb2, configtx_pb2, policies_pb2
from fabric_protos.msp import msp_config_pb2, msp_principal_pb2
from fabric_protos.peer import configuration_pb2

from chaincode import AgencyRecord
from network._config import admin_env, make_org_crypto
from network._network import (
    NetworkError,
    _orderer_args,
    _package,
    _retry,
    _run,
    _wait_ops,
    _write_profile,
    ensure_fabric,
    start_node,
)
from network._topology import CHAINCODE_NAME, CHANNEL, AgencyOrg, Layout, NodePorts, free_ports

__all__ = ["add_agency", "channel_orgs"]


def add_agency(root: Path, record: AgencyRecord, *, valid_days: int = 7) -> Path:
    """Bring ``record``'s organisation into the running network; returns the profile path."""
    layout = Layout(root.absolute())
    if not layout.state_file.exists():
        raise NetworkError(f"no network at {layout.root} (run `certledger network up` first)")
    fabric = ensure_fabric()
    topo = layout.load()
    existing = [o for o in topo.agencies if o.code != record.code]
    if not existing:
        raise NetworkError("add-agency needs a running network with at least one agency")

    # 1. names and ports
    try:
        org = topo.agency(record.code)
        if org.msp_id != record.msp_id:
            raise NetworkError(
                f"{record.code} is in this network with MSP {org.msp_id}, not {record.msp_id}"
            )
    except KeyError:
        if any(o.msp_id == record.msp_id for o in topo.agencies):
            raise NetworkError(f"MSP {record.msp_id} already belongs to another agency") from None
        main, ops, cc_listen, cc_port = free_ports(4)
        org = AgencyOrg(
            record.code,
            record.msp_id,
            f"peer0.{record.code}",
            NodePorts(main=main, ops=ops, chaincode=cc_listen),
        )
        topo.agencies.append(org)
        topo.chaincode_port[record.code] = cc_port
        layout.save(topo)

    # 2. crypto material (the org MSP is written last, so its presence means all of it)
    if not (layout.org_dir(org.code) / "msp" / "config.yaml").is_file():
        make_org_crypto(layout, org)
    if record.code not in topo.extra.get("package_ids", {}):
        _, package_id = _package(layout, topo, org.code)
        topo.extra.setdefault("package_ids", {})[org.code] = package_id
        layout.save(topo)

    # 3. the channel configuration update, signed by a majority of the existing admins
    config = fetch_config(layout, existing[0], fabric)
    if org.msp_id not in config.channel_group.groups["Application"].groups:
        update = _config_update(layout, org, config)
        _sign_and_submit(layout, existing, update, fabric)

    # 4. its nodes, and the peer on the channel
    start_node(layout, f"cc.{org.code}", fabric)
    start_node(layout, org.peer, fabric)
    ca = layout.org_dir(org.code) / "peer" / "tls" / "ca.crt"
    _wait_ops(layout, topo, org.peer, org.ports.ops, ca)
    env = admin_env(layout, topo, org.code, fabric / "config")
    peer_bin = str(fabric / "bin" / "peer")
    if not _joined(peer_bin, env):
        _retry(
            functools.partial(
                _run,
                [peer_bin, "channel", "join", "-b", str(layout.channel_block)],
                env,
                f"peer channel join ({org.code})",
            ),
            f"joining {org.peer} to the channel",
        )

    # 5. the contract on its peer, the committed definition approved for its org
    _install_and_approve(layout, topo.extra["package_ids"][org.code], org, fabric)
    _write_profile(layout, layout.load())

    # 6. its registry entry, by the majority procedure
    _register(layout, record, existing, valid_days)
    return layout.profile


# --- the channel configuration ------------------------------------------------------------


def fetch_config(layout: Layout, admin_org: AgencyOrg, fabric: Path) -> configtx_pb2.Config:
    """The channel's current configuration, from its latest config block."""
    topo = layout.load()
    env = admin_env(layout, topo, admin_org.code, fabric / "config")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "config.block"
        _retry(
            functools.partial(
                _run,
                [
                    str(fabric / "bin" / "peer"),
                    "channel",
                    "fetch",
                    "config",
                    str(out),
                    "-c",
                    CHANNEL,
                    *_orderer_args(layout, topo),
                ],
                env,
                "peer channel fetch config",
            ),
            "fetching the latest config block",
        )
        block = common_pb2.Block.FromString(out.read_bytes())
    envelope = common_pb2.Envelope.FromString(block.data.data[0])
    payload = common_pb2.Payload.FromString(envelope.payload)
    return configtx_pb2.ConfigEnvelope.FromString(payload.data).config


def channel_orgs(layout: Layout) -> list[str]:
    """The MSP ids of the channel's application orgs, as its latest config says."""
    topo = layout.load()
    config = fetch_config(layout, topo.agencies[0], ensure_fabric())
    return sorted(config.channel_group.groups["Application"].groups)


def _org_group(
    layout: Layout, org: AgencyOrg, template: configtx_pb2.ConfigGroup
) -> configtx_pb2.ConfigGroup:
    """The new org's config group: an existing org's group with this org's MSP, policies
    naming this org, its anchor peer, and every version at 0 (new elements)."""
    group = configtx_pb2.ConfigGroup()
    group.CopyFrom(template)
    d = layout.org_dir(org.code) / "msp"
    ca = (d / "cacerts" / "ca.pem").read_bytes()
    tls_ca = (d / "tlscacerts" / "tlsca.pem").read_bytes()

    msp = msp_config_pb2.MSPConfig.FromString(group.values["MSP"].value)
    fabric_msp = msp_config_pb2.FabricMSPConfig.FromString(msp.config)
    fabric_msp.name = org.msp_id
    del fabric_msp.root_certs[:]
    fabric_msp.root_certs.append(ca)
    del fabric_msp.tls_root_certs[:]
    fabric_msp.tls_root_certs.append(tls_ca)
    del fabric_msp.admins[:]
    ous = fabric_msp.fabric_node_ous
    for ou in (
        ous.client_ou_identifier,
        ous.peer_ou_identifier,
        ous.admin_ou_identifier,
        ous.orderer_ou_identifier,
    ):
        ou.certificate = ca
    msp.config = fabric_msp.SerializeToString()
    group.values["MSP"].value = msp.SerializeToString()

    anchors = configuration_pb2.AnchorPeers()
    anchors.anchor_peers.add(host="127.0.0.1", port=org.ports.main)
    group.values["AnchorPeers"].value = anchors.SerializeToString()

    for policy in group.policies.values():
        if policy.policy.type != policies_pb2.Policy.SIGNATURE:
            continue
        envelope = policies_pb2.SignaturePolicyEnvelope.FromString(policy.policy.value)
        for principal in envelope.identities:
            role = msp_principal_pb2.MSPRole.FromString(principal.principal)
            role.msp_identifier = org.msp_id
            principal.principal = role.SerializeToString()
        policy.policy.value = envelope.SerializeToString()

    group.version = 0
    for value in group.values.values():
        value.version = 0
    for policy in group.policies.values():
        policy.version = 0
    return group


def _config_update(
    layout: Layout, org: AgencyOrg, config: configtx_pb2.Config
) -> configtx_pb2.ConfigUpdate:
    """The update that adds one org to the Application group and changes nothing else.

    Read set: the versions the update is based on (the orderer refuses it if any moved).
    Write set: the Application group one version up, listing every existing member at its
    version (a group's member set is replaced whole) plus the new org in full."""
    channel = config.channel_group
    app = channel.groups["Application"]
    template = next(iter(app.groups.values()))

    def listed(target: configtx_pb2.ConfigGroup) -> None:
        for name, p in app.policies.items():
            target.policies[name].version = p.version
        for name, v in app.values.items():
            target.values[name].version = v.version
        for name, g in app.groups.items():
            target.groups[name].version = g.version

    update = configtx_pb2.ConfigUpdate(channel_id=CHANNEL)
    update.read_set.version = channel.version
    read_app = update.read_set.groups["Application"]
    read_app.version = app.version
    listed(read_app)
    update.write_set.version = channel.version
    write_app = update.write_set.groups["Application"]
    write_app.version = app.version + 1
    write_app.mod_policy = app.mod_policy
    listed(write_app)
    write_app.groups[org.msp_id].CopyFrom(_org_group(layout, org, template))
    return update


def _sign_and_submit(
    layout: Layout, existing: list[AgencyOrg], update: configtx_pb2.ConfigUpdate, fabric: Path
) -> None:
    """Signatures of a majority of the existing orgs' admins, then submit (the submitter's
    signature is the last of them)."""
    topo = layout.load()
    needed = len(existing) // 2 + 1
    signers = existing[:needed]
    envelope = common_pb2.Envelope(
        payload=common_pb2.Payload(
            header=common_pb2.Header(
                channel_header=common_pb2.ChannelHeader(
                    type=common_pb2.HeaderType.CONFIG_UPDATE, channel_id=CHANNEL
                ).SerializeToString()
            ),
            data=configtx_pb2.ConfigUpdateEnvelope(
                config_update=update.SerializeToString()
            ).SerializeToString(),
        ).SerializeToString()
    )
    peer_bin = str(fabric / "bin" / "peer")
    cfg = fabric / "config"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "update.tx"
        path.write_bytes(envelope.SerializeToString())
        for org in signers[:-1]:
            _run(
                [peer_bin, "channel", "signconfigtx", "-f", str(path)],
                admin_env(layout, topo, org.code, cfg),
                f"signing the channel update as {org.code}'s admin",
            )
        last = signers[-1]
        _run(
            [
                peer_bin,
                "channel",
                "update",
                "-f",
                str(path),
                "-c",
                CHANNEL,
                *_orderer_args(layout, topo),
            ],
            admin_env(layout, topo, last.code, cfg),
            f"submitting the channel update as {last.code}'s admin",
        )


def _joined(peer_bin: str, env: dict[str, str]) -> bool:
    try:
        out = _run([peer_bin, "channel", "list"], env, "peer channel list")
    except NetworkError:
        return False
    return CHANNEL in out.split()


# --- the contract -------------------------------------------------------------------------


def _install_and_approve(layout: Layout, package_id: str, org: AgencyOrg, fabric: Path) -> None:
    topo = layout.load()
    env = admin_env(layout, topo, org.code, fabric / "config")
    peer_bin = str(fabric / "bin" / "peer")
    pkg = layout.chaincode / f"{CHAINCODE_NAME}-{org.code}.tar.gz"
    try:
        _run([peer_bin, "lifecycle", "chaincode", "install", str(pkg)], env, "chaincode install")
    except NetworkError as exc:
        if "already successfully installed" not in str(exc):
            raise
    # The peer answers these once it has caught up with the channel's lifecycle state.
    committed = json.loads(
        _retry(
            functools.partial(
                _run,
                [
                    peer_bin,
                    "lifecycle",
                    "chaincode",
                    "querycommitted",
                    "-C",
                    CHANNEL,
                    "-n",
                    CHAINCODE_NAME,
                    "-O",
                    "json",
                ],
                env,
                "querycommitted",
            ),
            "reading the committed chaincode definition on the new peer",
            timeout=120,
        )
    )
    sequence = int(committed["sequence"])
    try:
        approved = json.loads(
            _run(
                [
                    peer_bin,
                    "lifecycle",
                    "chaincode",
                    "queryapproved",
                    "-C",
                    CHANNEL,
                    "-n",
                    CHAINCODE_NAME,
                    "--sequence",
                    str(sequence),
                    "-O",
                    "json",
                ],
                env,
                "queryapproved",
            )
        )
        local = approved.get("source", {}).get("Type", {}).get("LocalPackage", {})
        if local.get("package_id") == package_id:
            return
    except (NetworkError, ValueError):
        pass  # not approved yet
    args = [
        peer_bin,
        "lifecycle",
        "chaincode",
        "approveformyorg",
        *_orderer_args(layout, topo),
        "--channelID",
        CHANNEL,
        "--name",
        CHAINCODE_NAME,
        "--version",
        str(committed["version"]),
        "--sequence",
        str(sequence),
        "--package-id",
        package_id,
    ]
    if committed.get("init_required"):
        args.append("--init-required")
    _retry(
        functools.partial(_run, args, env, f"approveformyorg ({org.code})"),
        f"approving the chaincode for {org.code}",
    )


# --- the registry ---------------------------------------------------------------------------


def _register(
    layout: Layout, record: AgencyRecord, existing: list[AgencyOrg], valid_days: int
) -> None:
    """The registry entry through the majority procedure, each step with the acting
    agency's own identity from the connection profile."""
    from ledger import LedgerError

    try:
        _vote(layout, record, existing, valid_days)
    except LedgerError as exc:
        raise NetworkError(
            f"the registry entry for {record.code} could not be made: {exc}"
        ) from None


def _vote(layout: Layout, record: AgencyRecord, existing: list[AgencyOrg], valid_days: int) -> None:
    from ledger.fabric import FabricLedger
    from ledger.interface import ProposalStatus, RegistryChange

    ledgers = {o.code: FabricLedger.from_profile(layout.profile, o.code) for o in existing}
    try:
        first = ledgers[existing[0].code]
        if any(a.code == record.code for a in first.registry()):
            return
        pending = [
            p
            for p in first.registry_proposals()
            if p.status is ProposalStatus.OPEN
            and p.change.kind.value == "add-agency"
            and p.change.record == record
        ]
        now = datetime.now(UTC)
        pending = [p for p in pending if p.status_at(now) is ProposalStatus.OPEN]
        if pending:
            proposal = pending[-1]
        else:
            proposal = first.propose_registry_change(
                existing[0].code, RegistryChange.add_agency(record), valid_days
            )
        for org in existing:
            if proposal.status is ProposalStatus.APPLIED:
                return
            if org.code in proposal.approvals or org.code not in proposal.electorate:
                continue
            proposal = ledgers[org.code].approve_registry_change(org.code, proposal.proposal_id)
        if proposal.status is not ProposalStatus.APPLIED:
            raise NetworkError(
                f"the registry proposal {proposal.proposal_id} for {record.code} has "
                f"{len(proposal.approvals)} of {proposal.needed} approvals"
            )
    finally:
        for led in ledgers.values():
            led.close()
