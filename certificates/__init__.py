"""The application layer: the services every edge (HTTP API, command line, web pages) calls,
with their values and typed errors. An edge imports this one package.

Loaded lazily: a name is imported the first time it is used, so a short command pays only for
what it touches, and the subpackages can import one another without this module in the way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certificates.agencies import AGENCIES
    from certificates.audit.anchoring import AnchorLoop, anchor_audit_head
    from certificates.audit.log import AuditEvent, AuditLog, AuditUnavailable
    from certificates.caching import TTLCache
    from certificates.errors import (
        AgencyNotAllowed,
        CertificateError,
        CertificateNotFound,
        ConfigurationError,
        DocumentRefused,
        LedgerUnavailableError,
        RevocationRefused,
        UnreadableDocument,
        VerificationBusy,
    )
    from certificates.holder_key import HolderKey
    from certificates.home import Home, Settings
    from certificates.ids import CertificateId, InvalidCertificateId, tokens_match
    from certificates.issuance.batches import BatchProgress, BatchRowResult, BatchService
    from certificates.issuance.refusals import (
        BatchFileError,
        BatchNotFound,
        BatchRefusal,
        IdempotencyRefused,
    )
    from certificates.issuance.register import ForeignCertificate, Register
    from certificates.issuance.service import BatchValidationError, IssuanceService, Issued
    from certificates.notifications.callbacks import CallbackPolicy
    from certificates.notifications.dispatcher import WebhookDispatcher
    from certificates.notifications.subscriptions import EVENTS, SubscriptionError, Subscriptions
    from certificates.seals import (
        KEY_COMPROMISE,
        SealKeyError,
        SealKeyService,
        SealLedgerError,
        SealRotation,
    )
    from certificates.sharing.clients import ClientError, ClientRegistry, Principal
    from certificates.sharing.lookup import AgreementError, SharingService, agreement_json
    from certificates.sharing.rekey import RekeyResult, rekey_store, rotate_holder_key
    from certificates.status import NotIssuer, StatusChange, StatusService
    from certificates.types import CERTIFICATE_TYPES, CertificateDataError, types_catalogue
    from certificates.verification.desk import (
        DESK_TZ,
        CounterDesk,
        DeskRecord,
        DeskResult,
        LinkNotRecognised,
    )
    from certificates.verification.public import PublicService
    from certificates.verification.report import Verdict, VerificationReport
    from certificates.verification.verifier import Verifier

_WHERE: dict[str, str] = {
    "AGENCIES": "certificates.agencies",
    "AnchorLoop": "certificates.audit.anchoring",
    "anchor_audit_head": "certificates.audit.anchoring",
    "AuditEvent": "certificates.audit.log",
    "AuditLog": "certificates.audit.log",
    "AuditUnavailable": "certificates.audit.log",
    "TTLCache": "certificates.caching",
    "AgencyNotAllowed": "certificates.errors",
    "CertificateError": "certificates.errors",
    "CertificateNotFound": "certificates.errors",
    "ConfigurationError": "certificates.errors",
    "LedgerUnavailableError": "certificates.errors",
    "RevocationRefused": "certificates.errors",
    "UnreadableDocument": "certificates.errors",
    "DocumentRefused": "certificates.errors",
    "VerificationBusy": "certificates.errors",
    "HolderKey": "certificates.holder_key",
    "Home": "certificates.home",
    "Settings": "certificates.home",
    "CertificateId": "certificates.ids",
    "InvalidCertificateId": "certificates.ids",
    "tokens_match": "certificates.ids",
    "BatchProgress": "certificates.issuance.batches",
    "BatchRowResult": "certificates.issuance.batches",
    "BatchService": "certificates.issuance.batches",
    "BatchFileError": "certificates.issuance.refusals",
    "BatchNotFound": "certificates.issuance.refusals",
    "BatchRefusal": "certificates.issuance.refusals",
    "IdempotencyRefused": "certificates.issuance.refusals",
    "ForeignCertificate": "certificates.issuance.register",
    "Register": "certificates.issuance.register",
    "BatchValidationError": "certificates.issuance.service",
    "IssuanceService": "certificates.issuance.service",
    "Issued": "certificates.issuance.service",
    "CallbackPolicy": "certificates.notifications.callbacks",
    "WebhookDispatcher": "certificates.notifications.dispatcher",
    "EVENTS": "certificates.notifications.subscriptions",
    "SubscriptionError": "certificates.notifications.subscriptions",
    "Subscriptions": "certificates.notifications.subscriptions",
    "KEY_COMPROMISE": "certificates.seals",
    "SealKeyError": "certificates.seals",
    "SealKeyService": "certificates.seals",
    "SealLedgerError": "certificates.seals",
    "SealRotation": "certificates.seals",
    "ClientError": "certificates.sharing.clients",
    "ClientRegistry": "certificates.sharing.clients",
    "Principal": "certificates.sharing.clients",
    "AgreementError": "certificates.sharing.lookup",
    "SharingService": "certificates.sharing.lookup",
    "agreement_json": "certificates.sharing.lookup",
    "NotIssuer": "certificates.status",
    "StatusChange": "certificates.status",
    "StatusService": "certificates.status",
    "CERTIFICATE_TYPES": "certificates.types",
    "CertificateDataError": "certificates.types",
    "types_catalogue": "certificates.types",
    "DESK_TZ": "certificates.verification.desk",
    "CounterDesk": "certificates.verification.desk",
    "DeskRecord": "certificates.verification.desk",
    "DeskResult": "certificates.verification.desk",
    "LinkNotRecognised": "certificates.verification.desk",
    "PublicService": "certificates.verification.public",
    "Verdict": "certificates.verification.report",
    "VerificationReport": "certificates.verification.report",
    "Verifier": "certificates.verification.verifier",
    "RekeyResult": "certificates.sharing.rekey",
    "rekey_store": "certificates.sharing.rekey",
    "rotate_holder_key": "certificates.sharing.rekey",
}

__all__ = [
    "AGENCIES",
    "CERTIFICATE_TYPES",
    "DESK_TZ",
    "EVENTS",
    "KEY_COMPROMISE",
    "AgencyNotAllowed",
    "AgreementError",
    "AnchorLoop",
    "AuditEvent",
    "AuditLog",
    "AuditUnavailable",
    "BatchFileError",
    "BatchNotFound",
    "BatchProgress",
    "BatchRefusal",
    "BatchRowResult",
    "BatchService",
    "BatchValidationError",
    "CallbackPolicy",
    "CertificateDataError",
    "CertificateError",
    "CertificateId",
    "CertificateNotFound",
    "ClientError",
    "ClientRegistry",
    "ConfigurationError",
    "CounterDesk",
    "DeskRecord",
    "DeskResult",
    "DocumentRefused",
    "ForeignCertificate",
    "HolderKey",
    "Home",
    "IdempotencyRefused",
    "InvalidCertificateId",
    "IssuanceService",
    "Issued",
    "LedgerUnavailableError",
    "LinkNotRecognised",
    "NotIssuer",
    "Principal",
    "PublicService",
    "Register",
    "RekeyResult",
    "RevocationRefused",
    "SealKeyError",
    "SealKeyService",
    "SealLedgerError",
    "SealRotation",
    "Settings",
    "SharingService",
    "StatusChange",
    "StatusService",
    "SubscriptionError",
    "Subscriptions",
    "TTLCache",
    "UnreadableDocument",
    "Verdict",
    "VerificationBusy",
    "VerificationReport",
    "Verifier",
    "WebhookDispatcher",
    "agreement_json",
    "anchor_audit_head",
    "rekey_store",
    "rotate_holder_key",
    "tokens_match",
    "types_catalogue",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'certificates' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
