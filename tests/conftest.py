"""Session-wide test set-up."""

from __future__ import annotations

import datetime
import itertools
import os
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from tests.postgres import PostgresServer


def _sign_one_ocsp_response() -> None:
    """cryptography looks up ``datetime.datetime`` the first time it signs an OCSP response
    and keeps it. Done first under freezegun (an LTV test that freezes time), it keeps
    freezegun's fake class, whose ``now()`` fails once time is unfrozen: every later OCSP
    response in the session then raised IndexError (seen when tests/ltv/test_renewal.py ran
    before tests/ltv/test_hsm.py). Signing one here, before any test, caches the real one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warm-up")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    ocsp.OCSPResponseBuilder().add_response(
        cert=cert,
        issuer=cert,
        algorithm=hashes.SHA1(),
        cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=now,
        next_update=now,
        revocation_time=None,
        revocation_reason=None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, cert).sign(key, hashes.SHA256())


_sign_one_ocsp_response()


def _load_the_application_layer() -> None:
    """freezegun, when it starts, looks at every attribute of every loaded module, and
    ``certificates`` exports its names lazily: the first ``freeze_time`` after ``certificates``
    was imported used to import the store, the audit log and their SQLModel tables *under
    frozen time*, binding freezegun's fake ``datetime`` class into pydantic models for the rest
    of the session (schema errors in later tests; seen when tests/ltv ran on its own). Loading
    every exported name here, before any test, makes those imports happen with the real one."""
    import certificates

    for name in certificates.__all__:
        getattr(certificates, name)


_load_the_application_layer()


# -- PostgreSQL: one real server for the session, a fresh database per test ---------------------

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of an empty database of its own on the session's server."""
    return postgres_server.create_database(f"t{os.getpid()}_{next(_databases)}")
