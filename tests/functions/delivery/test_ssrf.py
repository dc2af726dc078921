"""The SSRF guard: hostile URLs are refused, public ones accepted, and nothing is ever connected to.

DNS is a fake resolver (a table), so these tests send no packet anywhere.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from functions.delivery import ssrf

FAKE_DNS = {
    "hooks.example.com": ["93.184.216.34"],
    "v6.example.com": ["2606:4700:4700::1111"],
    "dual.example.com": ["93.184.216.34", "2606:4700:4700::1111"],
    "internal.example.com": ["10.1.2.3"],
    "rebind.example.com": ["93.184.216.34", "127.0.0.1"],
    "metadata.example.com": ["169.254.169.254"],
    "ula.example.com": ["fd00:ec2::254"],
    "mapped.example.com": ["::ffff:10.0.0.1"],
    "nat64.example.com": ["64:ff9b::a9fe:a9fe"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "cgnat.example.com": ["100.64.0.7"],
    "localhost.example.com": ["127.0.0.1"],
}


class FakeResolver:
    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = FAKE_DNS if table is None else table
        self.calls: list[str] = []

    def __call__(self, host: str, port: int, family: int = 0, kind: int = 0, *args: object) -> list[tuple]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for address in self.table[host]:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
            out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return out


HOSTILE = [
    # IPv4 literals, plain and in the forms resolvers (inet_aton) also accept
    ("https://127.0.0.1/hook", "loopback"),
    ("https://2130706433/", "non-canonical"),
    ("https://0177.0.0.1/", "non-canonical"),
    ("https://0x7f.0.0.1/", "non-canonical"),
    ("https://0x7f000001/", "non-canonical"),
    ("https://127.1/", "non-canonical"),
    ("https://017700000001/", "non-canonical"),
    ("https://0/", "non-canonical"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://10.0.0.1/", "private"),
    ("https://172.16.0.1/", "private"),
    ("https://172.31.255.255/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://100.64.0.1/", "carrier-grade"),
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("https://169.254.170.2/v2/credentials", "metadata"),
    ("https://100.100.100.200/", "metadata"),
    ("https://192.0.0.192/", "metadata"),
    ("https://169.254.1.1/", "link-local"),
    ("https://224.0.0.1/", "multicast"),
    ("https://239.255.255.250/", "multicast"),
    ("https://255.255.255.255/", "broadcast"),
    ("https://240.0.0.1/", "reserved"),
    ("https://198.18.0.1/", "benchmarking"),
    ("https://192.0.2.10/", "documentation"),
    # IPv6 literals and IPv4 embedded in IPv6
    ("https://[::1]/", "loopback"),
    ("https://[::]/", "unspecified"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://[::ffff:7f00:1]/", "loopback"),
    ("https://[0:0:0:0:0:ffff:169.254.169.254]/", "metadata"),
    ("https://[::127.0.0.1]/", "IPv4-compatible"),
    ("https://[2002:7f00:1::]/", "embeds"),
    ("https://[2002:a9fe:a9fe::1]/", "embeds"),
    ("https://[64:ff9b::a9fe:a9fe]/", "embeds"),
    ("https://[64:ff9b:1::1]/", "NAT64"),
    ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[fe80::1%25eth0]/", "zone"),
    ("https://[fd00:ec2::254]/", "metadata"),
    ("https://[fc00::1]/", "unique-local"),
    ("https://[ff02::1]/", "multicast"),
    ("https://[2001:db8::1]/", "documentation"),
    # names
    ("https://localhost/", "internal name"),
    ("https://LOCALHOST./", "internal name"),
    ("https://api.localhost/", "internal name"),
    ("https://metadata.google.internal/computeMetadata/v1/", "internal name"),
    ("https://ip-10-0-0-1.ec2.internal/", "internal name"),
    ("https://printer.local/", "internal name"),
    ("https://router.home.arpa/", "internal name"),
    ("https://1.0.0.127.in-addr.arpa/", "internal name"),
    ("https://metadata/", "fully qualified"),
    ("https://instance-data/", "fully qualified"),
    ("https://internal.example.com/", "private"),
    ("https://rebind.example.com/", "loopback"),
    ("https://metadata.example.com/", "metadata"),
    ("https://ula.example.com/", "metadata"),
    ("https://mapped.example.com/", "private"),
    ("https://nat64.example.com/", "embeds"),
    ("https://127.0.0.1.nip.io/", "loopback"),
    ("https://cgnat.example.com/", "carrier-grade"),
    ("https://unknown.example.com/", "does not resolve"),
    # URL tricks
    ("http://hooks.example.com/", "https"),
    ("ftp://hooks.example.com/", "https"),
    ("file:///etc/passwd", "https"),
    ("https://user:pass@hooks.example.com/", "credentials"),
    ("https://hooks.example.com@127.0.0.1/", "credentials"),
    ("https://hooks.example.com\\@127.0.0.1/", "backslash"),
    ("https://hooks.example.com:22/", "port"),
    ("https://hooks.example.com:0/", "port"),
    ("https://hooks.example.com /x", "whitespace"),
    ("https://hooks.example.com/\nHost: evil", "whitespace"),
    ("https:///nohost", "host"),
    ("https://exa_mple..com/", "host"),
]


@pytest.mark.parametrize(("url", "reason"), HOSTILE, ids=[u for u, _ in HOSTILE])
def test_hostile_url_is_refused_with_a_reason(url: str, reason: str) -> None:
    resolver = FakeResolver()
    with pytest.raises(ssrf.UnsafeUrl) as caught:
        ssrf.check_url(url, (), resolver)
    assert reason.lower() in str(caught.value).lower()


def test_the_hostile_table_is_at_least_thirty_urls() -> None:
    assert len(HOSTILE) >= 30


PUBLIC = [
    "https://hooks.example.com/webhooks",
    "https://hooks.example.com:8443/webhooks?tenant=1",
    "https://HOOKS.Example.com./x",
    "https://v6.example.com/",
    "https://dual.example.com/",
    "https://8.8.8.8/",
    "https://[2606:4700:4700::1111]/",
    "https://[::ffff:8.8.8.8]/",
    "https://[2002:808:808::1]/",
    "https://[64:ff9b::808:808]/",
]


@pytest.mark.parametrize("url", PUBLIC)
def test_public_url_is_accepted(url: str) -> None:
    target, addresses = ssrf.check_url(url, (), FakeResolver())
    assert addresses and all(ssrf.address_problem(a) is None for a in addresses)
    assert target.scheme == "https"


def test_names_are_normalised_and_the_request_target_kept() -> None:
    target, _ = ssrf.check_url("https://HOOKS.Example.com.:8443/a/b?c=1", (), FakeResolver())
    assert (target.host, target.port, target.request_target, target.host_header) == (
        "hooks.example.com", 8443, "/a/b?c=1", "hooks.example.com:8443"
    )


def test_a_name_with_one_private_address_among_public_ones_is_refused_entirely() -> None:
    with pytest.raises(ssrf.UnsafeUrl, match=r"127\.0\.0\.1"):
        ssrf.check_url("https://rebind.example.com/", (), FakeResolver())


def test_allowed_cidrs_exempt_loopback_and_permit_http_there_only() -> None:
    allowed = ssrf.parse_networks(["127.0.0.0/8"])
    resolver = FakeResolver({"localhost": ["127.0.0.1"], "hooks.example.com": ["93.184.216.34"]})

    ssrf.check_url("http://127.0.0.1:8080/hook", allowed, resolver)
    ssrf.check_url("http://localhost:8080/hook", allowed, resolver)
    ssrf.check_url("https://[::ffff:127.0.0.1]:8443/", allowed, resolver)
    with pytest.raises(ssrf.UnsafeUrl, match="https"):
        ssrf.check_url("http://hooks.example.com/", allowed, resolver)
    with pytest.raises(ssrf.UnsafeUrl, match="private"):
        ssrf.check_url("https://10.0.0.1/", allowed, resolver)
    with pytest.raises(ssrf.UnsafeUrl, match="metadata"):
        ssrf.check_url("https://169.254.169.254/", allowed, resolver)


def test_without_an_allowlist_blocked_names_are_refused_before_any_dns_lookup() -> None:
    resolver = FakeResolver()
    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.check_url("https://localhost.localhost/", (), resolver)
    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.check_url("https://metadata/", (), resolver)
    assert resolver.calls == []


def test_unresolvable_hosts_are_reported_as_such() -> None:
    with pytest.raises(ssrf.Unresolvable):
        ssrf.check_url("https://unknown.example.com/", (), FakeResolver())


def test_is_global_alone_would_let_these_through() -> None:
    # Python's is_global says True for these; the explicit tables must still refuse them.
    for text in ("2002:7f00:1::", "192.0.0.192", "224.0.1.1", "::7f00:1"):
        address = ipaddress.ip_address(text)
        assert address.is_global
        assert ssrf.address_problem(address) is not None


def test_bad_allowed_cidr_names_the_entry() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/33"):
        ssrf.parse_networks(["127.0.0.0/8", "10.0.0.0/33"])
