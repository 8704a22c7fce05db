"""CORS for the token, revocation, introspection, userinfo, JWKS and discovery endpoints only.

An Origin is reflected only when a client allows it (RFC 9700 §2.6, ASVS 3.4.2):
a credential's ``domain`` patterns or an OIDC client's registered origins. Never ``*``.
"""

from __future__ import annotations

from keyturn.core import origins
from keyturn.core.models import Client
from keyturn.services.context import Context
from keyturn.storage import clients as clients_repo

_patterns: dict[str, tuple[origins.OriginPattern, ...]] = {}
ALL_ORIGINS_TTL = 5.0


def client_allows(client: Client, origin: str) -> bool:
    if client.kind == "credential":
        domain = client.domain or ""
        pats = _patterns.get(domain)
        if pats is None:
            try:
                pats = origins.parse_patterns(domain)
            except origins.PatternError:
                pats = ()
            if len(_patterns) > 10000:
                _patterns.clear()
            _patterns[domain] = pats
        return origins.origin_allowed(origin, pats)
    return origin in client.allowed_origins


async def any_client_allows(ctx: Context, origin: str, now: float) -> bool:
    cached = ctx.extras.get("all_clients")
    if not isinstance(cached, tuple) or cached[0] <= now:
        async with ctx.engine.connect() as conn:
            everyone = (await clients_repo.list_by_kind(conn, "credential")
                        + await clients_repo.list_by_kind(conn, "oidc"))
        cached = (now + ALL_ORIGINS_TTL, [c for c in everyone if c.active(now)])
        ctx.extras["all_clients"] = cached
    return any(client_allows(c, origin) for c in cached[1])


def allow_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def preflight_headers(origin: str, methods: str) -> dict[str, str]:
    return {**allow_headers(origin), "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Api-Key, X-Keyturn-Account",
            "Access-Control-Max-Age": "600"}
