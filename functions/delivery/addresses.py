"""Which IP addresses a webhook may reach (pure): the address half of the SSRF guard.

:mod:`functions.delivery.ssrf` parses a URL and resolves its host; every address it gets is judged
here. IPv4 addresses against the IANA special-purpose registry; IPv6 ones must be global unicast
(2000::/3) outside the special-purpose ranges (documentation 2001:db8::/32 and 3fff::/20, IETF
assignments 2001::/23...). The metadata services are refused whatever ``allowed_cidrs`` says.

IPv6 forms that carry an IPv4 address (:data:`EMBEDDINGS`) are judged by that IPv4 address, never
by an ``allowed_cidrs`` entry of IPv6: the forms routed to it (IPv4-mapped, NAT64 64:ff9b::/96,
6to4) are accepted when the IPv4 address is public or exempt, the forms not routed on the Internet
(IPv4-translated, IPv4-compatible, Teredo) only when an IPv4 entry of ``allowed_cidrs`` exempts it.
Local-use NAT64 (64:ff9b:1::/48) puts the IPv4 address where the operator's prefix length says, so
it is accepted only inside an entry that lies within 64:ff9b:1::/48 (the operator's own prefix).

``allowed_cidrs`` (``hookstack:delivery.allowedCidrs``) exempts non-public networks: an address
inside one is accepted, and so is a blocked name whose every address is inside one (by the rule
above for IPv4-carrying forms: :func:`exempt`). It is empty by default. An entry must lie inside the
ranges this guard refuses (:func:`allowed_cidr_problem`): one covering public addresses (``0.0.0.0/0``, ``::/0``,
``2000::/3``) exempts nothing public (public needs no exemption) but every refused range it spans,
and one overlapping an IPv4-carrying IPv6 form would have no effect (see above).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from functions.records import record

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# Refused whatever allowed_cidrs says: they hand out the credentials of the machine asking.
_METADATA: tuple[tuple[IPNetwork, str], ...] = (
    (_V4("169.254.169.254/32"), "the cloud instance metadata service"),
    (_V4("169.254.170.2/32"), "the container metadata service"),
    (_V4("100.100.100.200/32"), "a cloud metadata service"),
    (_V4("192.0.0.192/32"), "a cloud metadata service"),
    (_V6("fd00:ec2::254/128"), "the cloud instance metadata service"),
)
_BLOCKED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
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


@record
class Embedding:
    """An IPv6 form that carries an IPv4 address."""

    network: ipaddress.IPv6Network
    name: str
    routed: bool
    """True when the form reaches its IPv4 address across the Internet (a dual-stack socket, a NAT64
    gateway, a 6to4 relay): the address is then judged as that IPv4 address. False when it is not
    routed on the Internet at all: refused unless ``allowed_cidrs`` lists the IPv4 address (a network
    of yours translates it)."""


_LOCAL_NAT64 = _V6("64:ff9b:1::/48")
# Every form with a fixed place for the IPv4 address (RFC 4291, 2765, 6052, 8215, 3056, 4380).
# ISATAP (::5efe:a.b.c.d interface ids) and 6rd are not here: their IPv4 address sits behind an
# ordinary global prefix that routes to that operator's site, never into ours, and the prefix alone
# cannot tell them from any other host.
EMBEDDINGS: tuple[Embedding, ...] = (
    Embedding(_V6("::ffff:0:0/96"), "IPv4-mapped", True),
    Embedding(_V6("::ffff:0:0:0/96"), "IPv4-translated (RFC 2765)", False),
    Embedding(_V6("::/96"), "IPv4-compatible (deprecated)", False),
    Embedding(_V6("64:ff9b::/96"), "NAT64", True),
    Embedding(_LOCAL_NAT64, "local-use NAT64 (RFC 8215)", False),
    Embedding(_V6("2002::/16"), "6to4", True),
    Embedding(_V6("2001::/32"), "Teredo tunnel", False),
)
# Inside ::/96 (IPv4-compatible) but not embeddings: they are judged (and exempted) as themselves.
_NOT_EMBEDDINGS = (_V6("::/128"), _V6("::1/128"))
# What an allowed_cidrs entry may lie in: the ranges the guard refuses (and an operator's local NAT64).
_EXEMPTIBLE: dict[int, list[IPNetwork]] = {
    4: list(ipaddress.collapse_addresses(network for network, _ in _BLOCKED_V4)),
    6: list(ipaddress.collapse_addresses([*(network for network, _ in _BLOCKED_V6), _LOCAL_NAT64])),
}


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``allowed_cidrs`` as networks; raises ``ValueError`` naming a bad entry."""
    networks: list[IPNetwork] = []
    for cidr in cidrs:
        text = cidr.strip()
        if not text:
            continue
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"allowed CIDR {text!r} is not a network like 10.0.0.0/8") from None
        problem = allowed_cidr_problem(network)
        if problem:
            raise ValueError(f"allowed CIDR {text!r} {problem}")
        networks.append(network)
    return tuple(networks)


def allowed_cidr_problem(network: IPNetwork) -> str | None:
    """Why ``network`` may not be an ``allowed_cidrs`` entry, or ``None``.

    An entry must lie inside the ranges the guard refuses: public addresses need no exemption, so an
    entry covering them (``0.0.0.0/0``, ``::/0``, ``2000::/3``) only exempts every refused range it
    spans at once. IPv6 forms carrying an IPv4 address are judged by that address, so an IPv6 entry
    overlapping one of them would not do what it says (the local-use NAT64 prefix is the operator's
    own: an entry inside it is accepted).
    """
    overlapped = [
        embedding
        for embedding in EMBEDDINGS
        if isinstance(network, ipaddress.IPv6Network)
        and network.overlaps(embedding.network)
        and not network.subnet_of(_LOCAL_NAT64)
        and not any(network.subnet_of(n) for n in _NOT_EMBEDDINGS)
    ]
    inside = [embedding for embedding in overlapped if network.subnet_of(embedding.network)]  # type: ignore[arg-type]
    if not inside and not any(network.subnet_of(range_) for range_ in _EXEMPTIBLE[network.version]):  # type: ignore[arg-type]
        return (
            "covers public addresses, which need no exemption: list only the non-public networks to exempt "
            "(such as 10.0.0.0/8 or fd00::/8)"
        )
    if overlapped:
        embedding = overlapped[0]
        return (
            f"overlaps the {embedding.name} range {embedding.network}, whose addresses are judged by the IPv4 "
            "address they carry: list that IPv4 network instead"
        )
    return None


def address_problem(address: IPAddress, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why ``address`` may not be called, or ``None`` when it is public (or explicitly allowed).

    Metadata services first (never exempt), then the IPv4-carrying forms (judged by their IPv4
    address alone), then ``allowed``, then the special-purpose tables."""
    for network, reason in _METADATA:
        if address.version == network.version and address in network:
            return f"{address} is {reason}"
    if isinstance(address, ipaddress.IPv6Address) and not any(address in n for n in _NOT_EMBEDDINGS):
        embedded = embedded_ipv4(address)
        if embedded is not None:
            # Judged by the IPv4 address only: an IPv6 entry of allowed_cidrs never exempts it.
            return _embedding_problem(address, *embedded, allowed)
    if _allowed(address, allowed):
        return None
    if isinstance(address, ipaddress.IPv4Address):
        for network, reason in _BLOCKED_V4:
            if address in network:
                return f"{address} is {reason}"
    else:
        for network6, reason in _BLOCKED_V6:
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
    address: ipaddress.IPv6Address,
    embedding: Embedding,
    ipv4: ipaddress.IPv4Address | None,
    allowed: Sequence[IPNetwork],
) -> str | None:
    article = "an" if embedding.name[0] in "AEIOU" else "a"
    if ipv4 is None:
        if _local_nat64_allowed(address, allowed):
            return None
        return (
            f"{address} is {article} {embedding.name} address, not routed on the Internet (the IPv4 address it carries "
            f"depends on the operator's prefix; allowedCidrs may list that prefix inside {_LOCAL_NAT64})"
        )
    inner = address_problem(ipv4, allowed)
    if inner is not None:
        return f"{address} embeds a refused IPv4 address ({embedding.name}: {inner})"
    if embedding.routed or _allowed(ipv4, allowed):
        return None
    return f"{address} is {article} {embedding.name} address, not routed on the Internet (it carries {ipv4})"


def _allowed(address: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in allowed)


def _local_nat64_allowed(address: ipaddress.IPv6Address, allowed: Sequence[IPNetwork]) -> bool:
    return any(
        isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_LOCAL_NAT64) and address in network
        for network in allowed
    )


def exempt(address: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    """Whether ``allowed_cidrs`` exempts ``address``, judging an IPv4-carrying form by its IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and not any(address in n for n in _NOT_EMBEDDINGS):
        embedded = embedded_ipv4(address)
        if embedded is not None:
            ipv4 = embedded[1]
            return _local_nat64_allowed(address, allowed) if ipv4 is None else _allowed(ipv4, allowed)
    return _allowed(address, allowed)
