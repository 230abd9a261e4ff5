"""The certificate ledger contract, written once for every ledger backend.

The embedded ledger runs these functions in-process; Fabric peers run them as chaincode.
Import from here; the submodules' other names are internal.
"""

from chaincode._checks import format_timestamp, parse_timestamp
from chaincode.contract import (
    CERT_KEY_PREFIX,
    REGISTRY_KEY,
    anchor_batch,
    cert_key,
    get_certificate,
    get_history,
    get_registry,
    init_registry,
    reinstate,
    revoke,
    suspend,
)
from chaincode.errors import ContractError, ErrorCode
from chaincode.models import (
    MAX_BATCH,
    MAX_REASON_LEN,
    AgencyRecord,
    AnchorEntry,
    AnchorOutcome,
    AnchorStatus,
    CertificateState,
    CertificateVersion,
    CertStatus,
    canonical_json,
    is_cert_id,
)
from chaincode.sharing import (
    Agreement,
    AgreementTerms,
    AuditAnchor,
    anchor_audit_head,
    create_agreement,
    get_audit_head,
    list_agreements,
    revoke_agreement,
)
from chaincode.stub import HistoryItem, Stub

__all__ = [
    "CERT_KEY_PREFIX",
    "MAX_BATCH",
    "MAX_REASON_LEN",
    "REGISTRY_KEY",
    "AgencyRecord",
    "Agreement",
    "AgreementTerms",
    "AnchorEntry",
    "AnchorOutcome",
    "AnchorStatus",
    "AuditAnchor",
    "CertStatus",
    "CertificateState",
    "CertificateVersion",
    "ContractError",
    "ErrorCode",
    "HistoryItem",
    "Stub",
    "anchor_audit_head",
    "anchor_batch",
    "canonical_json",
    "cert_key",
    "create_agreement",
    "format_timestamp",
    "get_audit_head",
    "get_certificate",
    "get_history",
    "get_registry",
    "init_registry",
    "is_cert_id",
    "list_agreements",
    "parse_timestamp",
    "reinstate",
    "revoke",
    "revoke_agreement",
    "suspend",
]
