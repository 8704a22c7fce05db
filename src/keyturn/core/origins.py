"""Allowed-origin patterns of a credential (seed 000's ``domain`` field).

The language (documented in docs/domain-patterns.md), chosen so that every
pattern in the seed means what its author meant and nothing more:

- A pattern names a host. ``www.my.app.cu`` matches that host exactly.
- A leading ``*.`` or ``.*`` means "this domain or any subdomain of it", anchored
  at a DNS label boundary: ``.*tropipay.com`` matches ``tropipay.com`` and
  ``api.tropipay.com`` but never ``eviltropipay.com`` or ``tropipay.com.evil.test``.
- A trailing ``.*`` or ``:*`` means "any port" (an Origin has no path); without
  it only the default port of the scheme matches, or the port written (``:8080``).
- ``scheme://`` may be written; without it ``https`` is required, except for
  ``localhost``/``*.localhost`` and loopback IPs, where ``http`` is also accepted.
- Over-broad patterns are refused at registration: a bare ``*``, a wildcard
  over a public suffix (``*.com``, ``*.co.uk``, ``*.github.io``: anyone can register a
  name under it), a wildcard over an IP address, or a ``*`` anywhere else (``*example.com``).
- A host name is at most 253 characters and each label at most 63 (RFC 1035 §2.3.4).
- An entry written as a bare IP address or CIDR network (``203.0.113.7``, ``10.0.0.0/8``, ``::1``) is not an
  origin pattern but an address entry (keyturn.core.addresses); an IP literal as a browser origin is written
  with a scheme, a port or brackets (``http://127.0.0.1``, ``127.0.0.1:*``, ``[::1]``).

Public suffixes come from the Public Suffix List bundled with the ``publicsuffixlist``
package (ICANN and private sections), read once from the package's own data file on the
first wildcard pattern: never fetched at run time. An unknown top-level label counts as a
public suffix; ``*.localhost`` (RFC 6761 §6.3) is the one wildcard over a suffix allowed.

Matching is plain string comparison on the parsed Origin: linear time, no regex.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from keyturn.core.addresses import AddressError, Network, is_address_entry, parse_entry

LOOPBACK_IPS = ("127.0.0.1", "[::1]")  # the loopback IP literals, as written in a URL (RFC 8252 §7.3)
LOOPBACK_HOSTS = frozenset({"localhost", *LOOPBACK_IPS})  # hosts where http is accepted (RFC 8252 §8.3)
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.[]:")
MAX_HOST = 253  # RFC 1035 §2.3.4 (255 octets on the wire, 253 characters written)
MAX_LABEL = 63  # RFC 1035 §2.3.4


class PatternError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class OriginPattern:
    scheme: str | None  # None: https (and http for loopback hosts)
    host: str
    subdomains: bool
    any_port: bool
    port: int | None

    def matches(self, scheme: str, host: str, port: int | None) -> bool:
        if self.subdomains:
            if not (host == self.host or host.endswith("." + self.host)):
                return False
        elif host != self.host:
            return False
        if self.scheme is not None:
            if scheme != self.scheme:
                return False
        elif scheme != "https" and not (scheme == "http" and _is_loopback(host)):
            return False
        if self.any_port:
            return True
        return port == self.port if self.port is not None else port is None


def _is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.endswith(".localhost")


def is_loopback_hostname(hostname: str) -> bool:
    """``urlsplit(...).hostname`` (lower case, an IPv6 address without brackets) is a loopback host."""
    return hostname in LOOPBACK_HOSTS or f"[{hostname}]" in LOOPBACK_HOSTS


@functools.cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()  # the list bundled in the package; no network


def is_public_suffix(host: str) -> bool:
    """True if anyone may register names directly under ``host`` (``com``, ``co.uk``, ``github.io``)."""
    return bool(_psl().is_public(host))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def parse_pattern(text: str) -> OriginPattern:
    raw = text.strip().lower()
    if not raw:
        raise PatternError("empty domain pattern")
    scheme: str | None = None
    if "://" in raw:
        scheme, raw = raw.split("://", 1)
        if scheme not in ("http", "https"):
            raise PatternError(f"domain pattern {text!r}: scheme must be http or https")
    any_port = False
    if raw.endswith(".*") or raw.endswith(":*"):
        any_port, raw = True, raw[:-2]
    subdomains = False
    if raw.startswith("*.") or raw.startswith(".*"):
        subdomains, raw = True, raw[2:]
    port: int | None = None
    if ":" in raw and not raw.endswith("]"):
        raw, _, port_text = raw.rpartition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise PatternError(f"domain pattern {text!r}: bad port")
        port = int(port_text)
        if (port == 443 and scheme in (None, "https")) or (port == 80 and scheme == "http"):
            port = None  # the default port of the scheme, as an Origin header omits it
    if "*" in raw:
        raise PatternError(f"domain pattern {text!r}: '*' is allowed only as a leading '*.' or trailing '.*'")
    if not raw or any(c not in _HOST_CHARS for c in raw) or ".." in raw or raw.startswith(".") or raw.endswith("."):
        raise PatternError(f"domain pattern {text!r}: not a host name")
    if len(raw) > MAX_HOST:
        raise PatternError(f"domain pattern {text[:40]!r}...: a host name has at most {MAX_HOST} characters")
    if any(len(label) > MAX_LABEL for label in raw.split(".")):
        raise PatternError(f"domain pattern {text[:80]!r}: a label of a host name has at most {MAX_LABEL} characters")
    if subdomains and raw != "localhost":
        if _is_ip(raw):
            raise PatternError(f"domain pattern {text!r}: a wildcard over an IP address means nothing")
        if "." not in raw:
            raise PatternError(f"domain pattern {text!r}: wildcard over a top-level domain is too broad")
        if is_public_suffix(raw):
            raise PatternError(f"domain pattern {text!r}: wildcard over the public suffix {raw!r} is too broad")
    return OriginPattern(scheme, raw, subdomains, any_port, port)


def parse_patterns(text: str | None) -> tuple[OriginPattern, ...]:
    """The origin patterns of a ``domain``; its address entries (keyturn.core.addresses) are left out."""
    if not text:
        return ()
    if len(text) > 2048:
        raise PatternError("domain is too long")
    return tuple(parse_pattern(p) for p in text.split() if not is_address_entry(p))


def parse_domain(text: str | None) -> tuple[tuple[OriginPattern, ...], tuple[Network, ...]]:
    """A whole ``domain``: its origin patterns and its address entries, each validated (:class:`PatternError`)."""
    patterns = parse_patterns(text)
    try:
        nets = tuple(parse_entry(p) for p in (text or "").split() if is_address_entry(p))
    except AddressError as exc:
        raise PatternError(str(exc)) from None
    return patterns, nets


def split_origin(origin: str) -> tuple[str, str, int | None] | None:
    """Parse an Origin header value into (scheme, host, port); None if malformed, ``null`` or not in the
    serialised form a browser sends (RFC 6454 §6.2: lower-case scheme and host, no path, no default port),
    so an Origin is reflected only byte for byte as a browser would write it."""
    if len(origin) > 512 or origin == "null" or origin != origin.lower() or origin.endswith("/"):
        return None
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    if port == default or (port is not None and not origin.endswith(f":{port}")):
        return None  # ":443" on https, ":0080": not how an Origin is serialised
    return parts.scheme, host, port


def origin_allowed(origin: str, patterns: tuple[OriginPattern, ...]) -> bool:
    parsed = split_origin(origin)
    if parsed is None:
        return False
    return any(p.matches(*parsed) for p in patterns)
