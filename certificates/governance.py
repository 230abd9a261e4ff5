"""Registry changes by a majority of agencies: the one workflow every edge calls.

The rules live in the contract (:mod:`chaincode.governance`): who may vote, how many make a
majority, expiry, one approval per agency. This service turns an edge's request into a
:class:`~ledger.interface.RegistryChange`, runs it on a ledger that offers
:class:`~ledger.interface.RegistryGovernance`, audits every step, and turns refusals into
:class:`GovernanceError` with a reason in English and Chinese.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from certificates.audit import AuditEvent, AuditLog
from certificates.errors import CertificateError
from ledger import Ledger, LedgerError, LedgerRefused
from ledger.interface import (
    AgencyRecord,
    ChangeKind,
    ContractError,
    Proposal,
    ProposalVersion,
    RegistryChange,
    RegistryGovernance,
)

__all__ = [
    "DEFAULT_VALID_DAYS",
    "GovernanceError",
    "GovernanceService",
    "GovernanceUnavailable",
    "ProposalView",
    "proposal_json",
]

DEFAULT_VALID_DAYS = 7

# Contract refusal code -> what to tell a person, in Chinese (the English is the contract's).
_ZH = {
    "UNKNOWN_AGENCY": "该机构未在账本机构名册中登记，不能提议或批准。",
    "PROPOSAL_NOT_FOUND": "没有这个名册变更提议。",
    "PROPOSAL_CLOSED": "该提议已生效，不能再批准。",
    "PROPOSAL_EXPIRED": "该提议已过期，请重新提议。",
    "NOT_ELECTOR": "提议提出时该机构尚未登记，不参与表决。",
    "ALREADY_APPROVED": "该机构已批准过此提议（每个机构只批准一次）。",
    "CHANGE_CONFLICT": "该变更与当前机构名册不符。",
    "BAD_ARGUMENT": "变更内容格式不正确。",
}


class GovernanceError(CertificateError):
    """A refused or malformed registry change; nothing was written."""

    def __init__(self, en: str, zh: str, code: str = "BAD_ARGUMENT") -> None:
        self.en, self.zh, self.code = en, zh, code
        super().__init__(en)


class GovernanceUnavailable(GovernanceError):
    """The ledger could not be reached, or cannot do registry governance at all."""


@dataclass(frozen=True)
class ProposalView:
    """A proposal as of ``now``: ``status`` is ``expired`` for an open one past expiry."""

    proposal: Proposal
    status: str


def proposal_json(view: ProposalView) -> dict[str, Any]:
    p = view.proposal
    return {
        "proposal_id": p.proposal_id,
        "kind": p.change.kind.value,
        "agency": p.change.agency,
        "change": p.change.to_dict(),
        "proposer": p.proposer,
        "status": view.status,
        "approvals": list(p.approvals),
        "needed": p.needed,
        "electorate": list(p.electorate),
        "created_at": p.created_at.isoformat(),
        "expires_at": p.expires_at.isoformat(),
        "registry_revision": p.registry_revision,
    }


class GovernanceService:
    def __init__(self, ledger: Ledger, audit: AuditLog, *, client_id: str = "cli:operator") -> None:
        self._ledger = ledger
        self._audit = audit
        self._client_id = client_id

    def _gov(self) -> RegistryGovernance:
        if not isinstance(self._ledger, RegistryGovernance):
            raise GovernanceUnavailable(
                f"the {self._ledger.backend} ledger cannot record registry changes",
                "该账本不支持名册变更表决。",
                "UNSUPPORTED",
            )
        return self._ledger

    # --- requests --------------------------------------------------------------------------

    @staticmethod
    def change(
        kind: str,
        agency: str,
        *,
        msp_id: str | None = None,
        name_zh: str | None = None,
        name_en: str | None = None,
        allowed_types: Sequence[str] | None = None,
        fingerprint: str | None = None,
    ) -> RegistryChange:
        """A validated change from an edge's fields (only those its kind uses may be set)."""
        try:
            kind_ = ChangeKind(kind)
        except ValueError:
            raise GovernanceError(
                f"unknown change {kind!r}; one of {', '.join(k.value for k in ChangeKind)}",
                f"未知的变更类型 {kind!r}。",
            ) from None
        try:
            if kind_ is ChangeKind.ADD_AGENCY:
                if not (msp_id and name_zh and name_en):
                    raise GovernanceError(
                        "add-agency needs the MSP id and both names",
                        "新增机构需要 MSP 标识及中英文名称。",
                    )
                seals = (fingerprint,) if fingerprint else ()
                record = AgencyRecord(
                    agency, msp_id, name_zh, name_en, tuple(allowed_types or ()), seals
                )
                return RegistryChange.add_agency(record)
            if kind_ in (ChangeKind.ADD_SEAL, ChangeKind.RETIRE_SEAL):
                if not fingerprint:
                    raise GovernanceError(
                        f"{kind} needs the seal certificate's SHA-256 fingerprint",
                        "需要印章证书的 SHA-256 指纹。",
                    )
                if kind_ is ChangeKind.ADD_SEAL:
                    return RegistryChange.add_seal(agency, fingerprint)
                return RegistryChange.retire_seal(agency, fingerprint)
            if allowed_types is None:
                raise GovernanceError(
                    "set-types needs the full list of certificate types",
                    "需要完整的证照类型列表。",
                )
            return RegistryChange.set_types(agency, tuple(allowed_types))
        except ContractError as exc:
            raise GovernanceError(exc.message, _ZH["BAD_ARGUMENT"]) from None

    # --- workflow --------------------------------------------------------------------------

    def propose(
        self, agency: str, change: RegistryChange, valid_days: int = DEFAULT_VALID_DAYS
    ) -> ProposalView:
        """``agency`` proposes ``change`` (and so approves it)."""
        proposal = self._run(
            "registry-propose",
            agency,
            lambda: self._gov().propose_registry_change(agency, change, valid_days),
            f"{change.kind.value} {change.agency}",
        )
        return self._view(proposal)

    def approve(self, agency: str, proposal_id: str) -> ProposalView:
        proposal = self._run(
            "registry-approve",
            agency,
            lambda: self._gov().approve_registry_change(agency, proposal_id),
            f"proposal {proposal_id[:16]}",
        )
        return self._view(proposal)

    def proposals(self) -> list[ProposalView]:
        try:
            return [self._view(p) for p in self._gov().registry_proposals()]
        except LedgerError as exc:
            raise self._unavailable(exc) from None

    def history(self, proposal_id: str) -> list[ProposalVersion]:
        try:
            return self._gov().proposal_history(proposal_id)
        except LedgerError as exc:
            raise self._unavailable(exc) from None

    # --- plumbing --------------------------------------------------------------------------

    @staticmethod
    def _view(p: Proposal) -> ProposalView:
        return ProposalView(p, p.status_at(datetime.now(UTC)).value)

    @staticmethod
    def _unavailable(exc: LedgerError) -> GovernanceError:
        if isinstance(exc, LedgerRefused):
            return GovernanceError(exc.message, _ZH.get(exc.code, "账本拒绝了该请求。"), exc.code)
        return GovernanceUnavailable(
            f"the ledger is unavailable: {exc}", "账本暂不可用，请稍后重试。", "UNAVAILABLE"
        )

    def _run(self, action: str, agency: str, call: Callable[[], Proposal], what: str) -> Proposal:
        try:
            proposal = call()
        except LedgerError as exc:
            err = self._unavailable(exc)
            self._audit.record(
                AuditEvent(
                    action,
                    "denied" if isinstance(exc, LedgerRefused) else "error",
                    self._client_id,
                    agency,
                    reason=f"{err.code}: {what}",
                )
            )
            raise err from None
        self._audit.record(
            AuditEvent(
                action,
                "ok",
                self._client_id,
                agency,
                reason=f"{what}: {proposal.status.value}, "
                f"{len(proposal.approvals)}/{proposal.needed} approvals",
            )
        )
        return proposal
