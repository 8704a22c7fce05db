"""Login sessions at the provider: a cookie holding a random id; only its digest is stored.

The cookie is HttpOnly and SameSite=Lax; with an https issuer it is also Secure and
uses the ``__Host-`` prefix (ASVS 3.3.1). A new id is issued at every login (no fixation).
The session ends after ``session_idle_ttl`` seconds without use or ``session_max_ttl``
after login, whichever comes first.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyturn.core.models import LoginSession, User
from keyturn.core.secrets import digest, new_session_id
from keyturn.services.context import Services
from keyturn.storage import oidc as store
from keyturn.storage import users as users_repo


@dataclass(frozen=True, slots=True)
class Session:
    digest: str
    user: User
    auth_time: float


def cookie_name(ctx: Services, base: str) -> str:
    return f"__Host-{base}" if ctx.settings.secure_cookies else base


def session_cookie(ctx: Services) -> str:
    return cookie_name(ctx, "keyturn_session")


async def current(ctx: Services, cookie_value: str | None, now: float) -> Session | None:
    """The live session named by the cookie, for a user who still exists and is not disabled."""
    if not cookie_value or len(cookie_value) > 100:
        return None
    d = digest(cookie_value)
    async with ctx.engine.begin() as conn:
        live = await store.find_live_session(conn, d, now, ctx.settings.session_idle_ttl,
                                            ctx.settings.clock_leeway)
        if live is None:
            return None
        user = await users_repo.get(conn, live.user_id)
        if user is None or user.disabled:
            return None
        await store.touch_session(conn, d, now)
    return Session(digest=d, user=user, auth_time=live.auth_time)


async def start(ctx: Services, user: User, now: float, previous: str | None) -> tuple[str, Session]:
    """A fresh session (new id) for a user who just authenticated; the previous one ends."""
    value = new_session_id()
    d = digest(value)
    async with ctx.engine.begin() as conn:
        if previous and len(previous) <= 100:
            await store.end_session(conn, digest(previous), now)
        await store.create_session(conn, LoginSession(digest=d, user_id=user.id, auth_time=now, created_at=now,
                                                      last_seen_at=now, expires_at=now + ctx.settings.session_max_ttl,
                                                      ended_at=None))
    return value, Session(digest=d, user=user, auth_time=now)
