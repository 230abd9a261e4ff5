"""Where webhooks may be delivered: https to public addresses, unless an operator says more.

A webhook URL is chosen by a client, and the server then makes requests to it. Without a
rule, any issuer or verifier client could make the server call its own loopback services, the
cloud metadata address (169.254.169.254) or hosts on the agencies' internal network
(server-side request forgery). So, by default:

* the scheme must be ``https`` (the signed body still travels in the clear over http);
* every address the host name stands for must be public (not loopback, private, link-local,
  shared, multicast, reserved, documentation, benchmarking or unspecified, and none of the IPv6
  forms that carry an IPv4 address: see :func:`_is_public`) — checked when the subscription is
  made AND again before each delivery, since DNS answers can change after the check; the
  delivery then connects to the address that was checked (see :func:`pinned_request`).

Refusals say what is wrong with the URL, never which addresses its host resolved to: the
message reaches the client (and the logs), and internal DNS answers are not the client's to see.

Operators list trusted destinations in ``CERTLEDGER_WEBHOOK_ALLOW`` (comma separated host
names, addresses or networks such as ``10.20.0.0/16``); plain http is accepted to those (a
listed name, or a name whose every address lies in a listed network), as internal receivers
often sit behind their own TLS termination.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

__all__ = ["ALLOW_ENV", "CallbackPolicy", "CallbackRefused", "pinned_request"]

ALLOW_ENV = "CERTLEDGER_WEBHOOK_ALLOW"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]


class CallbackRefused(ValueError):
    """The callback URL may not be called; the message says why (no secrets in it)."""


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


# IPv6 prefixes whose addresses carry an IPv4 address, or are delivered to one by a relay or
# translator: refused whole, whatever IPv4 address they carry. The carried address is what such
# a packet ends up reaching, and it may be loopback or private (64:ff9b::a00:1 is 10.0.0.1
# behind a NAT64 gateway, 2002:7f00:1::1 is 6to4 to 127.0.0.1), while Python's tables call most
# of these forms "global". Judging the embedded address instead would mean decoding every
# format right (6to4 puts it in bits 16-47, Teredo obfuscates the client's and names a server
# too, NAT64 prefixes other than /96 split it around bit 64) for no gain: a real receiver has a
# native address. An IPv6-only deployment behind DNS64 can list its NAT64 prefix in
# CERTLEDGER_WEBHOOK_ALLOW, if its translator refuses internal IPv4 destinations itself.
_EMBEDDED_V4 = tuple(
    ipaddress.IPv6Network(prefix)
    for prefix in (
        "::/96",  # IPv4-compatible (deprecated, RFC 4291), and :: and ::1
        "::ffff:0:0/96",  # IPv4-mapped: a v6 socket connects to the IPv4 address
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT, RFC 2765)
        "64:ff9b::/96",  # NAT64 well-known prefix (RFC 6052)
        "64:ff9b:1::/48",  # NAT64 local-use prefix (RFC 8215)
        "2002::/16",  # 6to4 (RFC 3056)
        "2001::/32",  # Teredo (RFC 4380)
    )
)

# Not globally reachable, although the ipaddress tables of some Python versions say they are.
# The two IETF blocks also hold a few anycast services (192.0.0.9, AMT, AS112, ORCHID): none of
# them is anyone's webhook receiver.
_NOT_GLOBAL: tuple[Network, ...] = (
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments (RFC 6890)
    ipaddress.IPv4Network("192.88.99.0/24"),  # 6to4 relay anycast (deprecated, RFC 7526)
    ipaddress.IPv6Network("2001::/23"),  # IETF protocol assignments (RFC 2928), Teredo too
    ipaddress.IPv6Network("fec0::/10"),  # site-local (deprecated, RFC 3879)
    ipaddress.IPv6Network("3fff::/20"),  # documentation (RFC 9637)
    ipaddress.IPv6Network("5f00::/16"),  # SRv6 segment identifiers (RFC 9602)
)


def _is_public(address: Address) -> bool:
    """Whether a delivery may go to ``address`` without the operator's say-so: a globally
    reachable unicast address, not one of the forms above."""
    if any(address in network for network in _EMBEDDED_V4):
        return False
    if any(address in network for network in _NOT_GLOBAL):
        return False
    # is_global alone misses multicast (224.0.0.1 and ff0e::1 are "global") and, depending on
    # the Python version, some reserved blocks; asking each property costs nothing.
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


@dataclass(frozen=True)
class CallbackPolicy:
    """Which callback URLs are allowed (see the module docstring)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    resolver: Resolver = field(default=_resolve, compare=False, repr=False)

    @classmethod
    def from_entries(cls, entries: Iterable[str], resolver: Resolver = _resolve) -> CallbackPolicy:
        hosts: set[str] = set()
        networks: list[Network] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks), resolver)

    def _trusted_address(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def _resolve(self, host: str, parts: SplitResult) -> list[Address]:
        default_port = 443 if parts.scheme == "https" else 80
        try:
            found = self.resolver(host, parts.port or default_port)
        except OSError as exc:
            raise CallbackRefused(f"the callback host {host} does not resolve") from exc
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        if not addresses:
            raise CallbackRefused(f"the callback host {host} does not resolve")
        return addresses

    def check(self, url: str) -> list[Address]:
        """Refuse ``url`` unless a delivery to it is allowed now; return the vetted addresses
        to connect to (empty for a host the operator listed by name, which is resolved as
        usual). Connecting to exactly these addresses, not to a second DNS answer, is what
        closes the gap a DNS-rebinding receiver would use between check and connection.

        :raises CallbackRefused: with a reason a person can act on.
        """
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises on a malformed port
        except ValueError as exc:
            raise CallbackRefused("the callback URL cannot be parsed") from exc
        host = (parts.hostname or "").rstrip(".")
        if parts.scheme not in ("https", "http") or not host or parts.username is not None:
            raise CallbackRefused("the callback must be an https URL without credentials")
        if host in self.hosts:
            return []
        addresses = [ipaddress.ip_address(host)] if _literal(host) else self._resolve(host, parts)
        if all(self._trusted_address(a) for a in addresses):
            return addresses  # inside networks the operator allows: http accepted there
        if parts.scheme != "https":
            raise CallbackRefused(
                "the callback must use https (plain http only to hosts the operator allows)"
            )
        for address in addresses:
            if not _is_public(address) and not self._trusted_address(address):
                # The host as written in the URL may be named; what it resolved to may not.
                what = (
                    f"the callback address {host} is"
                    if _literal(host)
                    else f"the callback host {host} resolves to an address that is"
                )
                raise CallbackRefused(
                    f"{what} not a public address; an operator can allow internal "
                    f"receivers with {ALLOW_ENV}"
                )
        return addresses


def pinned_request(
    url: str, addresses: list[Address]
) -> tuple[str, dict[str, str], dict[str, str]]:
    """(URL, extra headers, httpx extensions) that reach ``url``'s first vetted address.

    The URL names the address, the Host header and the TLS server name (SNI, and the name
    the server certificate is checked against) stay the original host's.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not addresses or _literal(host):
        return url, {}, {}
    address = addresses[0]
    shown = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{shown}:{parts.port}" if parts.port is not None else shown
    host_header = f"{host}:{parts.port}" if parts.port is not None else host
    return parts._replace(netloc=netloc).geturl(), {"Host": host_header}, {"sni_hostname": host}


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
