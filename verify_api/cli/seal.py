"""`certledger seal revoke|crl` and `certledger ltv renew`: seal-key life cycle.

``seal revoke --since T`` is the key-compromise procedure: the seal certificate is revoked
from T (OCSP and the CRL say so at once), every certificate that key sealed at or after T
is found in the agency's store (by the seal in the stored PDF itself) and revoked on the
ledger with reason ``keyCompromise`` in ONE ledger transaction, and the list is printed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from verify_api.cli import common

__all__ = ["ltv_app", "seal_app"]

seal_app = typer.Typer(help="Seal keys: revoke (with a key-compromise window), publish CRLs.")
ltv_app = typer.Typer(help="Long-term validation of stored certificates.")

KEY_COMPROMISE = "keyCompromise"


def _parse_time(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        common.fail(f"--since {raw!r} is not an ISO 8601 time (e.g. 2026-03-01T08:00:00+08:00)")
        raise
    if value.tzinfo is None:
        common.fail("--since needs a time zone (e.g. +08:00 or Z); a bare local time is ambiguous")
    return value.astimezone(UTC)


def sealed_by(store: Any, agency: str, fingerprint: str, since: datetime) -> list[str]:
    """Ids of the agency's stored certificates whose seal was made with the certificate
    ``fingerprint`` at or after ``since`` (by the seal's own timestamp)."""
    from sqlmodel import select

    from certificates.store.database import CertificateRow
    from signing import SigningError, read_seal_facts

    found: list[str] = []
    with store.session() as session:
        rows = session.exec(
            select(CertificateRow.id, CertificateRow.pdf).where(CertificateRow.agency == agency)
        )
        for cert_id, pdf in rows:
            try:
                facts = read_seal_facts(pdf)
            except SigningError:
                continue
            if facts.signer_fingerprint != fingerprint:
                continue
            # No timestamp: the seal's time is unknown, so it may fall in the window.
            if facts.signed_at is None or facts.signed_at >= since:
                found.append(cert_id)
    return sorted(found)


def _seal_certificate(pki_dir: Any, agency: str, wanted: str | None) -> Any:
    """The agency's current seal certificate, or with ``wanted`` (a SHA-256 fingerprint) the
    current or retired one it names: a key can turn out compromised after it was rotated."""
    from signing import load_certificate
    from signing.pki import AGENCIES_DIR, RETIRED_DIR, SEAL_CERT
    from signing.revocation import fingerprint

    agency_dir = pki_dir / AGENCIES_DIR / agency
    current = agency_dir / SEAL_CERT
    if not current.is_file():
        common.fail(f"no agency {agency!r} in this deployment's PKI")
    if wanted is None:
        return load_certificate(current)
    retired_dir = agency_dir / RETIRED_DIR
    paths = [current, *(sorted(retired_dir.glob("*.pem")) if retired_dir.is_dir() else [])]
    candidates = [load_certificate(path) for path in paths]
    for cert in candidates:
        if fingerprint(cert) == wanted.strip().lower():
            return cert
    known = ", ".join(fingerprint(cert) for cert in candidates)
    common.fail(f"{agency} has no seal certificate with fingerprint {wanted!r}; its seals: {known}")
    return None


def _state(store: Any, cert_id: str) -> str | None:
    row = store.get(cert_id)
    return None if row is None else str(row.state)


@seal_app.command("revoke")
def revoke(
    agency: Annotated[str, typer.Option(help="agency whose seal certificate to revoke")],
    reason: Annotated[
        str, typer.Option(help="RFC 5280 reason: keyCompromise, superseded, …")
    ] = KEY_COMPROMISE,
    since: Annotated[
        str | None,
        typer.Option(
            help="ISO 8601 time the key is known compromised from (key-compromise window)"
        ),
    ] = None,
    seal_fingerprint: Annotated[
        str | None,
        typer.Option(
            "--fingerprint",
            help="SHA-256 fingerprint of a retired seal certificate to revoke instead of the "
            "current one (as `seal rotate` lists them)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Revoke an agency's seal certificate (the current one, or a retired one by
    --fingerprint); with --since also revoke on the ledger every certificate it sealed from
    then on."""

    from ledger import LedgerError
    from ledger.interface import BatchRevoker
    from signing import SigningError
    from signing.pki_admin import revoke_certificate
    from signing.revocation import fingerprint

    home = common.home()
    passphrase = common.require_passphrase()
    start = _parse_time(since) if since is not None else None
    try:
        cert = _seal_certificate(home.pki, agency, seal_fingerprint)
        record = revoke_certificate(home.pki, passphrase, cert, reason=reason, since=start)
    except SigningError as exc:
        common.fail(str(exc), common.EXIT_CONFIG)
        return
    fp = fingerprint(cert)
    result: dict[str, Any] = {
        "agency": agency,
        "seal_fingerprint": fp,
        "serial": format(cert.serial_number, "x"),
        "revoked_at": record.revoked_at.isoformat(),
        "reason": record.reason,
        "certificates_revoked": [],
    }
    if start is not None:
        rt = common.runtime(keys=True)
        try:
            # Certificates still pending go to the ledger first, so that the batch below
            # covers them too (a pending one anchored later would otherwise read active).
            if rt.issuance is not None:
                rt.issuance.anchor_pending()
            ids = sealed_by(rt.store, agency, fp, start)
            pending = [cid for cid in ids if _state(rt.store, cid) != "anchored"]
            if pending:
                common.fail(
                    f"{len(pending)} affected certificate(s) are not on the ledger yet "
                    f"(e.g. {pending[0]}); the seal certificate is revoked, but re-run this "
                    "command when the ledger is reachable to revoke the certificates",
                    common.EXIT_LEDGER,
                )
            if ids:
                if not isinstance(rt.ledger, BatchRevoker):
                    common.fail(
                        f"the {rt.ledger.backend} ledger cannot revoke in one transaction; "
                        "nothing was revoked on the ledger",
                        common.EXIT_LEDGER,
                    )
                receipt = rt.ledger.revoke_batch(agency, ids, KEY_COMPROMISE)
                for cert_id in ids:
                    rt.store.set_status(cert_id, "revoked", KEY_COMPROMISE)
                if receipt is not None:
                    result["ledger"] = {"tx_id": receipt.tx_id, "block": receipt.block_number}
            result["certificates_revoked"] = ids
        except LedgerError as exc:
            common.fail(f"the ledger refused or is unreachable: {exc}", common.EXIT_LEDGER)
        finally:
            rt.close()
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"revoked the seal certificate of {agency} (serial {result['serial']}) from "
        f"{result['revoked_at']}, reason {record.reason}"
    )
    if start is not None:
        ids = result["certificates_revoked"]
        typer.echo(f"{len(ids)} certificate(s) sealed with it since {start.isoformat()}:")
        for cert_id in ids:
            typer.echo(f"  {cert_id}")


@seal_app.command("crl")
def crl() -> None:
    """Re-publish the issuing CA's CRL and the root's ARL (run daily, e.g. from cron)."""
    from signing import SigningError
    from signing.pki_admin import publish_crl

    home = common.home()
    passphrase = common.require_passphrase()
    try:
        paths = [publish_crl(home.pki, passphrase), publish_crl(home.pki, passphrase, root=True)]
    except SigningError as exc:
        common.fail(str(exc), common.EXIT_CONFIG)
        return
    for path in paths:
        typer.echo(f"published {path}")


def _period(agency: str, cert: Any) -> Any:
    from chaincode.models import SealKeyPeriod
    from signing.revocation import fingerprint

    return SealKeyPeriod(
        agency=agency,
        fingerprint=fingerprint(cert),
        valid_from=cert.not_valid_before_utc.isoformat(),
        valid_until=cert.not_valid_after_utc.isoformat(),
    )


@seal_app.command("rotate")
def rotate(
    agency: Annotated[str, typer.Option(help="agency that gets a new seal key and certificate")],
    register_only: Annotated[
        bool,
        typer.Option(help="only register the current seal on the ledger (after a failed rotate)"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """New seal key and certificate for an agency. Certificates sealed with the old one still
    verify: the ledger's agency registry lists both, with their validity periods. Restart
    `certledger serve` afterwards so it seals with the new key."""
    from ledger import LedgerError
    from ledger.interface import SealKeyRegistry
    from signing import SigningError, load_pki
    from signing.pki_admin import rotate_seal

    home = common.home()
    passphrase = common.require_passphrase()
    try:
        if register_only:
            pki = load_pki(home.pki, passphrase)
            certs = pki.seal_certificates(agency)
            if len(certs) < 2:
                common.fail(
                    f"{agency} has never rotated its seal; nothing to register", common.EXIT_CONFIG
                )
            new, old = certs[0], certs[1]
        else:
            rotated = rotate_seal(home.pki, passphrase, agency)
            new, old = rotated.new, rotated.old
    except SigningError as exc:
        common.fail(str(exc), common.EXIT_CONFIG)
        return
    rt = common.runtime(keys=True)
    try:
        if not isinstance(rt.ledger, SealKeyRegistry):
            common.fail(
                f"the {rt.ledger.backend} ledger cannot record seal-key rotation",
                common.EXIT_LEDGER,
            )
        receipt = rt.ledger.rotate_seal_key(agency, _period(agency, old), _period(agency, new))
    except LedgerError as exc:
        common.fail(
            f"the new seal certificate exists but the ledger did not record it ({exc}); "
            f"run `certledger seal rotate --agency {agency} --register-only`",
            common.EXIT_LEDGER,
        )
        return
    finally:
        rt.close()
    result = {
        "agency": agency,
        "old": _period(agency, old).to_dict(),
        "new": _period(agency, new).to_dict(),
        "ledger": {"tx_id": receipt.tx_id, "block": receipt.block_number},
    }
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{agency}: new seal {result['new']['fingerprint']} registered on the ledger")
    typer.echo(f"  old seal {result['old']['fingerprint']} stays listed (old seals verify)")


@ltv_app.command("renew")
def renew(
    within_days: Annotated[
        int, typer.Option(help="renew when the last timestamp's TSA certificate expires sooner")
    ] = 365,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add a fresh document timestamp to stored certificates whose last timestamp's TSA
    certificate nears expiry. The anchored digest (of the sealed revision) is unchanged."""
    from datetime import timedelta

    from sqlalchemy import text
    from sqlmodel import select

    from certificates.store.database import CertificateRow
    from signing import (
        InProcessRevocationSource,
        InProcessTimeStamper,
        SigningError,
        TimeStampAuthority,
        load_pki,
    )
    from signing.renewal import (
        last_timestamp_expiry,
        renew_archive_timestamp,
        sealed_revision_digest,
    )

    if within_days < 0:
        common.fail("--within-days must not be negative")
    home = common.home()
    passphrase = common.require_passphrase()
    try:
        pki = load_pki(home.pki, passphrase)
        source = InProcessRevocationSource.from_pki(pki)
    except SigningError as exc:
        common.fail(str(exc), common.EXIT_CONFIG)
        return
    stamper = InProcessTimeStamper(TimeStampAuthority(pki.tsa))
    horizon = datetime.now(UTC) + timedelta(days=within_days)
    rt = common.runtime(keys=False)
    renewed: list[str] = []
    skipped: list[dict[str, str]] = []
    try:
        with rt.store.session() as session:
            rows = list(
                session.exec(
                    select(CertificateRow.id, CertificateRow.pdf, CertificateRow.sealed_digest)
                )
            )
        for cert_id, pdf, digest in rows:
            try:
                expiry = last_timestamp_expiry(pdf)
                if expiry is None or expiry > horizon:
                    continue
                new_pdf = renew_archive_timestamp(pdf, stamper, source)
                # Fail closed: the stored digest is what the ledger anchors.
                if sealed_revision_digest(new_pdf) != digest:
                    raise SigningError("the sealed revision does not match the stored digest")
            except SigningError as exc:
                skipped.append({"id": cert_id, "reason": str(exc)})
                continue
            with rt.store.session() as session:
                session.connection().execute(
                    text("UPDATE certificates SET pdf = :pdf WHERE id = :id"),
                    {"pdf": new_pdf, "id": cert_id},
                )
                session.commit()
            renewed.append(cert_id)
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps({"renewed": renewed, "skipped": skipped}, indent=2))
        return
    typer.echo(f"renewed {len(renewed)} certificate(s); {len(skipped)} could not be renewed")
    for item in skipped:
        typer.echo(f"  {item['id']}: {item['reason']}")


@ltv_app.command("rotate-tsa")
def rotate_tsa_cmd() -> None:
    """New time-stamp authority key and certificate; run before `ltv renew` when the old TSA
    certificate nears expiry. Restart `certledger serve` afterwards."""
    from signing import SigningError
    from signing.pki_admin import rotate_tsa

    passphrase = common.require_passphrase()
    try:
        new = rotate_tsa(common.home().pki, passphrase)
    except SigningError as exc:
        common.fail(str(exc), common.EXIT_CONFIG)
        return
    typer.echo(f"new TSA certificate valid until {new.not_valid_after_utc.isoformat()}")


@seal_app.command("enroll-hsm")
def enroll_hsm(
    agency: Annotated[str, typer.Option(help="agency whose seal key moves into the token")],
    module: Annotated[
        str, typer.Option(help="PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so")
    ],
    token: Annotated[str, typer.Option(help="token label")],
    key_label: Annotated[str, typer.Option(help="label for the new key in the token")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Generate the agency's seal key in a PKCS#11 token (user PIN from CERTLEDGER_HSM_PIN),
    certify it and register it on the ledger like a rotation; the old seal still verifies.
    Restart `certledger serve` afterwards (with CERTLEDGER_HSM_PIN set)."""
    from pathlib import Path

    from ledger import LedgerError
    from ledger.interface import SealKeyRegistry
    from signing import Secret, SigningError
    from signing.hsm import HSM_PIN_ENV, Pkcs11Key
    from signing.pki_admin import enroll_token_seal

    home = common.home()
    passphrase = common.require_passphrase()
    try:
        key = Pkcs11Key(Path(module), token, key_label, Secret.from_env(HSM_PIN_ENV))
        enrolled = enroll_token_seal(home.pki, passphrase, agency, key)
    except SigningError as exc:
        common.fail(str(exc), common.EXIT_CONFIG)
        return
    rt = common.runtime(keys=True)
    try:
        if not isinstance(rt.ledger, SealKeyRegistry):
            common.fail(
                f"the {rt.ledger.backend} ledger cannot record seal-key rotation",
                common.EXIT_LEDGER,
            )
        old, new = _period(agency, enrolled.old), _period(agency, enrolled.new)
        receipt = rt.ledger.rotate_seal_key(agency, old, new)
    except LedgerError as exc:
        common.fail(
            f"the token key is certified but the ledger did not record it ({exc}); "
            f"run `certledger seal rotate --agency {agency} --register-only`",
            common.EXIT_LEDGER,
        )
        return
    finally:
        rt.close()
    result = {
        "agency": agency,
        "token": token,
        "key_label": key_label,
        "new": new.to_dict(),
        "old": old.to_dict(),
        "ledger": {"tx_id": receipt.tx_id, "block": receipt.block_number},
    }
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{agency}: seal key now in token {token!r} ({new.fingerprint})")
