"""``EmbeddedLedger``: the contract executed in-process over a signed, hash-chained store.

Write path (one ledger transaction = one block):

1. ``BEGIN IMMEDIATE`` takes the file's write lock; only then is the head read, so
   concurrent writers (threads or processes) always extend the latest block.
2. The contract runs against an :class:`EmbeddedStub` that buffers its writes.
3. Refused (``ContractError``): roll back; nothing is written (``LedgerRefused``).
   Nothing to write (an idempotent retry): roll back; no block.
4. Otherwise: one leaf per write -> Merkle root; one leaf per transaction -> tx root;
   header with the previous header's hash, signed by the node key; block, tx, writes and
   state rows inserted; ``COMMIT`` (fsync'd: WAL + synchronous=FULL).

Identity: the embedded backend trusts its caller to name the agency it acts for (the
service is the only client of its own file) and maps the agency code to the MSP id the
contract checks, through the registry on the ledger. Under Fabric the same contract sees
an MSP id authenticated by the peer instead.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import Certificate

from chaincode import (
    AgencyRecord,
    Agreement,
    AgreementTerms,
    AnchorEntry,
    AnchorOutcome,
    AuditAnchor,
    CertificateState,
    ContractError,
    ErrorCode,
    anchor_audit_head,
    anchor_batch,
    canonical_json,
    cert_key,
    create_agreement,
    format_timestamp,
    get_audit_head,
    get_history,
    get_registry,
    init_registry,
    is_cert_id,
    list_agreements,
    reinstate,
    revoke,
    revoke_agreement,
    suspend,
)
from chaincode.contract import revoke_batch, rotate_seal_key, seal_key_periods
from chaincode.governance import (
    Proposal,
    ProposalVersion,
    RegistryChange,
    approve_registry_change,
    list_proposals,
    proposal_history,
    propose_registry_change,
)
from chaincode.models import SealKeyPeriod
from ledger.embedded._blocks import TxRecord
from ledger.embedded._chain import AppendedBlock, append_block, parse_state, read_head
from ledger.embedded._db import Database
from ledger.embedded._identity import NodeIdentity
from ledger.embedded._receipts import build_receipts
from ledger.embedded._schema import FORMAT, SCHEMA_VERSION, STATEMENTS
from ledger.embedded._stub import EmbeddedStub, run_sync
from ledger.embedded._verify import verify_chain
from ledger.errors import (
    LedgerConfigError,
    LedgerCorrupt,
    LedgerRefused,
    LedgerUnavailable,
)
from ledger.interface import (
    AnchorReceipt,
    ChainReport,
    HistoryEntry,
    LedgerRecord,
    TxReceipt,
)

__all__ = ["EmbeddedLedger"]

T = TypeVar("T")
PathLike = str | os.PathLike[str]


class EmbeddedLedger:
    """The default ledger backend: one SQLite file, the contract run in-process.

    Build it with :meth:`create` (genesis), :meth:`open` (a node that writes) or
    :meth:`open_readonly` (a verifier). Safe to share between threads; several processes
    may write the same file.
    """

    backend = "embedded"

    def __init__(self, db: Database, identity: NodeIdentity) -> None:
        """Internal: use :meth:`create`, :meth:`open` or :meth:`open_readonly`."""
        self._db = db
        self._identity = identity

    # --- construction -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: PathLike,
        *,
        node_key: ec.EllipticCurvePrivateKey,
        node_cert: Certificate,
        registry: Sequence[AgencyRecord],
    ) -> EmbeddedLedger:
        """Create a new ledger file whose genesis block holds ``registry``.

        Refuses an existing path: a ledger is never re-created over another one.
        """
        identity = NodeIdentity(node_cert, node_key)
        file = Path(path)
        try:
            # O_EXCL: of two processes creating the same ledger, exactly one wins.
            fd = os.open(file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            raise LedgerConfigError(
                f"ledger file {file} already exists; open it with EmbeddedLedger.open "
                "instead of creating it again"
            ) from None
        except OSError as exc:
            raise LedgerUnavailable(f"cannot create ledger file {file}: {exc}") from exc
        os.close(fd)
        db = Database(file, readonly=False)
        try:
            conn = db.connect()
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            finally:
                conn.close()
            if mode != "wal":
                raise LedgerUnavailable(f"cannot switch {file} to WAL mode (got {mode!r})")
            ledger = cls(db, identity)
            agencies = list(registry)
            with db.writer() as conn:
                for statement in STATEMENTS:
                    conn.execute(statement)
                conn.executemany(
                    "INSERT INTO meta (name, value) VALUES (?, ?)",
                    [("format", FORMAT), ("schema_version", SCHEMA_VERSION)],
                )
                ledger._transact(
                    conn,
                    msp=f"node:{identity.fingerprint}",
                    function="init_registry",
                    args=lambda: [a.to_dict() for a in agencies],
                    call=lambda stub: init_registry(stub, agencies),
                    result=lambda _: b"null",
                    genesis=True,
                )
        except BaseException:
            db.close()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{file}{suffix}").unlink(missing_ok=True)
            raise
        return ledger

    @classmethod
    def open(
        cls, path: PathLike, *, node_key: ec.EllipticCurvePrivateKey, node_cert: Certificate
    ) -> EmbeddedLedger:
        """Open an existing ledger to read and write as this node."""
        ledger = cls._open(Path(path), NodeIdentity(node_cert, node_key), readonly=False)
        return ledger

    @classmethod
    def open_readonly(cls, path: PathLike, node_cert: Certificate) -> EmbeddedLedger:
        """Open an existing ledger to read and verify; ``node_cert`` is the trusted signer."""
        return cls._open(Path(path), NodeIdentity(node_cert), readonly=True)

    @classmethod
    def _open(cls, path: Path, identity: NodeIdentity, *, readonly: bool) -> EmbeddedLedger:
        db = Database(path, readonly=readonly)
        try:
            with db.reader() as conn:
                signer = _check_ledger_file(conn, path)
        except BaseException:
            db.close()
            raise
        if not readonly and signer != identity.fingerprint:
            # Appending blocks signed by another key would make the chain fail verification
            # for everyone who trusts the original node certificate.
            db.close()
            raise LedgerConfigError(
                f"ledger {path} is signed by node certificate sha256={signer[:16]}..., not "
                f"by the configured one ({identity.fingerprint[:16]}...); check the node "
                "identity settings"
            )
        return cls(db, identity)

    # --- writes -------------------------------------------------------------------------

    def anchor(self, agency: str, entries: Sequence[AnchorEntry]) -> list[AnchorReceipt]:
        """Anchor a batch in one transaction and one block; receipts in entry order."""
        batch = list(entries)
        with self._db.writer() as conn:
            msp = self._msp_of(conn, agency)
            outcomes, block = self._transact(
                conn,
                msp=msp,
                function="anchor_batch",
                args=lambda: [e.to_dict() for e in batch],
                call=lambda stub: anchor_batch(stub, batch),
                result=_outcomes_bytes,
            )
            return build_receipts(conn, outcomes, block)

    def revoke(self, agency: str, cert_id: str, reason: str) -> TxReceipt:
        return self._change(agency, "revoke", revoke, cert_id, reason)

    def suspend(self, agency: str, cert_id: str, reason: str) -> TxReceipt:
        return self._change(agency, "suspend", suspend, cert_id, reason)

    def reinstate(self, agency: str, cert_id: str, reason: str) -> TxReceipt:
        return self._change(agency, "reinstate", reinstate, cert_id, reason)

    def revoke_batch(self, agency: str, cert_ids: Sequence[str], reason: str) -> TxReceipt | None:
        """One transaction (and block) revoking every id; see ``chaincode.revoke_batch``."""
        ids = list(cert_ids)
        if not ids:
            raise LedgerRefused("BAD_ARGUMENT", "revoke_batch needs at least one certificate id")
        with self._db.writer() as conn:
            _, block = self._transact(
                conn,
                msp=self._msp_of(conn, agency),
                function="revoke_batch",
                args=lambda: {"cert_ids": ids, "reason": reason},
                call=lambda stub: revoke_batch(stub, ids, reason),
                result=lambda states: b"[" + b",".join(st.to_bytes() for st in states) + b"]",
            )
        if block is None:  # nothing changed: every id was already revoked
            return None
        return TxReceipt(block.tx_id, block.number, block.timestamp)

    def rotate_seal_key(self, agency: str, old: SealKeyPeriod, new: SealKeyPeriod) -> TxReceipt:
        """Add ``new`` to the agency's registered seals and record both periods."""
        with self._db.writer() as conn:
            _, block = self._transact(
                conn,
                msp=self._msp_of(conn, agency),
                function="rotate_seal_key",
                args=lambda: {"old": old.to_dict(), "new": new.to_dict()},
                call=lambda stub: rotate_seal_key(stub, old, new),
                result=lambda record: canonical_json(record.to_dict()),
            )
        if block is None:
            raise LedgerCorrupt("rotate_seal_key succeeded without writing")
        return TxReceipt(block.tx_id, block.number, block.timestamp)

    def seal_key_periods(self, fingerprints: Sequence[str]) -> list[SealKeyPeriod]:
        with self._db.reader() as conn:
            return self._read(conn, lambda stub: seal_key_periods(stub, list(fingerprints)))

    # --- registry governance (chaincode.governance) ---------------------------------------

    def propose_registry_change(
        self, agency: str, change: RegistryChange, valid_days: int
    ) -> Proposal:
        """Propose as ``agency`` (its MSP id from the registry is the identity that counts)."""
        with self._db.writer() as conn:
            proposal, _ = self._transact(
                conn,
                msp=self._msp_of(conn, agency),
                function="propose_registry_change",
                args=lambda: {"change": change.to_dict(), "valid_days": valid_days},
                call=lambda stub: propose_registry_change(stub, change, valid_days),
                result=lambda p: p.to_bytes(),
            )
        return proposal

    def approve_registry_change(self, agency: str, proposal_id: str) -> Proposal:
        with self._db.writer() as conn:
            proposal, _ = self._transact(
                conn,
                msp=self._msp_of(conn, agency),
                function="approve_registry_change",
                args=lambda: {"proposal_id": proposal_id},
                call=lambda stub: approve_registry_change(stub, proposal_id),
                result=lambda p: p.to_bytes(),
            )
        return proposal

    def registry_proposals(self) -> list[Proposal]:
        with self._db.reader() as conn:
            return self._read(conn, list_proposals)

    def proposal_history(self, proposal_id: str) -> list[ProposalVersion]:
        with self._db.reader(snapshot=True) as conn:
            return self._read(conn, lambda stub: proposal_history(stub, proposal_id))

    def _change(
        self,
        agency: str,
        function: str,
        fn: Callable[[EmbeddedStub, str, str], Coroutine[Any, Any, CertificateState]],
        cert_id: str,
        reason: str,
    ) -> TxReceipt:
        with self._db.writer() as conn:
            _, block = self._transact(
                conn,
                msp=self._msp_of(conn, agency),
                function=function,
                args=lambda: {"cert_id": cert_id, "reason": reason},
                call=lambda stub: fn(stub, cert_id, reason),
                result=lambda state: state.to_bytes(),
            )
        if block is None:  # every successful status change writes
            raise LedgerCorrupt(f"{function} of {cert_id} succeeded without writing")
        return TxReceipt(block.tx_id, block.number, block.timestamp)

    # --- sharing agreements and audit heads (chaincode.sharing) ---------------------------

    def create_agreement(self, agency: str, terms: AgreementTerms) -> Agreement:
        with self._db.writer() as conn:
            agreement, _ = self._transact(
                conn,
                msp=self._msp_of(conn, agency),
                function="create_agreement",
                args=terms.to_dict,
                call=lambda stub: create_agreement(stub, terms),
                result=lambda a: canonical_json(a.to_dict()),
            )
        return agreement

    def revoke_agreement(self, agency: str, agreement_id: str, reason: str) -> Agreement:
        with self._db.writer() as conn:
            agreement, _ = self._transact(
                conn,
                msp=self._msp_of(conn, agency),
                function="revoke_agreement",
                args=lambda: {"agreement_id": agreement_id, "reason": reason},
                call=lambda stub: revoke_agreement(stub, agreement_id, reason),
                result=lambda a: canonical_json(a.to_dict()),
            )
        return agreement

    def agreements(self) -> list[Agreement]:
        with self._db.reader() as conn:
            return self._read(conn, list_agreements)

    def anchor_audit_head(self, agency: str, log_id: str, seq: int, head: str) -> AuditAnchor:
        with self._db.writer() as conn:
            anchor, _ = self._transact(
                conn,
                msp=self._msp_of(conn, agency),
                function="anchor_audit_head",
                args=lambda: {"log_id": log_id, "seq": seq, "head": head},
                call=lambda stub: anchor_audit_head(stub, log_id, seq, head),
                result=lambda a: a.to_bytes(),
            )
        return anchor

    def audit_head(self, agency: str, log_id: str) -> AuditAnchor | None:
        with self._db.reader() as conn:
            return self._read(conn, lambda stub: get_audit_head(stub, agency, log_id))

    def _msp_of(self, conn: sqlite3.Connection, agency: str) -> str:
        for record in self._read(conn, get_registry):
            if record.code == agency:
                return record.msp_id
        raise LedgerRefused(
            ErrorCode.UNKNOWN_AGENCY.value,
            f"agency {agency!r} is not in the ledger's agency registry",
        )

    def _transact(
        self,
        conn: sqlite3.Connection,
        *,
        msp: str,
        function: str,
        args: Callable[[], object],
        call: Callable[[EmbeddedStub], Coroutine[Any, Any, T]],
        result: Callable[[T], bytes],
        genesis: bool = False,
    ) -> tuple[T, AppendedBlock | None]:
        """Simulate ``call``, then append its write set as one signed block (in ``conn``'s
        open write transaction; the caller commits)."""
        head = read_head(conn)
        if (head is None) != genesis:
            raise LedgerCorrupt(
                f"ledger {self._db.path}: "
                + ("genesis over existing blocks" if genesis else "no blocks to extend")
            )
        now = datetime.now(UTC)
        if head is not None and now < head.timestamp:
            now = head.timestamp  # block time never runs backwards, whatever the clock does
        tx_id = secrets.token_hex(32)
        stub = EmbeddedStub(conn, msp=msp, tx_id=tx_id, timestamp=now)
        try:
            value = run_sync(call(stub))
        except ContractError as exc:
            raise LedgerRefused.from_contract(exc) from None
        if not stub.writes:
            return value, None

        event_name, event_payload = stub.event or ("", b"")
        tx = TxRecord(
            tx_id=tx_id,
            creator_msp=msp,
            function=function,
            args_digest=hashlib.sha256(canonical_json(args())).hexdigest(),
            result=result(value),
            event_name=event_name,
            event_payload=event_payload,
            timestamp=format_timestamp(now),
        )
        return value, append_block(conn, self._identity, head, tx, list(stub.writes.items()), now)

    # --- reads --------------------------------------------------------------------------

    def get(self, cert_id: str) -> LedgerRecord | None:
        """Current record by id: one indexed SELECT. ``None`` for ids that cannot exist."""
        if not is_cert_id(cert_id):
            return None
        with self._db.reader() as conn:
            row = conn.execute(
                "SELECT value, created_block FROM state WHERE key = ?", (cert_key(cert_id),)
            ).fetchone()
        if row is None:
            return None
        state = parse_state(row[0])
        return LedgerRecord(
            cert_id=state.cert_id,
            agency=state.agency,
            cert_type=state.cert_type,
            digest=state.digest,
            holder_digest=state.holder_digest,
            valid_from=state.valid_from,
            valid_until=state.valid_until,
            status=state.status,
            reason=state.reason,
            anchored_tx=state.anchored_tx,
            anchored_block=row[1],
            anchored_at=state.anchored_at,
            updated_at=state.updated_at,
        )

    def history(self, cert_id: str) -> list[HistoryEntry]:
        """Every version, oldest first, via the contract's own history rules."""
        if not is_cert_id(cert_id):
            return []
        with self._db.reader(snapshot=True) as conn:
            stub = _query_stub(conn)
            versions = _contract_read(lambda: run_sync(get_history(stub, cert_id)))
        return [
            HistoryEntry(
                tx_id=v.tx_id,
                block_number=stub.history_blocks[v.tx_id],
                timestamp=v.timestamp,
                version=v.version,
                status=v.status,
                reason=v.reason,
            )
            for v in versions
        ]

    def registry(self) -> list[AgencyRecord]:
        with self._db.reader() as conn:
            return self._read(conn, get_registry)

    def verify_chain(self) -> ChainReport:
        """Recheck every block, link, signature and the state table; report the first fault."""
        with self._db.reader(snapshot=True) as conn:
            return verify_chain(conn, self._identity)

    @staticmethod
    def _read(conn: sqlite3.Connection, fn: Callable[[EmbeddedStub], Coroutine[Any, Any, T]]) -> T:
        stub = _query_stub(conn)
        return _contract_read(lambda: run_sync(fn(stub)))

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection. Idempotent; later calls raise ``LedgerUnavailable``."""
        self._db.close()

    def __enter__(self) -> EmbeddedLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self._db.readonly else "read-write"
        return f"EmbeddedLedger({str(self._db.path)!r}, {mode}, {self._identity!r})"


# --- helpers ----------------------------------------------------------------------------


def _check_ledger_file(conn: sqlite3.Connection, path: Path) -> str:
    """Refuse anything that is not one of our ledgers; return the head block's signer."""
    try:
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        if meta.get("format") != FORMAT:
            raise LedgerUnavailable(f"{path} is not a certificate ledger file")
        head = conn.execute("SELECT signer FROM blocks ORDER BY number DESC LIMIT 1").fetchone()
    except sqlite3.DatabaseError as exc:
        raise LedgerUnavailable(
            f"{path} is not a readable certificate ledger file ({exc})"
        ) from exc
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise LedgerUnavailable(
            f"{path} has ledger schema {meta.get('schema_version')!r}; this version reads "
            f"{SCHEMA_VERSION!r}"
        )
    if head is None:
        raise LedgerUnavailable(f"{path} has no genesis block")
    return str(head[0])


def _query_stub(conn: sqlite3.Connection) -> EmbeddedStub:
    return EmbeddedStub(conn, msp="", tx_id="", timestamp=datetime.now(UTC), writable=False)


def _contract_read(run: Callable[[], T]) -> T:
    try:
        return run()
    except ContractError as exc:
        if exc.code in (ErrorCode.CORRUPT_STATE, ErrorCode.NO_REGISTRY):
            raise LedgerCorrupt(exc.message) from None
        raise LedgerRefused.from_contract(exc) from None


def _outcomes_bytes(outcomes: list[AnchorOutcome]) -> bytes:
    return canonical_json([[o.cert_id, o.status, o.anchored_tx] for o in outcomes])
