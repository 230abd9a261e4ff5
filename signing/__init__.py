"""Seals, PKI and time-stamping for CertLedger.

Sealing (:mod:`signing.sealer`) and seal checking (:mod:`signing.seal_check`) are
siblings: neither imports the other; both use the shared types in
:mod:`signing.models`. Every error raised on purpose derives from :class:`SigningError`.
"""

from signing._keys import PASSPHRASE_ENV
from signing.errors import (
    KeyPassphraseError,
    MissingPassphraseError,
    PkiExistsError,
    PkiInvalidError,
    PkiNotInitialisedError,
    SealingError,
    SigningError,
    StampFontError,
    TimestampError,
    UnknownAgencyError,
    UnreadablePdfError,
)
from signing.models import Outcome, SealedDocument, SealReport, Status
from signing.pki import (
    AgencyIdentity,
    NodeIdentity,
    Pki,
    SealIdentity,
    TsaIdentity,
    init_pki,
    load_certificate,
    load_pki,
    load_trust_roots,
)
from signing.seal_check import async_check_seal, check_seal
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
    "InProcessTimeStamper",
    "KeyPassphraseError",
    "MissingPassphraseError",
    "NodeIdentity",
    "Outcome",
    "Pki",
    "PkiExistsError",
    "PkiInvalidError",
    "PkiNotInitialisedError",
    "SealIdentity",
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
    "async_check_seal",
    "check_seal",
    "init_pki",
    "load_certificate",
    "load_pki",
    "load_trust_roots",
]
