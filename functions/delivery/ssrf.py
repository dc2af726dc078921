"""Which webhook URLs hookstack may call: the SSRF guard (pure; DNS through an injectable resolver).

A tenant chooses the URL, and hookstack's Lambda calls it from inside AWS, so a URL must never reach
anything that is not a public address: the instance/task metadata services, loopback, the VPC,
link-local, multicast... The guard runs twice: when an endpoint is created or updated (a clear 400
for the tenant) and again before every attempt, because DNS can change between the two (DNS
rebinding). At delivery time the connection is then made to the vetted address itself, never to the
name again (:mod:`functions.delivery.sender`), so a rebind between check and connect cannot slip in.

Rules, in order:

1. The URL: ``https`` (``http`` only to loopback addresses that ``allowed_cidrs`` exempts, for the
   local sandbox), no credentials, no fragments-as-hosts tricks (whitespace, control characters,
   backslashes), port 443, 80 or 1024-65535.
2. The host: IPv4 literals only as canonical dotted quads (``2130706433``, ``0177.0.0.1``,
   ``0x7f.1`` and ``127.1`` are refused: resolvers read them as 127.0.0.1); IPv6 literals without a
   zone id; names fully qualified (no single-label names such as ``metadata``, which resolver search
   domains can turn into internal hosts) and not under ``localhost``, ``local``, ``internal``
   (``metadata.google.internal``, ``*.ec2.internal``), ``localdomain``, ``home.arpa`` or ``arpa``.
3. Every address the name resolves to (not just the first) must be public: see
   :func:`address_problem`. IPv4 addresses against the IANA special-purpose registry; IPv6 ones must
   be global unicast (2000::/3) outside the special-purpose ranges (documentation 2001:db8::/32 and
   3fff::/20, IETF assignments 2001::/23...). Every IPv6 form that carries an IPv4 address
   (:data:`EMBEDDINGS`) is refused unless that IPv4 address is allowed: the forms routed to it
   (IPv4-mapped, NAT64 64:ff9b::/96, 6to4) when it is public or exempt, the forms not routed on the
   Internet (IPv4-translated, IPv4-compatible, Teredo) only when ``allowed_cidrs`` exempts it.

``allowed_cidrs`` (``hookstack:delivery.allowedCidrs``) exempts networks: an address inside one is
accepted, and so is a blocked name whose every address is inside one. It is empty by default.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

MAX_URL_CHARS = 2048
ALLOWED_LOW_PORTS = frozenset({80, 443})
MIN_HIGH_PORT = 1024
# What the local sandbox exempts (its receivers listen on loopback); never exempt when deployed.
LOOPBACK_CIDRS = ("127.0.0.0/8", "::1/128")
BLOCKED_NAME_SUFFIXES = ("localhost", "local", "internal", "localdomain", "home.arpa", "arpa")

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# Specific addresses first so the error names what the address is.
_BLOCKED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("169.254.169.254/32"), "the cloud instance metadata service"),
    (_V4("169.254.170.2/32"), "the container metadata service"),
    (_V4("100.100.100.200/32"), "a cloud metadata service"),
    (_V4("192.0.0.192/32"), "a cloud metadata service"),
    (_V4("0.0.0.0/8"), "an unspecified ('this network') address"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("100.64.0.0/10"), "a shared (carrier-grade NAT) address"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.0.0.0/24"), "an IETF protocol assignment"),
    (_V4("192.0.2.0/24"), "a documentation address"),
    (_V4("192.88.99.0/24"), "a 6to4 relay address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("198.18.0.0/15"), "a benchmarking address"),
    (_V4("198.51.100.0/24"), "a documentation address"),
    (_V4("203.0.113.0/24"), "a documentation address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("240.0.0.0/4"), "a reserved or broadcast address"),
)
_BLOCKED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("fd00:ec2::254/128"), "the cloud instance metadata service"),
    (_V6("::/128"), "the unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("100::/64"), "a discard-only address"),
    (_V6("100:0:0:1::/64"), "a dummy-prefix address (RFC 9780)"),
    (_V6("2001:db8::/32"), "a documentation address"),
    (_V6("2001::/23"), "an IETF protocol assignment"),
    (_V6("3fff::/20"), "a documentation address (RFC 9637)"),
    (_V6("5f00::/16"), "a segment-routing (SRv6) SID (RFC 9602)"),
    (_V6("fc00::/7"), "a unique-local (private) address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address"),
    (_V6("ff00::/8"), "a multicast address"),
)
# IANA allocates global unicast from 2000::/3 only; everything else is reserved, special or local.
# The one exception that is routed on the Internet is the NAT64 well-known prefix (an embedding).
_GLOBAL_UNICAST = _V6("2000::/3")


@dataclass(frozen=True)
class Embedding:
    """An IPv6 form that carries an IPv4 address."""

    network: ipaddress.IPv6Network
    name: str
    routed: bool
    """True when the form reaches its IPv4 address across the Internet (a dual-stack socket, a NAT64
    gateway, a 6to4 relay): the address is then judged as that IPv4 address. False when it is not
    routed on the Internet at all: refused unless ``allowed_cidrs`` lists the IPv4 address (a network
    of yours translates it)."""


_IPV4_MAPPED = Embedding(_V6("::ffff:0:0/96"), "IPv4-mapped", True)
# Every form with a fixed place for the IPv4 address (RFC 4291, 2765, 6052, 8215, 3056, 4380).
# ISATAP (::5efe:a.b.c.d interface ids) and 6rd are not here: their IPv4 address sits behind an
# ordinary global prefix that routes to that operator's site, never into ours, and the prefix alone
# cannot tell them from any other host.
EMBEDDINGS: tuple[Embedding, ...] = (
    _IPV4_MAPPED,
    Embedding(_V6("::ffff:0:0:0/96"), "IPv4-translated (RFC 2765)", False),
    Embedding(_V6("::/96"), "IPv4-compatible (deprecated)", False),
    Embedding(_V6("64:ff9b::/96"), "NAT64", True),
    Embedding(_V6("64:ff9b:1::/48"), "local-use NAT64 (RFC 8215)", False),
    Embedding(_V6("2002::/16"), "6to4", True),
    Embedding(_V6("2001::/32"), "Teredo tunnel", False),
)
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_CANONICAL_V4 = re.compile(r"^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class UnsafeUrl(ValueError):
    """The URL may not be called; the message says why (and never contains a secret)."""


class Unresolvable(UnsafeUrl):
    """The host did not resolve (possibly for now: DNS failures are retried at delivery time)."""


@dataclass(frozen=True)
class Target:
    """A URL that passed the static checks."""

    url: str
    scheme: str
    host: str
    """Lower-case ASCII host name, or the IP literal (IPv6 without brackets)."""
    port: int
    request_target: str
    """Path and query as sent on the request line (``/`` when the URL has no path)."""
    literal: IPAddress | None
    name_problem: str | None
    """Why the name alone is suspect (``localhost``...); overridden when every address is allowed."""

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if isinstance(self.literal, ipaddress.IPv6Address) else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``allowed_cidrs`` as networks; raises ``ValueError`` naming a bad entry."""
    networks: list[IPNetwork] = []
    for cidr in cidrs:
        text = cidr.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"allowed CIDR {text!r} is not a network like 10.0.0.0/8") from None
    return tuple(networks)


def address_problem(address: IPAddress, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why ``address`` may not be called, or ``None`` when it is public (or explicitly allowed)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:a.b.c.d is the IPv4 host itself on a dual-stack socket.
        return address_problem(address.ipv4_mapped, allowed)
    if _allowed(address, allowed):
        return None
    if isinstance(address, ipaddress.IPv4Address):
        for network, reason in _BLOCKED_V4:
            if address in network:
                return f"{address} is {reason}"
    else:
        for network6, reason in _BLOCKED_V6[:3]:  # the unspecified and loopback addresses lie in ::/96
            if address in network6:
                return f"{address} is {reason}"
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return _embedding_problem(address, *embedded, allowed)
        for network6, reason in _BLOCKED_V6[3:]:
            if address in network6:
                return f"{address} is {reason}"
        if address not in _GLOBAL_UNICAST:
            return f"{address} is outside the global unicast range 2000::/3 (reserved by the IETF)"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[Embedding, ipaddress.IPv4Address | None] | None:
    """The embedding ``address`` uses and the IPv4 address it carries (``None`` when the position
    depends on the operator: local-use NAT64 prefixes may be /48 to /96), or ``None`` for none."""
    for embedding in EMBEDDINGS:
        if address not in embedding.network:
            continue
        value = int(address)
        if embedding.network.prefixlen == 96:
            return embedding, ipaddress.IPv4Address(value & 0xFFFFFFFF)
        if embedding.network.prefixlen == 16:  # 6to4: 2002:AABB:CCDD::/48
            return embedding, ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF)
        if embedding.name.startswith("Teredo"):  # the client's address, bits inverted (RFC 4380)
            return embedding, ipaddress.IPv4Address(~value & 0xFFFFFFFF)
        return embedding, None
    return None


def _embedding_problem(
    address: ipaddress.IPv6Address, embedding: Embedding, ipv4: ipaddress.IPv4Address | None, allowed: Sequence[IPNetwork]
) -> str | None:
    inner = address_problem(ipv4, allowed) if ipv4 is not None else None
    if inner is not None:
        return f"{address} embeds a refused IPv4 address ({embedding.name}: {inner})"
    if embedding.routed:
        return None
    if ipv4 is not None and _allowed(ipv4, allowed):
        return None
    carried = f"it carries {ipv4}" if ipv4 is not None else "the IPv4 address it carries depends on the operator's prefix"
    article = "an" if embedding.name[0] in "AEIOU" else "a"
    return f"{address} is {article} {embedding.name} address, not routed on the Internet ({carried})"


def parse_url(url: str, allowed: Sequence[IPNetwork] = ()) -> Target:
    """Static checks (no DNS); raises :class:`UnsafeUrl`."""
    if not isinstance(url, str) or not url:
        raise UnsafeUrl("must be a URL string")
    if len(url) > MAX_URL_CHARS:
        raise UnsafeUrl(f"must be at most {MAX_URL_CHARS} characters")
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url) or "\\" in url:
        raise UnsafeUrl("must not contain whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeUrl(f"is not a valid URL ({error})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UnsafeUrl(f"must be an https:// URL, got scheme {parts.scheme!r}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("must not carry credentials (user:password@)")
    if parts.fragment:
        raise UnsafeUrl("must not have a #fragment")
    raw_host = parts.hostname
    if not raw_host:
        raise UnsafeUrl("must name a host")
    port = port if port is not None else (443 if scheme == "https" else 80)
    if port not in ALLOWED_LOW_PORTS and port < MIN_HIGH_PORT:
        raise UnsafeUrl(f"port {port} is not allowed (use 443 or a port from {MIN_HIGH_PORT} to 65535)")
    host, literal = _host(raw_host, parts.netloc)
    name_problem = None
    if literal is not None:
        problem = address_problem(literal, allowed)
        if problem:
            raise UnsafeUrl(f"host {problem}")
    else:
        name_problem = _name_problem(host)
        if name_problem and not allowed:
            raise UnsafeUrl(name_problem)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return Target(
        url=url, scheme=scheme, host=host, port=port, request_target=target, literal=literal, name_problem=name_problem
    )


def resolve(target: Target, allowed: Sequence[IPNetwork] = (), resolver: Resolver | None = None) -> list[IPAddress]:
    """Every address of ``target``'s host, all vetted; raises :class:`UnsafeUrl` if any is not allowed.

    Refusing the whole name when one of its addresses is private (rather than picking a public one)
    keeps the rule simple to explain and closes "public + private A record" tricks.
    """
    if target.literal is not None:
        addresses: list[IPAddress] = [target.literal]
    else:
        lookup = resolver or socket.getaddrinfo
        try:
            infos = lookup(target.host, target.port, 0, socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError) as error:
            raise Unresolvable(f"host {target.host!r} does not resolve ({error})") from None
        addresses = []
        for info in infos:
            text = str(info[4][0]).split("%", 1)[0]
            address = ipaddress.ip_address(text)
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise Unresolvable(f"host {target.host!r} has no address")
    problems = [p for p in (address_problem(a, allowed) for a in addresses) if p]
    if problems:
        raise UnsafeUrl(f"host {target.host!r} resolves to a refused address: {problems[0]}")
    if target.name_problem and not all(_allowed(a, allowed) for a in addresses):
        raise UnsafeUrl(target.name_problem)
    if target.scheme == "http" and not all(a.is_loopback and _allowed(a, allowed) for a in addresses):
        raise UnsafeUrl("must be an https:// URL (http:// is only for loopback receivers that allowedCidrs exempts)")
    return addresses


def check_url(url: str, allowed: Sequence[IPNetwork] = (), resolver: Resolver | None = None) -> tuple[Target, list[IPAddress]]:
    """Both checks at once: the parsed URL and its vetted addresses."""
    target = parse_url(url, allowed)
    return target, resolve(target, allowed, resolver)


# -- helpers ------------------------------------------------------------------------------------


def _allowed(address: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in allowed)


def _host(raw_host: str, netloc: str) -> tuple[str, IPAddress | None]:
    """Normalise the host; return it and its IP literal when it is one."""
    if "[" in netloc:
        if "%" in raw_host:
            raise UnsafeUrl("IPv6 zone ids (fe80::1%eth0) are not allowed")
        try:
            address = ipaddress.IPv6Address(raw_host)
        except ValueError:
            raise UnsafeUrl(f"{raw_host!r} is not a valid IPv6 address") from None
        return str(address), address
    host = raw_host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host or ".." in host:
        raise UnsafeUrl("must name a host")
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        # Resolvers (inet_aton) and browsers read a host ending in a number as IPv4, including the
        # decimal, octal, hex and shortened forms; only the canonical a.b.c.d form is accepted.
        if not _CANONICAL_V4.match(host):
            raise UnsafeUrl(f"{raw_host!r} is a numeric host in a non-canonical form; write IPv4 as a.b.c.d")
        return host, ipaddress.IPv4Address(host)
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UnsafeUrl(f"{raw_host!r} is not a valid host name") from None
        labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise UnsafeUrl(f"{raw_host!r} is not a valid host name")
    return host, None


def _name_problem(host: str) -> str | None:
    for suffix in BLOCKED_NAME_SUFFIXES:
        if host == suffix or host.endswith("." + suffix):
            return f"host {host!r} is an internal name (.{suffix})"
    if "." not in host:
        return f"host {host!r} must be a fully qualified domain name"
    return None
