"""The hosted pages' use cases: load a pending interaction, cancel it, finish a login, record a consent.

An interaction is the only link between the login UI and the protocol: short-lived, single use
(consumed by one conditional ``UPDATE``), bound to the browser that started it (the digest of a
cookie) and carrying its own CSRF token. The pages parse and render; every rule lives here.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from keyturn.core.errors import AccessDenied, OAuthError
from keyturn.core.models import AuthorizationRequest, Client, Interaction, User
from keyturn.core.secrets import digest
from keyturn.services.context import Services
from keyturn.services.oidc import flow, sessions
from keyturn.storage import audit
from keyturn.storage import oidc as store

MAX_ID = 100  # characters of an interaction id worth looking up


class Expired(Exception):
    """The interaction is unknown, expired, already used, or was started in another browser."""


class ClientUnavailable(Exception):
    """The interaction's client can no longer sign people in (disabled or deleted meanwhile)."""


@dataclass(frozen=True, slots=True)
class Pending:
    """A live interaction (``interaction_id`` is the value in its URL) with its client."""

    interaction_id: str
    interaction: Interaction
    client: Client

    @property
    def stage(self) -> str:
        """Which page the interaction is at: "login" or "consent"."""
        return self.interaction.stage

    @property
    def areq(self) -> AuthorizationRequest:
        return self.interaction.request

    @property
    def csrf(self) -> str:
        return self.interaction.csrf

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(str(submitted), self.csrf)

    def belongs_to(self, session: sessions.Session | None) -> bool:
        """A consent interaction is for the session that was signed in when it was created."""
        return session is not None and session.digest == self.interaction.session_id


async def load(ctx: Services, interaction_id: str, browser: str, now: float) -> Pending:
    """The live interaction ``interaction_id`` if ``browser`` (the binding cookie's value) started it.

    Raises :class:`Expired` or :class:`ClientUnavailable`.
    """
    if not interaction_id or len(interaction_id) > MAX_ID:
        raise Expired
    async with ctx.engine.connect() as conn:
        found = await store.find_interaction(conn, digest(interaction_id), now, ctx.settings.clock_leeway)
    if found is None or not browser or not hmac.compare_digest(digest(browser), found.browser_digest):
        raise Expired
    client = await ctx.client(found.client_id, now)
    if client is None or not client.active(now):
        raise ClientUnavailable
    return Pending(interaction_id, found, client)


async def _consume(ctx: Services, pending: Pending, now: float) -> bool:
    async with ctx.engine.begin() as conn:
        return await store.consume_interaction(conn, digest(pending.interaction_id), now, ctx.settings.clock_leeway)


async def cancel(ctx: Services, pending: Pending, now: float) -> str:
    """The user gave up signing in: the interaction is used up and the client hears ``access_denied``
    (RFC 6749 §4.1.2.1). Returns where the browser goes."""
    await _consume(ctx, pending, now)
    exc = AccessDenied("the user cancelled the sign-in")
    return flow.error_redirect(ctx, pending.areq.redirect_uri, exc, pending.areq.state)


async def signed_in(ctx: Services, pending: Pending, user: User, now: float, *, previous: str | None,
                    browser: str) -> tuple[str, str]:
    """After a successful login: the interaction is used up, a new session starts (a new id, so no
    fixation; ``previous`` ends) and the authorization goes on. Returns the session cookie's value
    and where the browser goes. Raises :class:`Expired` when the interaction was used meanwhile."""
    if not await _consume(ctx, pending, now):
        raise Expired
    value, session = await sessions.start(ctx, user, now, previous)
    try:
        location = await flow.proceed(ctx, pending.client, pending.areq, session, now, browser=browser,
                                      fresh_login=True)
    except OAuthError as exc:
        location = flow.error_redirect(ctx, pending.areq.redirect_uri, exc, pending.areq.state)
    return value, location


async def decide_consent(ctx: Services, pending: Pending, session: sessions.Session, allowed: bool,
                         now: float) -> str:
    """The user allowed or refused the client: an allowed scope is remembered (the next authorization is
    silent), both are audited, and a refusal is ``access_denied`` at the client (R20). Returns where the
    browser goes. Raises :class:`Expired` when the interaction was used meanwhile."""
    areq = pending.areq
    async with ctx.engine.begin() as conn:
        if not await store.consume_interaction(conn, digest(pending.interaction_id), now, ctx.settings.clock_leeway):
            raise Expired
        if allowed:
            await store.remember_consent(conn, session.user.id, pending.client.client_id, areq.scope, now)
        await audit.record(conn, "consent.granted" if allowed else "consent.refused", at=now,
                           subject=session.user.id, client_id=pending.client.client_id, scope=" ".join(areq.scope))
    if not allowed:
        return flow.error_redirect(ctx, areq.redirect_uri, AccessDenied("the user refused access"), areq.state)
    try:
        return await flow.issue_code(ctx, pending.client, areq, session, now)
    except OAuthError as exc:  # its pushed request was used meanwhile (RFC 9126 §4)
        return flow.error_redirect(ctx, areq.redirect_uri, exc, areq.state)
