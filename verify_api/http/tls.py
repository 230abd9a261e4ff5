"""HTTPS with optional client certificates for ``certledger serve --tls``.

Two pieces that uvicorn does not provide:

1. :func:`server_ssl_context` (and :func:`uvicorn_ssl_context`, its form for uvicorn's
   ``ssl_context_factory``): asks every client for a certificate (``CERT_OPTIONAL``: calls
   without one still work, with a bearer token or none) and trusts exactly one CA for client
   certificates, the project's issuing CA. Never the OS store: any public CA could then mint a
   certificate the handshake accepts. Not the root either: anything the root certifies later
   would be accepted too. A presented certificate that does not chain to the issuing CA, or
   whose EKU lacks clientAuth, fails the handshake. (One with no EKU at all, like a seal
   certificate, passes it, and then authenticates nobody: only registered fingerprints do.)
2. :class:`TlsHttpToolsProtocol`: uvicorn does not put the peer certificate into the ASGI
   scope; this subclass of its httptools protocol does, as the ASGI TLS extension
   (``scope["extensions"]["tls"]``: ``client_cert_chain``, ``client_cert_name``,
   ``client_cert_error``, ``tls_version``, ``cipher_suite``, ``server_cert``), read once per
   connection after the handshake. :class:`verify_api.http.auth.ClientAuth` turns it into a client.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from cryptography import x509
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from certificates import Home
from signing import PASSPHRASE_ENV, Secret
from signing.tls import check_client_ca, ensure_server_certificate

__all__ = [
    "ServerTls",
    "TlsHttpToolsProtocol",
    "prepare_server_tls",
    "server_hosts",
    "server_ssl_context",
    "tls_extension",
    "uvicorn_ssl_context",
]

# The ASGI TLS extension's tls_version is the protocol's 16-bit code point.
_TLS_VERSIONS: Final = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
_WILDCARDS: Final = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104  (names, not a bind)


def server_ssl_context(
    cert_file: Path, key_file: Path, client_ca_file: Path, passphrase: Secret | None
) -> ssl.SSLContext:
    """The server's TLS context (see the module docstring for the trust decision).

    :raises ssl.SSLError: the key does not open with ``passphrase`` or does not match.
    :raises OSError: a file cannot be read.
    """
    # PROTOCOL_TLS_SERVER loads no default CA store: the only trust anchor is added below.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(
        str(cert_file), str(key_file), password=passphrase.reveal if passphrase else None
    )
    ctx.load_verify_locations(cafile=str(client_ca_file))
    # The issuing CA is not self-signed; PARTIAL_CHAIN lets it be the trust anchor by itself
    # (otherwise OpenSSL insists on a path up to a self-signed root).
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def uvicorn_ssl_context(config: Config, _default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory``: the same context in every worker process. The
    passphrase comes from the environment (the workers inherit it), so it is never pickled
    into the configuration uvicorn hands to its workers."""
    assert config.ssl_certfile and config.ssl_keyfile and config.ssl_ca_certs
    passphrase = Secret.from_env(PASSPHRASE_ENV)
    return server_ssl_context(
        Path(config.ssl_certfile),
        Path(config.ssl_keyfile),
        Path(config.ssl_ca_certs),
        passphrase,
    )


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> dict[object, object]:
    """The ASGI TLS extension for one connection, after its handshake."""
    der = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name: str | None = None
    if der:
        chain.append(ssl.DER_cert_to_PEM_cert(der))
        name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    version = ssl_object.version()
    return {
        "server_cert": None,  # optional in the spec; nothing here needs it
        # Only the leaf: Python 3.11 cannot return the verified chain.
        "client_cert_chain": chain,
        "client_cert_name": name,
        # With CERT_OPTIONAL a certificate that fails verification aborts the handshake, so
        # a connection that got this far has a verified certificate or none.
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(version or ""),
        "cipher_suite": None,  # the spec wants the IANA number; Python names the suite only
    }


class TlsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus the ASGI TLS extension in every request's scope.

    asyncio (and uvloop) call ``connection_made`` only after the TLS handshake, so the peer
    certificate is known there; it is read once per connection, not per request.
    """

    _tls: dict[object, object] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        self._tls = tls_extension(ssl_object) if ssl_object is not None else None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            # A copy per request: an application that edits its scope cannot change what
            # the next request on this connection sees.
            self.scope["extensions"] = {"tls": dict(self._tls)}


@dataclass(frozen=True)
class ServerTls:
    """What ``serve --tls`` hands to uvicorn, and what it tells the operator."""

    certificate: Path
    key: Path
    client_ca: Path
    hosts: tuple[str, ...]
    issued: bool

    def uvicorn_options(self) -> dict[str, Any]:
        return {
            "ssl_certfile": str(self.certificate),
            "ssl_keyfile": str(self.key),
            "ssl_ca_certs": str(self.client_ca),
            "ssl_context_factory": uvicorn_ssl_context,
            "http": TlsHttpToolsProtocol,
        }


def server_hosts(bind_host: str, base_url: str | None, extra: Iterable[str]) -> tuple[str, ...]:
    """The names a PKI-issued server certificate covers: loopback, the address served on
    (unless it is a wildcard), the host of the deployment's base URL, and ``extra``."""
    hosts = ["127.0.0.1", "localhost", "::1"]
    if bind_host not in _WILDCARDS:
        hosts.append(bind_host)
    if base_url:
        base_host = urlsplit(base_url).hostname
        if base_host:
            hosts.append(base_host)
    hosts.extend(extra)
    return tuple(dict.fromkeys(h.strip().strip("[]").lower() for h in hosts if h.strip()))


def prepare_server_tls(
    home: Home,
    passphrase: Secret,
    hosts: tuple[str, ...],
    *,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> ServerTls:
    """The server's certificate and key: the given files, or the PKI's server certificate
    (issued or renewed as needed). The context is built once here so that a wrong passphrase
    or a mismatched key fails at start-up, not in the first handshake.

    :raises SigningError: the PKI cannot issue the certificate (e.g. a wrong passphrase).
    :raises ssl.SSLError, OSError: the given files cannot be loaded.
    """
    client_ca = check_client_ca(home.pki)
    issued = False
    if cert_file is None or key_file is None:
        files = ensure_server_certificate(home.pki, passphrase, hosts)
        cert_file, key_file, issued = files.certificate, files.key, files.issued
    server_ssl_context(cert_file, key_file, client_ca, passphrase)
    return ServerTls(cert_file, key_file, client_ca, hosts, issued)
