"""A client's public keys for private_key_jwt (RFC 7523): its registered ``jwks``, or fetched from its ``jwks_uri``.

RFC 7591 §2: a client registers either ``jwks`` (the keys themselves) or ``jwks_uri`` (where it publishes
them), never both. Fetching a URL a client chose is a server-side request forgery hazard, so
(docs/client-authentication.md):

- **Who may be fetched:** ``https`` only, no credentials in the URL, no fragment, and the host must be on the
  operator's ``KEYTURN_JWKS_URI_ALLOWED_HOSTS`` (``host`` for port 443, else ``host:port``; exact match), at
  registration and again at every fetch (an entry removed later stops the fetches). A host *name* must resolve
  to public addresses only: a name resolving to a loopback, private, link-local or otherwise non-global address
  is refused (a DNS record cannot point Keyturn at its own network), unless the operator listed that address
  itself (an IP literal entry, ``10.0.0.5:8443``: the operator says so). The address actually connected to is
  checked again before the answer is read (a second resolution cannot slip past).
- **What is fetched:** one GET, redirects not followed (a 3xx is a failure), no proxy from the environment,
  the certificate verified against the system store plus ``KEYTURN_OUTBOUND_CA_FILE`` if set; at most
  ``MAX_BYTES`` read (streamed, stopped past it; no content encoding), the whole exchange within
  ``FETCH_TIMEOUT`` seconds. The body must be a JSON object whose ``keys`` hold 1 to ``MAX_KEYS`` public
  signing keys (:func:`check_jwks`, the same rules as a registered ``jwks``; ``use: enc`` keys are skipped);
  a set with any private or symmetric member is refused whole.
- **Cache, per URI** (a bounded dict in each worker, ``MAX_URIS`` entries, least recently used dropped: no
  cache library is a dependency here, and ``keyturn.services.cache.TTLCache`` has one TTL for all): kept for the
  answer's ``Cache-Control: max-age`` clamped to [``MIN_TTL``, ``MAX_TTL``], ``DEFAULT_TTL`` without one. An
  assertion naming a ``kid`` the set lacks refetches at most once per ``REFETCH_COOLDOWN`` per URI (junk
  assertions cannot make Keyturn hammer a client's server). Concurrent requests for one URI share one fetch
  (single flight). A failed fetch while a set is cached keeps serving that set for at most ``STALE_IF_ERROR``
  seconds past its expiry; with nothing usable the assertion is refused (``invalid_client``, 401), never a 500.
  Every failure is logged (the URI and the reason; a URI carries no credentials) and counted in
  ``keyturn_jwks_uri_fetches_total{outcome}``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from keyturn import metrics
from keyturn.core.errors import ApiError
from keyturn.core.jose import REGISTRABLE_ALGS
from keyturn.core.mtls import BadX5c, x5c_certificate
from keyturn.core.text import text_problem

log = logging.getLogger("keyturn.client_jwks")

MAX_KEYS = 10  # keys in a client's jwks
MAX_URI = 2000
MAX_BYTES = 64 * 1024  # the most of a jwks_uri answer read
FETCH_TIMEOUT = 5.0  # seconds for the whole fetch: resolution, connection, TLS, request and body
MIN_TTL, DEFAULT_TTL, MAX_TTL = 60.0, 300.0, 86400.0  # seconds a fetched set is used before it is fetched again
REFETCH_COOLDOWN = 60.0  # seconds between two fetches of one URI for an unknown kid (or after a failure)
STALE_IF_ERROR = 3600.0  # seconds past its expiry a cached set keeps serving while fetches fail
MAX_URIS = 1000  # URIs cached per worker
_PUBLIC_MEMBERS = {"EC": {"crv", "x", "y"}, "RSA": {"n", "e"}, "OKP": {"crv", "x"}}
_COMMON_MEMBERS = {"kty", "kid", "use", "alg", "key_ops", "x5c", "x5t", "x5t#S256", "x5u"}
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_CLIENT_METADATA", message)


def _safe(text: str) -> str:
    return "".join(c for c in text[:60] if 0x20 <= ord(c) <= 0x7E and c not in '"\\') or "?"


def check_jwks(name: str, value: Any) -> dict[str, Any]:
    """A client's JWK Set (RFC 7517 §5) for private_key_jwt: 1 to ``MAX_KEYS`` public EC (P-256, P-384),
    RSA (at least 2048 bits) or OKP (Ed25519) keys, no private or symmetric ones, each ``kid`` unique; an
    ``x5c`` (self_signed_tls_client_auth's certificates) is a DER certificate of its key (RFC 7517 §4.7)."""
    keys = value.get("keys") if isinstance(value, dict) else None
    if not isinstance(value, dict) or set(value) != {"keys"} or not isinstance(keys, list) \
            or not 1 <= len(keys) <= MAX_KEYS:
        raise _invalid(f'{name} must be {{"keys": [...]}} with 1 to {MAX_KEYS} keys')
    kids: set[str] = set()
    for jwk in keys:
        if not isinstance(jwk, dict):
            raise _invalid(f"{name}: every key must be a JSON object")
        kty = jwk.get("kty")
        public = _PUBLIC_MEMBERS.get(kty) if isinstance(kty, str) else None
        if public is None:
            raise _invalid(f"{name}: kty must be EC, RSA or OKP (asymmetric keys only)")
        extra = set(jwk) - public - _COMMON_MEMBERS
        if extra:
            raise _invalid(f"{name}: public keys only ({_safe(sorted(extra)[0])} is not a public key member)")
        kid = jwk.get("kid")
        if kid is not None:
            if not isinstance(kid, str) or not kid or len(kid) > 200 or kid in kids:
                raise _invalid(f"{name}: each kid must be a unique non-empty string")
            kids.add(kid)
        if jwk.get("use", "sig") != "sig":
            raise _invalid(f"{name}: keys must be for signing (use sig)")
        alg = jwk.get("alg")
        if alg is not None and alg not in REGISTRABLE_ALGS:
            raise _invalid(f"{name}: alg {_safe(str(alg))!r} is not supported")
        if kty == "EC" and jwk.get("crv") not in ("P-256", "P-384") or kty == "OKP" and jwk.get("crv") != "Ed25519":
            raise _invalid(f"{name}: EC keys must be P-256 or P-384, OKP keys Ed25519")
        try:
            key = jwt.PyJWK(jwk).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            raise _invalid(f"{name}: a key is not a valid {kty} public key") from None
        if kty == "RSA" and getattr(key, "key_size", 0) < 2048:
            raise _invalid(f"{name}: RSA keys must have at least 2048 bits")
        try:
            x5c_certificate(jwk)
        except BadX5c as bad:
            raise _invalid(f"{name}: {bad}") from None
    return {"keys": [dict(k) for k in keys]}


def host_key(host: str, port: int | None) -> str:
    """How an allow-list entry names ``host`` on ``port``: ``host`` for 443, else ``host:port`` (lower case;
    an IPv6 address in brackets)."""
    name = host.lower()
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"
    return name if port in (None, 443) else f"{name}:{port}"


def check_jwks_uri(uri: Any, allowed_hosts: Collection[str]) -> str:
    """``uri`` if it may be registered as a ``jwks_uri`` here, else 400 ``INVALID_CLIENT_METADATA`` naming it:
    https, no credentials, no fragment, its host on ``allowed_hosts`` (empty: ``jwks_uri`` is not served)."""
    if not allowed_hosts:
        raise _invalid("client metadata jwks_uri is not supported by this server (send jwks)")
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI or text_problem(uri) is not None:
        raise _invalid(f"jwks_uri must be a URL of at most {MAX_URI} characters")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise _invalid("jwks_uri is not a valid URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise _invalid("jwks_uri must be an https URL")
    if "@" in parts.netloc or "#" in uri or " " in uri:
        raise _invalid("jwks_uri must not carry credentials or a fragment")
    if host_key(parts.hostname, port) not in allowed_hosts:
        raise _invalid(f"jwks_uri host {_safe(host_key(parts.hostname, port))} is not allowed by this server")
    return uri


class JwksUnavailable(Exception):
    """No usable key set for a ``jwks_uri`` now: ``outcome`` is the metric label, the message says why."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome


def _internal(address: str) -> bool:
    """Not a global unicast address: loopback, private, link-local, shared, reserved, multicast, unspecified."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


@dataclass
class Fetched:
    jwks: dict[str, Any]
    ttl: float  # max-age, clamped


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    jwks: dict[str, Any] | None = None
    expires_at: float = 0.0
    last_attempt: float | None = None


Fetch = Callable[[str], Awaitable[Fetched]]


class ClientJwks:
    """The key sets of clients' ``jwks_uri``s, fetched and cached as the module docstring says."""

    def __init__(self, allowed_hosts: Collection[str], ca_file: str | None = None, *,
                 clock: Callable[[], float] = time.monotonic, timeout: float = FETCH_TIMEOUT) -> None:
        self.allowed_hosts = frozenset(allowed_hosts)
        self.ca_file = ca_file
        self.timeout = timeout
        self.fetches = 0  # attempts made (tests and the metric's sum)
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._ssl: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        """The system trust store, plus the operator's extra CAs (``KEYTURN_OUTBOUND_CA_FILE``)."""
        if self._ssl is None:
            context = ssl.create_default_context()
            if self.ca_file:
                context.load_verify_locations(cafile=self.ca_file)
            self._ssl = context
        return self._ssl

    def _entry(self, uri: str) -> _Entry:
        entry = self._entries.get(uri)
        if entry is None:
            entry = self._entries[uri] = _Entry()
            while len(self._entries) > MAX_URIS:
                self._entries.popitem(last=False)
        self._entries.move_to_end(uri)
        return entry

    async def keys(self, uri: str) -> dict[str, Any]:
        """The key set at ``uri``: the cached one while fresh, else fetched (one fetch for concurrent callers)."""
        entry = self._entry(uri)
        if entry.jwks is not None and self._clock() < entry.expires_at:
            metrics.CACHE_LOOKUPS.labels("client_jwks", "hit").inc()
            return entry.jwks
        metrics.CACHE_LOOKUPS.labels("client_jwks", "miss").inc()
        async with entry.lock:
            now = self._clock()
            if entry.jwks is not None and now < entry.expires_at:
                return entry.jwks  # fetched while this caller waited
            if entry.last_attempt is not None and now - entry.last_attempt < REFETCH_COOLDOWN:
                return self._stale_or_raise(uri, entry, now, "the last fetch failed moments ago")
            return await self._fetch(uri, entry, now)

    async def refetch(self, uri: str, seen: dict[str, Any]) -> dict[str, Any]:
        """An assertion named a key ``seen`` lacks: fetch again, unless another request already did, or one
        was attempted within ``REFETCH_COOLDOWN``; the set then is the one to look in (:class:`JwksUnavailable`
        when the fetch fails and no cached set is usable any more)."""
        entry = self._entry(uri)
        async with entry.lock:
            now = self._clock()
            if entry.jwks is not seen and entry.jwks is not None:
                return entry.jwks
            if entry.last_attempt is not None and now - entry.last_attempt < REFETCH_COOLDOWN:
                return seen
            return await self._fetch(uri, entry, now)  # a failure: the cached set if still usable, else raised

    def _stale_or_raise(self, uri: str, entry: _Entry, now: float, why: str) -> dict[str, Any]:
        if entry.jwks is not None and now < entry.expires_at + STALE_IF_ERROR:
            return entry.jwks
        raise JwksUnavailable("unavailable", f"no usable keys from the client's jwks_uri ({why})")

    async def _fetch(self, uri: str, entry: _Entry, now: float) -> dict[str, Any]:
        entry.last_attempt = now
        self.fetches += 1
        try:
            fetched = await self.download(uri)
        except JwksUnavailable as failed:
            metrics.JWKS_URI_FETCHES.labels(failed.outcome).inc()
            # the URI is the client's (no credentials in it: check_jwks_uri), control characters refused
            log.warning("jwks_uri fetch failed (%s): %s; jwks_uri=%s", failed.outcome, failed, uri)
            return self._stale_or_raise(uri, entry, now, str(failed))
        metrics.JWKS_URI_FETCHES.labels("ok").inc()
        entry.jwks, entry.expires_at = fetched.jwks, now + fetched.ttl
        return fetched.jwks

    async def download(self, uri: str) -> Fetched:
        """One fetch of ``uri`` within ``timeout`` seconds, every rule checked; failures are
        :class:`JwksUnavailable`."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._download(uri)
        except TimeoutError:
            raise JwksUnavailable("timeout", f"no answer within {self.timeout:g} s") from None
        except (httpx.HTTPError, OSError, ValueError) as exc:
            raise JwksUnavailable("network", f"cannot fetch: {type(exc).__name__}") from None

    async def _download(self, uri: str) -> Fetched:
        try:
            check_jwks_uri(uri, self.allowed_hosts)  # the allow-list now, not at registration
        except ApiError as refused:
            raise JwksUnavailable("refused", refused.message) from None
        parts = urlsplit(uri)
        host, port = parts.hostname or "", parts.port or 443
        literal = _is_address(host)  # the operator listed this very address: it may be internal
        if not literal:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            if any(_internal(str(info[4][0])) for info in infos):
                raise JwksUnavailable("refused", "the host resolves to a non-public address")
        async with httpx.AsyncClient(verify=self._context(), follow_redirects=False, trust_env=False,
                                     timeout=self.timeout) as http, \
                http.stream("GET", uri, headers={"Accept": "application/json, application/jwk-set+json",
                                                 "Accept-Encoding": "identity"}) as answer:
            stream = answer.extensions.get("network_stream")
            peer = stream.get_extra_info("server_addr") if stream is not None else None
            if not literal and peer and _internal(str(peer[0])):
                raise JwksUnavailable("refused", "connected to a non-public address")
            if answer.status_code != 200:
                raise JwksUnavailable("http_status", f"HTTP {answer.status_code} (redirects are not followed)")
            if answer.headers.get("content-encoding", "identity").lower() != "identity":
                raise JwksUnavailable("invalid", "the answer has a content encoding")
            body = bytearray()
            async for chunk in answer.aiter_raw():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise JwksUnavailable("too_large", f"the answer is larger than {MAX_BYTES} bytes")
            return Fetched(parse_jwks(bytes(body)), ttl_of(answer.headers.get("cache-control")))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_jwks(body: bytes) -> dict[str, Any]:
    """A fetched JWK Set: a JSON object with ``keys``; keys for encryption (``use: enc``) are left out, the rest
    checked as a registered ``jwks`` (:func:`check_jwks`)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise JwksUnavailable("invalid", "the answer is not JSON") from None
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list):
        raise JwksUnavailable("invalid", 'the answer is not a JSON object with a "keys" array')
    signing = [k for k in keys if not (isinstance(k, dict) and k.get("use") == "enc")]
    try:
        return check_jwks("jwks_uri", {"keys": signing})
    except ApiError as refused:
        raise JwksUnavailable("invalid", refused.message) from None


def ttl_of(cache_control: str | None) -> float:
    """``Cache-Control: max-age`` clamped to [``MIN_TTL``, ``MAX_TTL``]; ``DEFAULT_TTL`` without one."""
    found = _MAX_AGE.search(cache_control or "")
    if found is None:
        return DEFAULT_TTL
    return min(max(float(found.group(1)), MIN_TTL), MAX_TTL)
