"""The public surface other packages code against: names, signatures, error family."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import signing

EXPECTED = {
    "DEFAULT_POLICY_OID",
    "PASSPHRASE_ENV",
    "QUERY_CONTENT_TYPE",
    "REPLY_CONTENT_TYPE",
    "SEAL_FIELD_NAME",
    "AgencyIdentity",
    "InProcessRevocationSource",
    "DocumentLimitExceeded",
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
    "derive_cached",
    "check_seal",
    "init_pki",
    "load_certificate",
    "load_pki",
    "load_trust_roots",
    "read_seal_facts",
}


def test_exports() -> None:
    assert set(signing.__all__) == EXPECTED
    for name in signing.__all__:
        assert getattr(signing, name) is not None


def test_one_error_root() -> None:
    errors = [
        obj
        for obj in vars(signing).values()
        if isinstance(obj, type) and issubclass(obj, Exception)
    ]
    assert len(errors) > 5
    assert all(issubclass(e, signing.SigningError) for e in errors)


def test_value_types_are_frozen_dataclasses() -> None:
    for cls in (
        signing.AgencyIdentity,
        signing.SealIdentity,
        signing.TsaIdentity,
        signing.NodeIdentity,
        signing.Outcome,
        signing.SealReport,
        signing.SealedDocument,
        signing.SealerSpec,
        signing.RevocationData,
        signing.RevocationRecord,
    ):
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_signatures_other_packages_rely_on() -> None:
    params = inspect.signature(signing.init_pki).parameters
    assert list(params)[:3] == ["pki_dir", "agencies", "passphrase"]
    assert params["org_name"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["now"].kind is inspect.Parameter.KEYWORD_ONLY
    seal = inspect.signature(signing.Sealer.seal).parameters
    assert [n for n, p in seal.items() if p.kind is inspect.Parameter.KEYWORD_ONLY] == [
        "page",
        "box",
        "reason",
        "location",
    ]
    assert list(inspect.signature(signing.check_seal).parameters) == [
        "pdf",
        "trust_roots",
        "now",
        "revocation_data",
        "limits",
    ]
    check = inspect.signature(signing.check_seal).parameters
    assert check["limits"].kind is inspect.Parameter.KEYWORD_ONLY
    assert [f.name for f in dataclasses.fields(signing.SealedDocument)] == [
        "pdf",
        "sealed_digest",
        "signed_at",
    ]
    assert [f.name for f in dataclasses.fields(signing.Outcome)] == ["status", "reason"]
    assert {s.name for s in signing.Status} == {"PASSED", "FAILED", "INDETERMINATE"}


def test_does_not_import_sibling_packages() -> None:
    code = (
        "import sys, signing; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('certificates', 'ledger', 'verify_api', 'chaincode')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
