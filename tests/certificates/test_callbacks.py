"""CallbackPolicy: which webhook URLs the server may call (SSRF guard)."""

from __future__ import annotations

import pytest

from certificates.notifications.callbacks import CallbackPolicy, CallbackRefused, pinned_request

PUBLIC = "93.184.216.34"


def _policy(*entries: str, answers: dict[str, list[str]] | None = None) -> CallbackPolicy:
    table = answers or {}

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return CallbackPolicy.from_entries(entries, resolver=resolve)


@pytest.mark.parametrize(
    "url",
    [
        f"https://{PUBLIC}/hook",
        "https://hooks.example/hook",
        "https://hooks.example:8443/hook",
        "https://[2606:4700::1111]/hook",
    ],
)
def test_public_https_is_allowed(url: str) -> None:
    _policy(answers={"hooks.example": [PUBLIC]}).check(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"http://{PUBLIC}/hook", "https"),
        ("https://10.1.2.3/hook", "public"),
        ("https://172.16.0.1/hook", "public"),
        ("https://192.168.1.1/hook", "public"),
        ("https://100.64.0.1/hook", "public"),  # carrier-grade NAT, shared space
        ("https://169.254.169.254/hook", "public"),  # cloud metadata
        ("https://0.0.0.0/hook", "public"),
        ("https://[::1]/hook", "public"),
        ("https://[fd00::1]/hook", "public"),
        ("https://[::ffff:127.0.0.1]/hook", "public"),
        ("https://224.0.0.1/hook", "public"),
        ("https://inside.example/hook", "public"),  # a name that resolves inside
        ("https://mixed.example/hook", "public"),  # one inside answer is enough
        ("https://nowhere.example/hook", "does not resolve"),
        (f"https://user@{PUBLIC}/hook", "credentials"),
        ("https:///hook", "https"),
        ("https://[::1/hook", "cannot be parsed"),
        ("file:///etc/passwd", "https"),
    ],
)
def test_refused(url: str, reason: str) -> None:
    policy = _policy(
        answers={"inside.example": ["10.0.0.5"], "mixed.example": [PUBLIC, "127.0.0.1"]}
    )
    with pytest.raises(CallbackRefused, match=reason):
        policy.check(url)


def test_operator_allow_list_admits_internal_hosts_and_networks() -> None:
    policy = _policy("hooks.intranet", "10.20.0.0/16", answers={"named.intranet": ["10.20.3.4"]})
    policy.check("http://hooks.intranet/hook")  # listed name, http allowed there
    policy.check("http://10.20.1.1:8080/hook")  # inside a listed network
    policy.check("https://named.intranet/hook")  # resolves into a listed network
    with pytest.raises(CallbackRefused):
        policy.check("https://10.21.0.1/hook")
    policy.check("http://named.intranet/hook")  # every address in a listed network
    half = _policy("10.20.0.0/16", answers={"half.intranet": ["10.20.3.4", PUBLIC]})
    with pytest.raises(CallbackRefused, match="https"):
        half.check("http://half.intranet/hook")  # one address outside: https only


def test_check_returns_the_addresses_to_connect_to() -> None:
    policy = _policy("hooks.intranet", answers={"hooks.example": [PUBLIC]})
    assert [str(a) for a in policy.check("https://hooks.example/x")] == [PUBLIC]
    assert [str(a) for a in policy.check(f"https://{PUBLIC}/x")] == [PUBLIC]
    assert policy.check("http://hooks.intranet/x") == []  # listed by name: resolved as usual


def test_pinned_request_keeps_host_and_tls_name() -> None:
    import ipaddress

    v4, v6 = ipaddress.ip_address(PUBLIC), ipaddress.ip_address("2606:4700::1111")
    url, headers, ext = pinned_request("https://hooks.example:8443/a/b?x=1", [v4])
    assert url == f"https://{PUBLIC}:8443/a/b?x=1"
    assert headers == {"Host": "hooks.example:8443"}
    assert ext == {"sni_hostname": "hooks.example"}
    url, headers, _ = pinned_request("https://hooks.example/a", [v6])
    assert url == "https://[2606:4700::1111]/a" and headers == {"Host": "hooks.example"}
    assert pinned_request(f"https://{PUBLIC}/a", [v4]) == (f"https://{PUBLIC}/a", {}, {})
    assert pinned_request("http://hooks.intranet/a", []) == ("http://hooks.intranet/a", {}, {})
