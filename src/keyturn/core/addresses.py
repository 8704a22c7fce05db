"""Caller addresses: a credential's address entries (seed 000's ``domain``) and the client behind a proxy.

A ``domain`` entry written as an IP address or a CIDR network, with nothing else around it
(``203.0.113.7``, ``203.0.113.0/24``, ``2001:db8::/32``, ``::1``), is an *address entry*: it names where
the credential may authenticate from. Everything else (``www.my.app.cu``, ``*.localhost.*``,
``http://127.0.0.1``, ``127.0.0.1:8080``, ``[::1]``) stays a browser-origin pattern (keyturn.core.origins).
Address entries are strict (docs/domain-patterns.md): a network with host bits set (``10.0.0.1/24``), a
prefix out of range (``10.0.0.0/33``), an IPv6 zone (``fe80::1%eth0``), an IPv4-mapped IPv6 entry
(``::ffff:10.0.0.1``: write ``10.0.0.1``) and a bracketed network (``[2001:db8::]/32``) are refused.

The client's address is the TCP peer's, or, when the peer is a trusted proxy, the right-most address of
``X-Forwarded-For`` that is not itself a trusted proxy (:func:`forwarded_client`): each proxy appends the
address it saw, so walking from the right stops at the first hop no trusted proxy vouches for, and
anything a client wrote further left is never read. An IPv4-mapped IPv6 peer (``::ffff:203.0.113.7``, a
dual-stack listener's IPv4 caller) counts as its IPv4 address.
"""

from __future__ import annotations

import functools
import ipaddress

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_FORWARDED = 8192  # characters of X-Forwarded-For read; a longer one is malformed (the peer is used)


class AddressError(ValueError):
    pass


def is_address_entry(text: str) -> bool:
    """Whether a ``domain`` entry is written as an address or network (else it is an origin pattern)."""
    head = text.strip().partition("/")[0]
    if "/" in text:
        head = head.removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(head)
    except ValueError:
        return False
    return True


def parse_entry(text: str) -> Network:
    """An address entry as a network (one address: a /32 or /128); :class:`AddressError` if it is not valid."""
    raw = text.strip()
    if "%" in raw:
        raise AddressError(f"domain entry {text!r}: an IPv6 zone (%…) has no meaning for a remote caller")
    if raw.startswith("["):
        raise AddressError(f"domain entry {text!r}: write an IPv6 network without brackets (2001:db8::/32)")
    try:
        net = ipaddress.ip_network(raw, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            fixed = ipaddress.ip_network(raw, strict=False)
            raise AddressError(f"domain entry {text!r}: host bits are set; did you mean {fixed}?") from None
        raise AddressError(f"domain entry {text!r}: not an IP address or CIDR network ({exc})") from None
    if isinstance(net, ipaddress.IPv6Network) and net.subnet_of(_MAPPED):
        raise AddressError(f"domain entry {text!r}: write an IPv4-mapped address in IPv4 form")
    return net


_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


@functools.lru_cache(maxsize=4096)
def domain_networks(domain: str) -> tuple[Network, ...]:
    """The address entries of a stored ``domain`` (invalid ones ignored: they were refused when written)."""
    nets: list[Network] = []
    for entry in domain.split():
        if is_address_entry(entry):
            try:
                nets.append(parse_entry(entry))
            except AddressError:
                continue
    return tuple(nets)


def parse_ip(text: str | None) -> IP | None:
    """An address (IPv4-mapped IPv6 as IPv4; no zone), or None if ``text`` is not one."""
    if not text or "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def address_in(address: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether ``address`` lies in one of ``networks`` (an address that is not an IP lies in none)."""
    ip = parse_ip(address)
    return ip is not None and any(ip.version == net.version and ip in net for net in networks)


@functools.lru_cache(maxsize=8)
def networks(blocks: tuple[str, ...]) -> tuple[Network, ...]:
    """Validated CIDR blocks of a setting (``KEYTURN_TRUSTED_PROXIES``, ``KEYTURN_METRICS_ALLOW``)."""
    return tuple(ipaddress.ip_network(b, strict=False) for b in blocks)


def _hop(text: str) -> IP | None:
    """One ``X-Forwarded-For`` element: ``ip``, ``[ipv6]``, ``[ipv6]:port`` or ``ipv4:port``; None if malformed."""
    item = text.strip()
    if item.startswith("["):
        host, sep, rest = item[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return parse_ip(host)
    if item.count(":") == 1:
        host, _, port = item.partition(":")
        return parse_ip(host) if port.isdigit() and "." in host else None
    return parse_ip(item)


def forwarded_client(peer: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str | None:
    """The client's address: ``peer`` unless it is in ``trusted``; then the right-most ``X-Forwarded-For`` hop
    not in ``trusted`` (all of them trusted: the left-most). ``forwarded_for`` holds the header's values in
    the order received (RFC 9110 §5.3: several are one comma-separated list). A missing, over-long or
    malformed list (a hop that is no address, ``unknown``) gives the peer: never an address no trusted proxy
    wrote."""
    if not trusted or not forwarded_for or not address_in(peer, trusted):
        return peer
    joined = ",".join(forwarded_for)
    if len(joined) > MAX_FORWARDED:
        return peer
    client = peer
    for item in reversed(joined.split(",")):
        hop = _hop(item)
        if hop is None:
            return peer
        client = str(hop)
        if not any(hop.version == net.version and hop in net for net in trusted):
            break
    return client
