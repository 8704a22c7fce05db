"""The authorization decision: log in, ask consent, or issue a code (OIDC Core §3.1.2).

The hosted login and consent pages join the protocol only through an interaction record:
short-lived, single use, bound to the browser that started it (a cookie whose digest it
stores) and carrying its own CSRF token.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit, urlunsplit

from keyturn.core import paths
from keyturn.core.errors import ConsentRequired, LoginRequired, OAuthError
from keyturn.core.models import AuthorizationCode, AuthorizationRequest, Client, Interaction
from keyturn.core.secrets import digest, new_code, new_session_id
from keyturn.services import fapi
from keyturn.services.context import Services
from keyturn.services.oidc import pushed
from keyturn.services.oidc.sessions import Session
from keyturn.storage import audit
from keyturn.storage import codes as codes_repo
from keyturn.storage import oidc as store

INTERACTION_TTL = 600.0  # seconds a login or consent page stays usable


def with_query(uri: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def error_redirect(ctx: Services, redirect_uri: str, exc: OAuthError, state: str | None) -> str:
    """RFC 6749 §4.1.2.1 plus ``iss`` (RFC 9207)."""
    return with_query(redirect_uri, {"error": exc.error, "error_description": exc.description,
                                     "state": state, "iss": ctx.settings.issuer})


async def new_interaction(ctx: Services, *, stage: str, areq: AuthorizationRequest, browser: str,
                          session: Session | None, now: float) -> str:
    interaction_id = new_session_id()
    interaction = Interaction(digest=digest(interaction_id), client_id=areq.client_id, stage=stage, request=areq,
                              browser_digest=digest(browser), csrf=secrets.token_urlsafe(24),
                              session_id=session.digest if session else None, created_at=now,
                              expires_at=now + INTERACTION_TTL, used_at=None)
    async with ctx.engine.begin() as conn:
        await store.create_interaction(conn, interaction)
    return interaction_id


def needs_login(areq: AuthorizationRequest, session: Session | None, now: float, fresh_login: bool) -> bool:
    if fresh_login:
        return False
    if session is None or "login" in areq.prompt:
        return True
    # OIDC Core §3.1.2.1: max_age forces a new login when the last one is older.
    return areq.max_age is not None and now - session.auth_time > areq.max_age


async def needs_consent(ctx: Services, client: Client, areq: AuthorizationRequest, session: Session,
                        consented: bool) -> bool:
    if consented:
        return False
    if "consent" in areq.prompt:
        return True
    if client.first_party:
        return False
    async with ctx.engine.connect() as conn:
        consent = await store.find_consent(conn, session.user.id, client.client_id)
    remembered = consent.scopes if consent else ()
    return any(s not in remembered for s in areq.scope)


async def proceed(ctx: Services, client: Client, areq: AuthorizationRequest, session: Session | None, now: float,
                  *, browser: str, fresh_login: bool = False, consented: bool = False) -> str:
    """Where the browser goes next: an interaction page (relative URL) or the client with a code.

    Raises LoginRequired / ConsentRequired for ``prompt=none`` (OIDC Core §3.1.2.6).
    """
    if needs_login(areq, session, now, fresh_login):
        if "none" in areq.prompt:
            raise LoginRequired("the user is not signed in")
        return paths.interaction(await new_interaction(ctx, stage="login", areq=areq, browser=browser,
                                                              session=None, now=now))
    assert session is not None
    if await needs_consent(ctx, client, areq, session, consented):
        if "none" in areq.prompt:
            raise ConsentRequired("the user has not consented to this client")
        return paths.interaction(await new_interaction(ctx, stage="consent", areq=areq, browser=browser,
                                                              session=session, now=now))
    return await issue_code(ctx, client, areq, session, now)


async def issue_code(ctx: Services, client: Client, areq: AuthorizationRequest, session: Session,
                     now: float) -> str:
    """RFC 6749 §4.1.2: an opaque single-use code bound to client, redirect URI, PKCE, nonce and session.
    Raises ``invalid_request`` when the pushed request it came from was used meanwhile (nothing is issued)."""
    code = new_code()
    record = AuthorizationCode(
        digest=digest(code), client_id=client.client_id, user_id=session.user.id, redirect_uri=areq.redirect_uri,
        redirect_uri_sent=areq.redirect_uri_sent, scope=" ".join(areq.scope), nonce=areq.nonce,
        code_challenge=areq.code_challenge, code_challenge_method=areq.code_challenge_method,
        session_id=session.digest, auth_time=session.auth_time, created_at=now,
        expires_at=now + fapi.code_ttl(ctx.settings, client), used_at=None, grant_id=None, dpop_jkt=areq.dpop_jkt)
    async with ctx.engine.begin() as conn:
        await pushed.spend(conn, areq, now)  # a pushed request is used up with its code (RFC 9126 §4)
        await codes_repo.insert_code(conn, record)
        await audit.record(conn, "authorization_code.issued", at=now, client_id=client.client_id,
                           subject=session.user.id, scope=" ".join(areq.scope))
    return with_query(areq.redirect_uri, {"code": code, "state": areq.state, "iss": ctx.settings.issuer})
