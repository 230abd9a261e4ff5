"""Seals, PKI and time-stamping for CertLedger.

Sealing (:mod:`signing.sealer`) and seal checking (:mod:`signing.seal_check`) are
siblings: neither imports the other; both use the shared types in
:mod:`signing.models`. Every error raised on purpose derives from :class:`SigningError`.
"""

from signing._keys import PASSPHRASE_ENV, derive_cached
from signing.errors import (
    DocumentLimitExceeded,
    KeyPassphraseError,
    MissingPassphraseError,
    PkiExistsError,
    PkiInvalidError,
    PkiNotInitialisedError,
    SealCertificateError,
    SealingError,
    SigningError,
    StampFontError,
    TimestampError,
    UnknownAgencyError,
    UnreadablePdfError,
    VerifierBusyError,
)
from signing.ltv import InProcessRevocationSource, RevocationSource
from signing.models import (
    Outcome,
    RevocationData,
    SealedDocument,
    SealLevel,
    SealReport,
    Status,
)
from signing.pki import (
    AgencyIdentity,
    NodeIdentity,
    OcspIdentity,
    Pki,
    SealIdentity,
    TsaIdentity,
    init_pki,
    load_certificate,
    load_pki,
    load_trust_roots,
)
from signing.revocation import (
    OcspResponder,
    OcspService,
    RevocationRecord,
    RevocationRegistry,
)
from signing.seal_check import SealFacts, async_check_seal, check_seal, read_seal_facts
from signing.sealer import SEAL_FIELD_NAME, Sealer, SealerSpec
from signing.secret import Secret
from signing.tsa import (
    DEFAULT_POLICY_OID,
    QUERY_CONTENT_TYPE,
    REPLY_CONTENT_TYPE,
    InProcessTimeStamper,
    TimeStampAuthority,
)

__all__ = [
    "DEFAULT_POLICY_OID",
    "PASSPHRASE_ENV",
    "QUERY_CONTENT_TYPE",
    "REPLY_CONTENT_TYPE",
    "SEAL_FIELD_NAME",
    "AgencyIdentity",
    "DocumentLimitExceeded",
    "InProcessRevocationSource",
    "InProcessTimeStamper",
    "KeyPassphraseError",
    "MissingPassphraseError",
    "NodeIdentity",
    "OcspIdentity",
    "OcspResponder",
    "OcspService",
    "Outcome",
    "Pki",
    "PkiExistsError",
    "PkiInvalidError",
    "PkiNotInitialisedError",
    "RevocationData",
    "RevocationRecord",
    "RevocationRegistry",
    "RevocationSource",
    "SealCertificateError",
    "SealFacts",
    "SealIdentity",
    "SealLevel",
    "SealReport",
    "SealedDocument",
    "Sealer",
    "SealerSpec",
    "SealingError",
    "Secret",
    "SigningError",
    "StampFontError",
    "Status",
    "TimeStampAuthority",
    "TimestampError",
    "TsaIdentity",
    "UnknownAgencyError",
    "UnreadablePdfError",
    "VerifierBusyError",
    "async_check_seal",
    "check_seal",
    "derive_cached",
    "init_pki",
    "load_certificate",
    "load_pki",
    "load_trust_roots",
    "read_seal_facts",
]
