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
2. The host, mapped first and classified after: a non-ASCII host is mapped as the resolver maps it
   (Python's IDNA codec, which ``socket.getaddrinfo`` applies: NFKC turns fullwidth digits into
   digits; U+3002, U+FF0E and U+FF61 are dots), then judged. IPv4 literals only as canonical dotted
   quads (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1`` and their Unicode spellings are
   refused: resolvers read them as 127.0.0.1); IPv6 literals without a zone id; names fully
   qualified (no single-label names such as ``metadata``, which resolver search domains can turn
   into internal hosts) and not under ``localhost``, ``local``, ``internal``
   (``metadata.google.internal``, ``*.ec2.internal``), ``localdomain``, ``home.arpa`` or ``arpa``.
3. The URL is ASCII (:class:`UnsendableUrl` otherwise): a request line carries bytes, and hookstack
   never rewrites a URL (the one stored and shown is the one sent), so a path or query must be
   percent-encoded and an international host name written in its ``xn--`` form; the refusal spells
   the URL in ASCII.
4. Every address the name resolves to (not just the first) must be public, or exempt by
   ``allowed_cidrs``: :func:`~functions.delivery.addresses.address_problem`.

Addresses (rule 4, the embeddings of IPv4 in IPv6 and ``allowed_cidrs``) are judged by
:mod:`functions.delivery.addresses`; its names are re-exported here, the one door to the guard.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from functions.delivery.addresses import (
    EMBEDDINGS,
    Embedding,
    IPAddress,
    IPNetwork,
    address_problem,
    allowed_cidr_problem,
    embedded_ipv4,
    exempt,
    parse_networks,
)
from functions.records import record

# The address half is re-exported: callers know one module, the guard.
__all__ = [
    "EMBEDDINGS",
    "Embedding",
    "IPAddress",
    "IPNetwork",
    "address_problem",
    "allowed_cidr_problem",
    "embedded_ipv4",
    "exempt",
    "parse_networks",
]

Resolver = Callable[..., Sequence[tuple[Any, ...]]]

MAX_URL_CHARS = 2048
ALLOWED_LOW_PORTS = frozenset({80, 443})
MIN_HIGH_PORT = 1024
# What the local sandbox exempts (its receivers listen on loopback); never exempt when deployed.
LOOPBACK_CIDRS = ("127.0.0.0/8", "::1/128")
BLOCKED_NAME_SUFFIXES = ("localhost", "local", "internal", "localdomain", "home.arpa", "arpa")

_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_CANONICAL_V4 = re.compile(
    r"^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
)
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_VISIBLE_ASCII = "".join(chr(code) for code in range(0x21, 0x7F))


class UnsafeUrl(ValueError):
    """The URL may not be called; the message says why (and never contains a secret)."""


class UnsendableUrl(UnsafeUrl):
    """The URL cannot go on an HTTP request line as it is (not ASCII): no retry can fix it."""


class Unresolvable(UnsafeUrl):
    """The host did not resolve (possibly for now: DNS failures are retried at delivery time)."""


@record
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
    unsendable = ascii_problem(url)
    if unsendable:
        raise UnsendableUrl(unsendable)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return Target(
        url=url, scheme=scheme, host=host, port=port, request_target=target, literal=literal, name_problem=name_problem
    )


def ascii_problem(url: str) -> str | None:
    """Why ``url`` cannot go on a request line as it is (a character that is not ASCII), with the URL
    spelled in ASCII when it has a spelling; ``None`` for an ASCII URL."""
    if url.isascii():
        return None
    index, char = next((i, ch) for i, ch in enumerate(url) if not ch.isascii())
    spelled = _ascii_spelling(url)
    return (
        f"must be ASCII, but has {char!r} at position {index} (percent-encode the path and query as UTF-8 "
        "and write an international host name in its xn-- form" + (f": {spelled})" if spelled else ")")
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
    if target.name_problem and not all(exempt(a, allowed) for a in addresses):
        raise UnsafeUrl(target.name_problem)
    if target.scheme == "http" and not all(a.is_loopback and exempt(a, allowed) for a in addresses):
        raise UnsafeUrl("must be an https:// URL (http:// is only for loopback receivers that allowedCidrs exempts)")
    return addresses


def check_url(
    url: str, allowed: Sequence[IPNetwork] = (), resolver: Resolver | None = None
) -> tuple[Target, list[IPAddress]]:
    """Both checks at once: the parsed URL and its vetted addresses."""
    target = parse_url(url, allowed)
    return target, resolve(target, allowed, resolver)


# -- helpers ------------------------------------------------------------------------------------


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
    if not host.isascii():
        # Map first, classify after: 127.0.0.1 in fullwidth digits, or 169.254.169.254 with ideographic
        # full stops, are IP literals to the resolver, which maps a host with this codec.
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UnsafeUrl(f"{raw_host!r} is not a valid host name") from None
    if host.endswith("."):
        host = host[:-1]
    if not host or ".." in host:
        raise UnsafeUrl("must name a host")
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # Resolvers (inet_aton) and browsers read a host ending in a number as IPv4, including the
        # decimal, octal, hex and shortened forms; only the canonical a.b.c.d form is accepted.
        if not _CANONICAL_V4.fullmatch(host):
            raise UnsafeUrl(f"{raw_host!r} is a numeric host in a non-canonical form; write IPv4 as a.b.c.d")
        return host, ipaddress.IPv4Address(host)
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeUrl(f"{raw_host!r} is not a valid host name")
    return host, None


def _ascii_spelling(url: str) -> str | None:
    """``url`` with its host in IDNA form and the rest percent-encoded as UTF-8, or ``None`` when it
    has no such spelling (a lone surrogate, credentials, an unmappable host)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
        if "@" in parts.netloc or "[" in parts.netloc or not host:
            return None
        netloc = host.encode("idna").decode("ascii") + (f":{port}" if port is not None else "")
        path, query, fragment = (quote(text, safe=_VISIBLE_ASCII) for text in (parts.path, parts.query, parts.fragment))
    except (ValueError, UnicodeError):
        return None
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def _name_problem(host: str) -> str | None:
    for suffix in BLOCKED_NAME_SUFFIXES:
        if host == suffix or host.endswith("." + suffix):
            return f"host {host!r} is an internal name (.{suffix})"
    if "." not in host:
        return f"host {host!r} must be a fully qualified domain name"
    return None
