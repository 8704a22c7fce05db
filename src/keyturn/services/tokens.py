"""Minting access tokens (RFC 9068 JWTs) and issuing / rotating refresh tokens.

The writes run in group commit (services/writes.py): :func:`store_grants` and
:func:`rotate_refresh_tokens` are batch functions, each taking the units of many concurrent
requests and answering one outcome per unit, in one transaction with set-based statements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core import jose
from keyturn.core.durations import parse_duration
from keyturn.core.errors import InvalidGrant, OAuthError
from keyturn.core.models import Client, Grant, RefreshToken, User
from keyturn.core.secrets import digest, new_refresh_token, new_token_id
from keyturn.metrics import REPLAYS_DETECTED
from keyturn.services.context import Services
from keyturn.services.writes import one_statement
from keyturn.settings import Settings
from keyturn.storage import audit
from keyturn.storage import grants as grants_repo
from keyturn.storage import users as users_repo

OPERATOR_CLIENT_ID = "keyturn-operator"


def mint_access_token(ctx: Services, *, sub: str, client_id: str, scope: str, kind: str, now: float,
                      account_id: str | None = None, role: str | None = None, grant_id: str | None = None,
                      lifetime: int | None = None, extra: dict[str, Any] | None = None,
                      jkt: str | None = None, x5t: str | None = None) -> tuple[str, int]:
    """Sign an RFC 9068 access token; returns (jwt, expires_in seconds). ``jkt``: bound to that DPoP key
    (RFC 9449 §6.1, ``cnf.jkt``); ``x5t``: bound to that client certificate (RFC 8705 §3.1, ``cnf.x5t#S256``)."""
    ttl = lifetime or ctx.settings.access_token_ttl
    iat = int(now)
    claims: dict[str, Any] = {
        "iss": ctx.settings.issuer, "sub": sub, "aud": ctx.settings.token_audience,
        "exp": iat + ttl, "iat": iat, "nbf": iat, "jti": new_token_id(),
        "client_id": client_id, "scope": scope, "kind": kind,
    }
    if account_id is not None:
        claims["account_id"] = account_id
    if role is not None:
        claims["role"] = role
    if grant_id is not None:
        claims["gid"] = grant_id
    if extra:
        claims.update(extra)
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}
    if x5t is not None:
        claims.setdefault("cnf", {})["x5t#S256"] = x5t
    key = ctx.keys.signing_key(ctx.settings.access_token_alg)
    return jose.sign(claims, key, typ="at+jwt"), ttl


def access_token_lifetime(settings: Settings, client: Client, now: float) -> int:
    """Seconds an access token issued to ``client`` now lives: ``access_token_ttl``, but never past the
    client's expiration, so a resource server validating offline stops accepting it then too."""
    ttl = settings.access_token_ttl
    if client.expiration is None:
        return ttl
    return max(1, min(ttl, int(client.expiration - int(now))))  # exp = int(now) + ttl <= expiration


BAD_REFRESH = "refresh token is invalid, expired or revoked"


def refresh_lifetime(settings: Settings, client: Client) -> int | None:
    """Seconds a refresh-token family of this client lives, or None when the client gets no refresh token:
    a credential's own ``refresh`` duration (seed 000's ``"1d"``), a relying party's ``user_refresh_ttl``."""
    if not client.refresh_enabled:
        return None
    if client.kind == "credential":
        return parse_duration(client.refresh) if client.refresh else None
    return settings.user_refresh_ttl


@dataclass(frozen=True, slots=True)
class NewGrant:
    """A grant to store and, when its client gets refresh tokens, the first token of its family."""

    grant: Grant
    refresh: RefreshToken | None  # stored as its digest
    refresh_token: str | None  # the token itself, for the response only


def new_grant(settings: Settings, *, client: Client, user_id: str | None, account_id: str | None,
              grant_type: str, scope: str, now: float, grant_id: str | None = None, session_id: str | None = None,
              auth_time: float | None = None, dpop_jkt: str | None = None, mtls_x5t: str | None = None) -> NewGrant:
    """A grant and, when the client gets refresh tokens (:func:`refresh_lifetime`), the first refresh token of
    its family. Without one the grant lives as long as an access token (revocable by its id). ``dpop_jkt``:
    the refresh tokens of a public client are bound to that DPoP key (RFC 9449 §5); a confidential client's
    are bound to the client by its authentication, so never to a key. ``mtls_x5t``: the same for a client
    certificate (RFC 8705 §4)."""
    lifetime = refresh_lifetime(settings, client)
    grant = Grant(id=grant_id or new_token_id(), client_id=client.client_id, user_id=user_id,
                  account_id=account_id, grant_type=grant_type, scope=scope, session_id=session_id,
                  auth_time=auth_time, created_at=now, expires_at=now + (lifetime or settings.access_token_ttl),
                  revoked_at=None, dpop_jkt=dpop_jkt if client.is_public else None,
                  mtls_x5t=mtls_x5t if client.is_public else None)
    if not lifetime:
        return NewGrant(grant, None, None)
    token = new_refresh_token()
    return NewGrant(grant, first_refresh(grant, digest(token), now, settings.refresh_idle_ttl), token)


def refresh_expiry(grant: Grant, now: float, idle: int) -> float:
    """When a refresh token issued now expires: with its family (the grant), or sooner after ``idle`` seconds
    unused (RFC 9700 §4.14.2, ``refresh_idle_ttl``; 0: no idle limit, seed 001's "expires after 60 days")."""
    return min(grant.expires_at, now + idle) if idle else grant.expires_at


def first_refresh(grant: Grant, token_digest: str, now: float, idle: int) -> RefreshToken:
    return RefreshToken(digest=token_digest, grant_id=grant.id, client_id=grant.client_id, generation=1,
                        scope=grant.scope, issued_at=now, expires_at=refresh_expiry(grant, now, idle), used_at=None)


@one_statement
async def store_grants(conn: AsyncConnection, units: Sequence[NewGrant]) -> list[None]:
    """Batch function (group commit): the grants and first refresh tokens of many requests (one statement on
    PostgreSQL, two on SQLite)."""
    await grants_repo.create_families(conn, [u.grant for u in units],
                                      [u.refresh for u in units if u.refresh is not None])
    return [None] * len(units)


@dataclass(frozen=True, slots=True)
class Rotate:
    """One refresh request's unit of :func:`rotate_refresh_tokens`.

    ``finish`` decides the request once its token and grant are found unused and live (scope, the
    user's and client's state) and mints its tokens; it raises an ``OAuthError`` to refuse, and then
    nothing is consumed. Its value is the unit's outcome.
    """

    digest: str
    client_id: str
    now: float
    idle: int
    ip: str | None
    successor: str  # the digest of the refresh token that replaces this one
    finish: Callable[[RefreshToken, Grant, User | None], Any]
    repeat: Repeat | None = None  # the grace window, when on


@dataclass(frozen=True, slots=True)
class Repeat:
    """The refresh-reuse grace window of one request (``KEYTURN_REFRESH_REUSE_GRACE``, RFC 9700 §4.14.2 and
    REQUIREMENTS §8 D1): a repeat of a token rotated less than ``window`` seconds ago, by its client, gets that
    rotation's answer again, the *identical* successor included, so the family never forks.

    ``seal`` turns a rotation's answer into the box kept in the consumed token's row (core/reissue.py: only the
    presented token opens it); ``unseal`` turns a box back into (the digest of the successor it carries, the
    answer at this request's time), or None when it does not open.
    """

    window: float
    seal: Callable[[Any], bytes]
    unseal: Callable[[bytes], tuple[str, Any] | None]


@dataclass(frozen=True, slots=True)
class Replayed:
    """The outcome of a spent token presented again: its family was revoked (and that committed)."""

    error: InvalidGrant
    kind: str = "refresh_token"  # or "authorization_code": the label of metrics.REPLAYS_DETECTED


def settle(ctx: Services, outcome: Any) -> Any:
    """A unit's committed outcome as its request's answer: the value, or its error raised (after a replay's
    revocation, this worker's revocation cache reloads at once; the replay is counted)."""
    if isinstance(outcome, Replayed):
        REPLAYS_DETECTED.labels(outcome.kind).inc()
        ctx.revocations_changed()
        raise outcome.error
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


USED = object()  # _judge: the token was used before (rotated)


def _judge(u: Rotate | Keep, found: Mapping[str, tuple[RefreshToken, Grant]], users: Mapping[str, User]) -> Any:
    """What a refresh of ``u``'s token answers before anything is written: ``InvalidGrant`` (unknown, another
    client's — RFC 6749 §6, not consumed —, its grant revoked or expired), :data:`USED` for a token used before,
    else ``finish``'s answer, or its refusal (an ``OAuthError``)."""
    hit = found.get(u.digest)
    if hit is None:
        return InvalidGrant(BAD_REFRESH)
    token, grant = hit
    if token.client_id != u.client_id:
        return InvalidGrant(BAD_REFRESH, detail="refresh token of another client")
    if token.used_at is not None:
        return USED
    if grant.revoked_at is not None or u.now >= grant.expires_at or u.now >= token.expires_at:
        return InvalidGrant(BAD_REFRESH, detail="grant revoked or expired")
    try:
        return u.finish(token, grant, users.get(grant.user_id) if grant.user_id else None)
    except OAuthError as refused:
        return refused


async def rotate_refresh_tokens(conn: AsyncConnection, units: Sequence[Rotate]) -> list[Any]:
    """Batch function (group commit), RFC 9700 §4.14.2: consume each refresh token and issue its successor.

    One statement decides single use for every row (``UPDATE … WHERE used_at IS NULL RETURNING``). A
    token used before — by an earlier transaction, or by an earlier unit of this batch (the same token
    sent twice at once) — revokes its whole grant (reuse detection) and answers :class:`Replayed`.
    A token of another client is refused without consuming it (RFC 6749 §6: bound to the client).
    With the grace window on (:class:`Repeat`), the answer of each rotation is sealed into the consumed row
    in the same transaction, and a repeat that comes soon enough gets it again instead (:func:`_answer_repeats`).
    """
    found = await grants_repo.find_refresh_tokens(conn, (u.digest for u in units))
    users = await users_repo.get_many(conn, (g.user_id for t, g in found.values() if g.user_id and t.used_at is None))
    outcomes: list[Any] = [None] * len(units)
    candidates: dict[int, Any] = {}
    replays: list[int] = []
    for i, u in enumerate(units):
        judged = _judge(u, found, users)
        if judged is USED:
            replays.append(i)
        elif isinstance(judged, OAuthError):  # nothing consumed: the token stays usable
            outcomes[i] = judged
        else:
            candidates[i] = judged
    successor_of: dict[str, RefreshToken] = {}
    first: dict[str, int] = {}  # the unit that may consume each digest: the first of the batch to send it
    for i in candidates:
        u = units[i]
        if u.digest in first:  # the same token twice in this batch: the later one is a replay
            replays.append(i)
            continue
        token, grant = found[u.digest]
        first[u.digest] = i
        successor_of[u.digest] = RefreshToken(
            digest=u.successor, grant_id=grant.id, client_id=grant.client_id, generation=token.generation + 1,
            scope=token.scope, issued_at=u.now, expires_at=refresh_expiry(grant, u.now, u.idle), used_at=None)
    now = max(u.now for u in units)
    consumed = await grants_repo.rotate_refresh_tokens(conn, successor_of, now)
    boxes: dict[str, bytes] = {}
    for d, i in first.items():
        if d in consumed:
            outcomes[i] = candidates[i]
            if (repeat := units[i].repeat) is not None:
                boxes[d] = repeat.seal(candidates[i])
        else:  # lost to another transaction: used before
            replays.append(i)
    await grants_repo.seal_reissues(conn, boxes)  # in this transaction: a repeat waiting on the row sees both
    if any(units[i].repeat for i in replays):
        replays = await _answer_repeats(conn, units, found, replays, first, consumed, outcomes)
    if replays:
        revoked = await grants_repo.revoke_grants(conn, (found[units[i].digest][1].id for i in replays), now,
                                                  "refresh_token_reuse")
        events: list[audit.Event] = []
        for i in sorted(replays):
            u = units[i]
            token, grant = found[u.digest]
            if grant.id in revoked:
                revoked.discard(grant.id)
                events.append(audit.Event("refresh_token.reuse_detected", at=u.now, client_id=u.client_id,
                                          subject=grant.user_id, ip=u.ip,
                                          detail={"grant_id": grant.id, "generation": token.generation}))
            outcomes[i] = Replayed(InvalidGrant(BAD_REFRESH, detail="replayed refresh token"))
        await audit.record_many(conn, events)
    return outcomes


@dataclass(frozen=True, slots=True)
class Keep:
    """One refresh request's unit of :func:`refresh_in_place`: ``finish`` as for :class:`Rotate`."""

    digest: str
    client_id: str
    now: float
    idle: int
    finish: Callable[[RefreshToken, Grant, User | None], Any]


async def refresh_in_place(conn: AsyncConnection, units: Sequence[Keep]) -> list[Any]:
    """Batch function (group commit): refresh without rotation (FAPI 2.0 §5.3.2.1, keyturn.services.fapi). The
    token stays valid and is not consumed, so any number of concurrent refreshes with it succeed; its family's
    absolute lifetime and revocation end it as any other (read here, in the transaction that answers). With an
    idle limit (``refresh_idle_ttl``) its use restarts the limit. A token already used (rotated while the
    client was not held to the profile) is refused: its successor is the one in use."""
    found = await grants_repo.find_refresh_tokens(conn, (u.digest for u in units))
    users = await users_repo.get_many(conn, (g.user_id for t, g in found.values() if g.user_id and t.used_at is None))
    outcomes: list[Any] = []
    extend: dict[str, float] = {}
    for u in units:
        judged = _judge(u, found, users)
        if judged is USED:
            outcomes.append(InvalidGrant(BAD_REFRESH, detail="refresh token already rotated"))
            continue
        outcomes.append(judged)
        if not isinstance(judged, OAuthError) and u.idle:
            grant = found[u.digest][1]
            extend[u.digest] = max(extend.get(u.digest, 0.0), refresh_expiry(grant, u.now, u.idle))
    await grants_repo.extend_refresh_tokens(conn, extend)
    return outcomes


async def _answer_repeats(conn: AsyncConnection, units: Sequence[Rotate],
                          found: Mapping[str, tuple[RefreshToken, Grant]], replays: list[int], first: dict[str, int],
                          consumed: set[str], outcomes: list[Any]) -> list[int]:
    """The grace window: answer each repeat that gets its rotation's answer again; the replays left.

    A repeat in this batch of a token this batch consumed shares that unit's answer. Any other is answered
    from the box its token's row keeps (read now: under READ COMMITTED this sees the rotation that beat this
    transaction to the row), when the token was used less than ``window`` seconds ago, the box opens with the
    presented token, and the successor it carries is still unused in a live family; otherwise it is a replay
    (reuse detection revokes the family). The client was checked before (a token of another client is
    refused, never replayed). Each answered repeat is an audit event (``refresh_token.reissued``).
    """
    left: list[int] = []
    answered: list[int] = []
    opened: dict[int, tuple[str, Any]] = {}
    stored = await grants_repo.find_reissues(conn, (units[i].digest for i in replays if units[i].repeat))
    for i in replays:
        u, repeat = units[i], units[i].repeat
        if repeat is not None and u.digest in consumed and first.get(u.digest, i) != i:
            outcomes[i] = outcomes[first[u.digest]]  # the same token twice in this batch
            answered.append(i)
        elif repeat is not None and (box := stored.get(u.digest)) is not None and u.now < box[0] + repeat.window \
                and (answer := repeat.unseal(box[1])) is not None:
            opened[i] = answer
        else:
            left.append(i)
    successors = await grants_repo.find_refresh_tokens(conn, (d for d, _ in opened.values()))
    for i, (successor, answer) in opened.items():
        now = units[i].now
        live = successors.get(successor)
        if live is not None and live[0].used_at is None and live[1].revoked_at is None \
                and now < live[0].expires_at and now < live[1].expires_at:
            outcomes[i] = answer
            answered.append(i)
        else:  # the successor was used (or its family ended): reuse detection applies
            left.append(i)
    events: list[audit.Event] = []
    for i in sorted(answered):
        u = units[i]
        token, grant = found[u.digest]
        events.append(audit.Event("refresh_token.reissued", at=u.now, client_id=u.client_id, subject=grant.user_id,
                                  ip=u.ip, detail={"grant_id": grant.id, "generation": token.generation}))
    await audit.record_many(conn, events)
    return left
