"""The webhook guard's address rules: every non-public address and every IPv6 form carrying an
IPv4 address is refused, as a literal and as a DNS answer; refusals never name the address a
host resolved to; the operator's allow-list still overrides."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from certificates.notifications.callbacks import CallbackRefused
from certificates.notifications.subscriptions import SubscriptionError, Subscriptions
from certificates.sharing.clients import Principal
from tests.certificates.test_callbacks import _policy

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:4700::1111"

# Addresses no webhook may reach without the operator's say-so, with what they are.
REFUSED = [
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link-local: cloud metadata"),
    ("100.64.0.1", "shared address space (carrier-grade NAT)"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "this network"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("192.0.0.8", "IETF protocol assignments"),
    ("192.0.0.9", "IETF protocol assignments: an anycast service, still no receiver"),
    ("2001:3::1", "IETF protocol assignments: AMT, still no receiver"),
    ("192.0.2.1", "documentation TEST-NET-1"),
    ("198.51.100.7", "documentation TEST-NET-2"),
    ("203.0.113.9", "documentation TEST-NET-3"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.254", "benchmarking"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fd00::1", "unique local"),
    ("fec0::1", "site-local (deprecated)"),
    ("ff02::1", "multicast, link scope"),
    ("ff0e::1", "multicast, global scope"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation (RFC 9637)"),
    ("100::1", "discard-only"),
    ("5f00::1", "SRv6 segment identifiers"),
    ("2001:2::1", "benchmarking"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata"),
    (f"::ffff:{PUBLIC_V4}", "IPv4-mapped, even of a public address"),
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("::10.0.0.1", "IPv4-compatible private"),
    ("::169.254.169.254", "IPv4-compatible metadata"),
    (f"::{PUBLIC_V4}", "IPv4-compatible, even of a public address"),
    ("::ffff:0:10.0.0.1", "IPv4-translated (SIIT)"),
    ("64:ff9b::127.0.0.1", "NAT64 of loopback"),
    ("64:ff9b::a00:1", "NAT64 of 10.0.0.1"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of the metadata address"),
    (f"64:ff9b::{PUBLIC_V4}", "NAT64, even of a public address"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("2002:7f00:1::1", "6to4 of 127.0.0.1"),
    ("2002:a00:1::1", "6to4 of 10.0.0.1"),
    ("2002:a9fe:a9fe::1", "6to4 of the metadata address"),
    ("2002:5db8:d822::1", "6to4, even of a public address"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("2001:0:a00:1:8000:f5ff:f5ff:fffe", "Teredo with a private server"),
]
REFUSED_IDS = [f"{address} ({what})" for address, what in REFUSED]

ACCEPTED = [PUBLIC_V4, "8.8.8.8", "1.1.1.1", PUBLIC_V6, "2a00:1450:4001:82a::200e"]


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _spellings(address: str) -> set[str]:
    """Ways the address could appear in a message: as resolved, compressed, exploded, and for
    an IPv6 form carrying IPv4, that IPv4 address too."""
    parsed = ipaddress.ip_address(address)
    found = {address, str(parsed), parsed.exploded}
    if isinstance(parsed, ipaddress.IPv6Address):
        packed = parsed.packed
        found.add(str(ipaddress.IPv4Address(packed[-4:])))  # ::ffff:a.b.c.d, 64:ff9b::, ::
        if parsed in ipaddress.IPv6Network("2002::/16"):
            found.add(str(ipaddress.IPv4Address(packed[2:6])))
    found.discard("0.0.0.1")  # ::1's last four bytes: too short to mean anything in text
    return found


@pytest.mark.parametrize("address", [a for a, _ in REFUSED], ids=REFUSED_IDS)
def test_refused_as_a_literal(address: str) -> None:
    with pytest.raises(CallbackRefused, match="not a public address"):
        _policy().check(f"https://{_bracketed(address)}/hook")


@pytest.mark.parametrize("address", [a for a, _ in REFUSED], ids=REFUSED_IDS)
def test_refused_as_a_dns_answer_without_naming_it(address: str) -> None:
    policy = _policy(answers={"hooks.example": [address], "mixed.example": [PUBLIC_V4, address]})
    for host in ("hooks.example", "mixed.example"):
        with pytest.raises(CallbackRefused) as caught:
            policy.check(f"https://{host}/hook")
        message = str(caught.value)
        assert f"the callback host {host} resolves to an address" in message
        assert "not a public address" in message
        for shown in _spellings(address):
            assert shown not in message, (shown, message)
        assert PUBLIC_V4 not in message


@pytest.mark.parametrize("address", ACCEPTED)
def test_public_addresses_are_accepted(address: str) -> None:
    policy = _policy(answers={"hooks.example": [address]})
    assert [str(a) for a in policy.check("https://hooks.example/hook")] == [address]
    assert [str(a) for a in policy.check(f"https://{_bracketed(address)}/hook")] == [address]


def test_a_scoped_link_local_answer_is_refused() -> None:
    policy = _policy(answers={"hooks.example": ["fe80::1%eth0"]})
    with pytest.raises(CallbackRefused, match="not a public address") as caught:
        policy.check("https://hooks.example/hook")
    assert "fe80" not in str(caught.value) and "eth0" not in str(caught.value)


def test_the_allow_list_still_overrides() -> None:
    policy = _policy(
        "hooks.intranet",
        "10.20.0.0/16",
        "64:ff9b::/96",  # an IPv6-only deployment behind DNS64 admitting its NAT64 prefix
        answers={
            "hooks.intranet": ["10.99.0.1"],
            "named.intranet": ["10.20.3.4"],
            "nat64.example": ["64:ff9b::5db8:d822"],
        },
    )
    assert policy.check("http://hooks.intranet/hook") == []  # listed by name
    policy.check("http://10.20.1.1:8080/hook")  # inside a listed network
    policy.check("https://named.intranet/hook")  # resolves into a listed network
    policy.check("https://nat64.example/hook")
    policy.check("https://[64:ff9b::a00:1]/hook")
    # A listed IPv4 network does not admit IPv6 forms of its addresses (as before).
    with pytest.raises(CallbackRefused, match="not a public address"):
        policy.check("https://[::ffff:10.20.1.1]/hook")
    with pytest.raises(CallbackRefused, match="not a public address"):
        policy.check("https://10.21.0.1/hook")


def test_a_refused_subscription_names_no_resolved_address() -> None:
    """What the HTTP answer carries (SubscriptionError's zh and en texts): the host as typed,
    not what it resolved to. The URL is checked before the store is touched."""
    policy = _policy(answers={"inside.example": ["10.0.0.5"], "nat.example": ["64:ff9b::a00:5"]})
    store: Any = None
    audit: Any = None
    subscriptions = Subscriptions(store, audit=audit, policy=policy)
    who = Principal("cl_test", "transport", frozenset({"issuer"}))
    for host, address in (("inside.example", "10.0.0.5"), ("nat.example", "64:ff9b::a00:5")):
        with pytest.raises(SubscriptionError) as caught:
            subscriptions.add(who, f"https://{host}/hook", ["status.changed"])
        err = caught.value
        assert err.code == "BAD_URL"
        assert host in err.en and "not a public address" in err.en
        assert err.zh  # the Chinese text is there, and generic
        for text in (err.en, err.zh, str(err)):
            for shown in _spellings(address):
                assert shown not in text, (shown, text)
