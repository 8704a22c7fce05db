"""CORS for the token, revocation, introspection, userinfo, JWKS and discovery endpoints only.

An Origin is reflected only when a client allows it (RFC 9700 §2.6, ASVS 3.4.2):
a credential's ``domain`` patterns or an OIDC client's registered origins. Never ``*``.
"""

from __future__ import annotations

from keyturn.core import origins
from keyturn.core.models import Client
from keyturn.services.cache import SingleFlight
from keyturn.services.context import Context
from keyturn.storage import clients as clients_repo

_patterns: dict[str, tuple[origins.OriginPattern, ...]] = {}
ALL_ORIGINS_TTL = 5.0


def _credential_patterns(domain: str) -> tuple[origins.OriginPattern, ...]:
    pats = _patterns.get(domain)
    if pats is None:
        try:
            pats = origins.parse_patterns(domain)
        except origins.PatternError:
            pats = ()
        if len(_patterns) > 10000:
            _patterns.clear()
        _patterns[domain] = pats
    return pats


def client_allows(client: Client, origin: str) -> bool:
    if client.kind == "credential":
        return origins.origin_allowed(origin, _credential_patterns(client.domain or ""))
    return origin in client.allowed_origins


class OriginIndex:
    """Which origins some active client allows, for answers given before a client is known.

    Rebuilt from the database at most every ``ALL_ORIGINS_TTL`` seconds, single flight: OIDC
    clients' exact origins in one set, credentials' domain patterns deduplicated, and each
    origin's answer remembered until the next rebuild. A request with an ``Origin`` costs a
    dictionary lookup however many clients there are. Creating an OIDC client drops the index.
    """

    MAX_ANSWERS = 10000

    def __init__(self) -> None:
        self._until = 0.0
        self._exact: frozenset[str] = frozenset()
        self._patterns: tuple[origins.OriginPattern, ...] = ()
        self._answers: dict[str, bool] = {}
        self._flight = SingleFlight()

    async def allows(self, ctx: Context, origin: str, now: float) -> bool:
        if now >= self._until:
            await self._flight.run("rebuild", lambda: self._rebuild(ctx, now))
        answer = self._answers.get(origin)
        if answer is None:
            answer = origin in self._exact or origins.origin_allowed(origin, self._patterns)
            if len(self._answers) >= self.MAX_ANSWERS:
                self._answers.clear()
            self._answers[origin] = answer
        return answer

    async def _rebuild(self, ctx: Context, now: float) -> None:
        async with ctx.engine.connect() as conn:
            everyone = (await clients_repo.list_by_kind(conn, "credential")
                        + await clients_repo.list_by_kind(conn, "oidc"))
        active = [c for c in everyone if c.active(now)]
        patterns: dict[origins.OriginPattern, None] = {}
        for c in active:
            if c.kind == "credential":
                patterns.update(dict.fromkeys(_credential_patterns(c.domain or "")))
        self._exact = frozenset(o for c in active if c.kind != "credential" for o in c.allowed_origins)
        self._patterns = tuple(patterns)
        self._answers = {}
        self._until = now + ALL_ORIGINS_TTL


async def any_client_allows(ctx: Context, origin: str, now: float) -> bool:
    index = ctx.extras.get("all_clients")
    if not isinstance(index, OriginIndex):
        index = ctx.extras["all_clients"] = OriginIndex()
    return await index.allows(ctx, origin, now)


def allow_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def preflight_headers(origin: str, methods: str) -> dict[str, str]:
    return {**allow_headers(origin), "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Api-Key, X-Keyturn-Account",
            "Access-Control-Max-Age": "600"}
