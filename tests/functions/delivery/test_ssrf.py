"""The SSRF guard: hostile URLs are refused, public ones accepted, and nothing is ever connected to.

DNS is a fake resolver (a table), so these tests send no packet anywhere.
"""

from __future__ import annotations

import ipaddress
import re
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
    # names resolving to IPv6 forms that carry a refused IPv4 address, or to special IPv6 ranges
    "translated.example.com": ["::ffff:0:a9fe:a9fe"],
    "translated-public.example.com": ["::ffff:0:808:808"],
    "compatible.example.com": ["::a9fe:a9fe"],
    "sixtofour.example.com": ["2002:c0a8:101::1"],
    "nat64-private.example.com": ["64:ff9b::a00:1"],
    "teredo.example.com": ["2001:0:4136:e378:8000:63bf:3fff:fdd2"],
    "doc3fff.example.com": ["3fff::1"],
    "srv6.example.com": ["5f00::1"],
    "dual-translated.example.com": ["93.184.216.34", "::ffff:0:a9fe:a9fe"],
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


# Every IPv6 form that carries an IPv4 address, written the ways a URL can write it, plus the IPv6
# special-purpose ranges Python's is_global calls global (3fff::/20, 5f00::/16, ::ffff:0:0:0/96...).
EMBEDDED = [
    # IPv4-translated ::ffff:0:0:0/96 (RFC 2765): 169.254.169.254 in every spelling
    ("https://[::ffff:0:a9fe:a9fe]/", "metadata"),
    ("https://[::FFFF:0:A9FE:A9FE]/", "metadata"),
    ("https://[::ffff:0:169.254.169.254]/", "metadata"),
    ("https://[0:0:0:0:ffff:0:a9fe:a9fe]/", "metadata"),
    ("https://[0000:0000:0000:0000:ffff:0000:a9fe:a9fe]/", "metadata"),
    ("https://[0::ffff:0:a9fe:a9fe]:8443/", "metadata"),
    ("https://[::ffff:0:a9fe:a9fe%25eth0]/", "zone"),
    ("https://[::ffff:0:7f00:1]/", "loopback"),
    ("https://[::ffff:0:808:808]/", "IPv4-translated"),  # public inside, but not routed on the Internet
    ("https://[::ffff:0:0:0]/", "unspecified"),
    # IPv4-mapped ::ffff:0:0/96, textual variants
    ("https://[::ffff:169.254.169.254]/", "metadata"),
    ("https://[::FFFF:A9FE:A9FE]/", "metadata"),
    ("https://[0:0:0:0:0:ffff:10.0.0.1]/", "private"),
    # IPv4-compatible ::/96 (deprecated)
    ("https://[::169.254.169.254]/", "metadata"),
    ("https://[::808:808]/", "IPv4-compatible"),
    # NAT64 64:ff9b::/96 (RFC 6052) and local-use 64:ff9b:1::/48 (RFC 8215)
    ("https://[64:ff9b::169.254.169.254]/", "metadata"),
    ("https://[64:FF9B::A00:1]/", "private"),
    ("https://[64:ff9b:1::808:808]/", "local-use NAT64"),
    ("https://[64:ff9b:1:ffff::a9fe:a9fe]/", "local-use NAT64"),
    # 6to4 2002::/16: the IPv4 address is bits 16-48
    ("https://[2002:c0a8:101::1]/", "192.168.1.1"),
    ("https://[2002:6440:1::]/", "carrier-grade"),
    ("https://[2002:a9fe:a9fe:ffff:ffff:ffff:ffff:ffff]/", "metadata"),
    # Teredo 2001::/32: the client address is inverted in the last 32 bits
    ("https://[2001:0:4136:e378:8000:63bf:5601:5601]/", "metadata"),  # ~5601:5601 = a9fe:a9fe
    ("https://[2001::ffff:ffff]/", "Teredo"),
    # special-purpose ranges
    ("https://[3fff::1]/", "documentation"),
    ("https://[3FFF:FFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF]/", "documentation"),
    ("https://[5f00::1]/", "SRv6"),
    ("https://[100::1]/", "discard"),
    ("https://[100:0:0:1::1]/", "dummy"),
    ("https://[2001:2::1]/", "IETF"),
    ("https://[fec0::1]/", "site-local"),
    ("https://[4000::1]/", "2000::/3"),
    ("https://[::2]/", "unspecified"),
    # names resolving to them (the DNS answer is checked, not just literals)
    ("https://translated.example.com/", "metadata"),
    ("https://translated-public.example.com/", "not routed"),
    ("https://compatible.example.com/", "metadata"),
    ("https://sixtofour.example.com/", "private"),
    ("https://nat64-private.example.com/", "private"),
    ("https://teredo.example.com/", "Teredo"),
    ("https://doc3fff.example.com/", "documentation"),
    ("https://srv6.example.com/", "SRv6"),
    ("https://dual-translated.example.com/", "metadata"),
]


@pytest.mark.parametrize(("url", "reason"), EMBEDDED, ids=[u for u, _ in EMBEDDED])
def test_ipv6_forms_carrying_ipv4_and_special_ranges_are_refused(url: str, reason: str) -> None:
    with pytest.raises(ssrf.UnsafeUrl) as caught:
        ssrf.check_url(url, (), FakeResolver())
    assert reason.lower() in str(caught.value).lower()


# Non-global ranges of the IANA IPv4 and IPv6 special-purpose registries (and the address-space
# registries: multicast, 240/4, IPv6 outside 2000::/3); first and last address of each are refused.
IANA_NOT_GLOBAL = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "::ffff:0:0:0/96",
    "::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "100:0:0:1::/64",
    "2001::/23",
    "2001::/32",
    "2001:2::/48",
    "2001:10::/28",
    "2001:db8::/32",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
    "::/3",
    "4000::/2",
    "8000::/2",
    "c000::/3",
    "e000::/4",
    "f000::/5",
    "f800::/6",
    "fe00::/9",
]


@pytest.mark.parametrize("cidr", IANA_NOT_GLOBAL)
def test_every_non_global_special_purpose_range_is_refused(cidr: str) -> None:
    network = ipaddress.ip_network(cidr)
    for address in (network[0], network[-1]):
        assert ssrf.address_problem(address) is not None, address


def test_public_ipv4_behind_a_routed_embedding_is_accepted_and_exemptions_reach_the_carried_address() -> None:
    for text in ("::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"):
        assert ssrf.address_problem(ipaddress.ip_address(text)) is None, text
    # Not routed on the Internet: only an allowedCidrs entry for the IPv4 address it carries lets it through.
    loopback = ssrf.parse_networks(["127.0.0.0/8"])
    assert ssrf.address_problem(ipaddress.ip_address("::ffff:0:7f00:1"), loopback) is None
    assert ssrf.address_problem(ipaddress.ip_address("::7f00:1"), loopback) is None
    assert ssrf.address_problem(ipaddress.ip_address("::ffff:0:a00:1"), loopback) is not None
    # An exemption of the IPv4 network never opens the same address through a routed embedding's
    # refusal of another network (10.0.0.1 stays refused behind NAT64).
    assert ssrf.address_problem(ipaddress.ip_address("64:ff9b::a00:1"), loopback) is not None


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
        "hooks.example.com",
        8443,
        "/a/b?c=1",
        "hooks.example.com:8443",
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
    for text in ("2002:7f00:1::", "192.0.0.192", "224.0.1.1", "::7f00:1", "::ffff:0:a9fe:a9fe", "3fff::1", "5f00::1"):
        address = ipaddress.ip_address(text)
        assert address.is_global
        assert ssrf.address_problem(address) is not None


def test_bad_allowed_cidr_names_the_entry() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/33"):
        ssrf.parse_networks(["127.0.0.0/8", "10.0.0.0/33"])


# -- IP literals written in Unicode: mapped as the resolver maps them, then classified (review 10, 12) --

UNICODE_LITERALS = [
    ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "loopback"),  # fullwidth digits
    ("https://169\u3002254\u3002169\u3002254/", "metadata"),  # ideographic full stops
    ("https://169\uff0e254\uff0e169\uff0e254/latest", "metadata"),  # fullwidth full stops
    ("https://169\uff61254\uff61169\uff61254/", "metadata"),  # halfwidth ideographic full stops
    ("https://\u2460\u2461\u2466.0.0.1/", "loopback"),  # circled digits (NFKC)
    ("https://10\u30020\u30020\u30021:8443/", "private"),
    ("https://\uff10\uff58\uff17\uff46.\uff11/", "non-canonical"),  # fullwidth 0x7f.1
    ("https://2130706433\u3002/", "non-canonical"),
]


@pytest.mark.parametrize(
    ("url", "reason"), UNICODE_LITERALS, ids=[u.encode("unicode_escape").decode() for u, _ in UNICODE_LITERALS]
)
def test_an_ip_literal_in_unicode_is_classified_as_the_address_it_maps_to(url: str, reason: str) -> None:
    with pytest.raises(ssrf.UnsafeUrl) as caught:
        ssrf.parse_url(url)  # the static check the API and the config run, before any DNS
    assert reason in str(caught.value)
    resolver = FakeResolver()
    with pytest.raises(ssrf.UnsafeUrl, match=reason):
        ssrf.check_url(url, (), resolver)
    assert resolver.calls == []


def test_an_exempt_ip_literal_in_unicode_is_still_refused_for_not_being_ascii() -> None:
    with pytest.raises(ssrf.UnsendableUrl, match=r"https://127\.0\.0\.1:8443/"):
        ssrf.parse_url(
            "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11:8443/", ssrf.parse_networks(ssrf.LOOPBACK_CIDRS)
        )


# -- URLs that are not ASCII: refused, with their ASCII spelling (review 10, 3) --

NOT_ASCII = [
    ("https://hooks.example.com/caf\u00e9", "https://hooks.example.com/caf%C3%A9"),
    ("https://hooks.example.com/x?q=\u00fc&r=1", "https://hooks.example.com/x?q=%C3%BC&r=1"),
    ("https://hooks.example.com/\u2028", "https://hooks.example.com/%E2%80%A8"),
    ("https://hooks.example.com/a%20b/\u00a0", "https://hooks.example.com/a%20b/%C2%A0"),
    ("https://b\u00fccher.example.com:8443/h", "https://xn--bcher-kva.example.com:8443/h"),
    ("https://HOOKS.EXAMPLE.COM/\U0001f600", "https://hooks.example.com/%F0%9F%98%80"),
]


@pytest.mark.parametrize(("url", "spelled"), NOT_ASCII, ids=[u.encode("unicode_escape").decode() for u, _ in NOT_ASCII])
def test_a_url_that_is_not_ascii_is_refused_with_its_ascii_spelling(url: str, spelled: str) -> None:
    resolver = FakeResolver({"hooks.example.com": ["93.184.216.34"], "xn--bcher-kva.example.com": ["93.184.216.34"]})
    with pytest.raises(ssrf.UnsendableUrl) as caught:
        ssrf.check_url(url, (), resolver)
    message = str(caught.value)
    assert message.startswith("must be ASCII") and message.endswith(f": {spelled})")
    assert resolver.calls == []  # refused before any DNS lookup
    target, _ = ssrf.check_url(spelled, (), resolver)  # the spelling offered is itself accepted
    assert target.url == spelled


def test_a_url_with_a_lone_surrogate_is_refused_without_a_spelling() -> None:
    with pytest.raises(ssrf.UnsendableUrl) as caught:
        ssrf.parse_url("https://hooks.example.com/\ud800")
    assert "'\\ud800' at position 26" in str(caught.value) and "https://" not in str(caught.value)
    assert ssrf.ascii_problem("https://hooks.example.com/plain%C3%A9") is None


# -- IPv6 forms carrying an IPv4 address are judged by that IPv4 address only (review 10, 4) --


def _forms(ipv4: str) -> dict[str, ipaddress.IPv6Address]:
    """``ipv4`` written in every IPv6 form that carries it at a fixed place."""
    value = int(ipaddress.IPv4Address(ipv4))
    return {
        "IPv4-mapped": ipaddress.IPv6Address((0xFFFF << 32) | value),
        "IPv4-translated": ipaddress.IPv6Address((0xFFFF << 48) | value),
        "IPv4-compatible": ipaddress.IPv6Address(value),
        "NAT64": ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | value),
        "6to4": ipaddress.IPv6Address(int(ipaddress.IPv6Address("2002::1")) | (value << 80)),
        "Teredo": ipaddress.IPv6Address(
            int(ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf::")) | (~value & 0xFFFFFFFF)
        ),
    }


def test_the_forms_helper_builds_what_the_guard_reads() -> None:
    for name, address in _forms("169.254.169.254").items():
        found = ssrf.embedded_ipv4(address)
        assert (
            found is not None
            and found[1] == ipaddress.IPv4Address("169.254.169.254")
            and found[0].name.startswith(name)
        )


# Networks built directly: the guard holds whatever reaches it (the config and settings refuse these).
BROAD_V6 = [
    "::/0",
    "::/3",
    "2000::/3",
    "64:ff9b::/96",
    "2002::/16",
    "2001::/32",
    "::/96",
    "::ffff:0:0/96",
    "::ffff:0:0:0/96",
]


@pytest.mark.parametrize("entry", BROAD_V6)
@pytest.mark.parametrize("ipv4", ["169.254.169.254", "10.0.0.1", "127.0.0.1", "100.64.0.1", "8.8.8.8"])
def test_an_ipv6_entry_never_changes_the_verdict_on_an_ipv4_carrying_form(entry: str, ipv4: str) -> None:
    allowed = (ipaddress.ip_network(entry),)
    for name, address in _forms(ipv4).items():
        assert ssrf.address_problem(address, allowed) == ssrf.address_problem(address), (name, address)
        if ipv4 != "8.8.8.8":
            assert ssrf.address_problem(address, allowed) is not None, (name, address)
    # The review's cases, through DNS as the worker sees them.
    if ipv4 == "169.254.169.254":
        for address in _forms(ipv4).values():
            with pytest.raises(ssrf.UnsafeUrl, match="metadata"):
                ssrf.check_url(
                    "https://hooks.example.com/", allowed, FakeResolver({"hooks.example.com": [str(address)]})
                )


def test_an_ipv4_entry_exempts_its_addresses_in_every_form_and_the_metadata_services_never() -> None:
    allowed = ssrf.parse_networks(["10.0.0.0/8", "169.254.0.0/16"])
    for name, address in _forms("10.1.2.3").items():
        assert ssrf.address_problem(address, allowed) is None, name
    for name, address in _forms("169.254.1.1").items():
        assert ssrf.address_problem(address, allowed) is None, name
    for ipv4 in ("169.254.169.254", "169.254.170.2"):
        assert "metadata" in (ssrf.address_problem(ipaddress.ip_address(ipv4), allowed) or "")
        for name, address in _forms(ipv4).items():
            assert "metadata" in (ssrf.address_problem(address, allowed) or ""), name
    assert "metadata" in (
        ssrf.address_problem(ipaddress.ip_address("fd00:ec2::254"), ssrf.parse_networks(["fd00::/8"])) or ""
    )


def test_local_use_nat64_is_exempt_only_inside_an_entry_within_its_prefix() -> None:
    address = ipaddress.ip_address("64:ff9b:1:abcd::a00:1")
    assert ssrf.address_problem(address, (ipaddress.ip_network("::/0"),)) is not None
    assert ssrf.address_problem(address, ssrf.parse_networks(["10.0.0.0/8"])) is not None
    assert ssrf.address_problem(address, ssrf.parse_networks(["64:ff9b:1:abcd::/96"])) is None
    assert (
        ssrf.address_problem(
            ipaddress.ip_address("64:ff9b:1:ffff::a00:1"), ssrf.parse_networks(["64:ff9b:1:abcd::/96"])
        )
        is not None
    )


def test_a_blocked_name_is_exempt_only_when_the_ipv4_its_addresses_carry_is() -> None:
    resolver = FakeResolver({"hooks.internal": ["64:ff9b::808:808"], "vpc.internal": ["::ffff:0:a00:1", "10.0.0.2"]})
    with pytest.raises(ssrf.UnsafeUrl, match="internal name"):
        ssrf.check_url("https://hooks.internal/", (ipaddress.ip_network("::/0"),), resolver)
    ssrf.check_url("https://vpc.internal/", ssrf.parse_networks(["10.0.0.0/8"]), resolver)


REFUSED_ENTRIES = [
    ("0.0.0.0/0", "covers public addresses"),
    ("::/0", "covers public addresses"),
    ("2000::/3", "covers public addresses"),
    ("8.8.8.0/24", "covers public addresses"),
    ("192.168.0.0/15", "covers public addresses"),
    ("64:ff9b::/96", "NAT64 range 64:ff9b::/96"),
    ("64:ff9b::a9fe:0/112", "NAT64 range"),
    ("2002:a9fe::/32", "6to4 range"),
    ("2001::/23", "Teredo"),
    ("::/96", "IPv4-compatible"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("::ffff:0:0:0/96", "IPv4-translated"),
]


@pytest.mark.parametrize(("entry", "reason"), REFUSED_ENTRIES)
def test_an_allowed_cidrs_entry_covering_public_addresses_or_an_ipv4_carrying_form_is_refused(
    entry: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=f"allowed CIDR '{re.escape(entry)}' .*{re.escape(reason)}"):
        ssrf.parse_networks(["10.0.0.0/8", entry])


def test_allowed_cidrs_entries_inside_refused_ranges_are_accepted() -> None:
    entries = [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/3",
        "::1/128",
        "::/128",
        "fd00::/8",
        "fe80::/10",
        "2001:2::/48",
        "64:ff9b:1::/48",
        "64:ff9b:1:abcd::/96",
    ]
    assert [str(n) for n in ssrf.parse_networks(entries)] == entries
