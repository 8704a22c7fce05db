"""Password login with anti-automation (ASVS 6.3.1, RFC 6819 §5.1.4.2.3) that a stranger cannot turn into
a lockout of someone else (issue 12 item 10).

Policy (throttles table, so every worker and node sees the same counts, with or without Redis):
- per identifier *and* address (the identifier in its normal form, known or not, so the counter cannot reveal
  who exists; ``+44 7700 900123`` and ``07700 900123`` are one counter, keyturn.core.identifiers): after
  ``login_max_failures`` failures within an hour, each further failure locks that pair for 30 s, doubling up
  to 15 minutes. It stops a guesser at one address; the owner at another address is not affected.
- per address: after 50 failures within 15 minutes, each further failure locks the address for 30 s,
  doubling up to 15 minutes (a spray across many identifiers).
- per identifier from every address: only a small delay before the answer (0.25 s doubling, at most
  :data:`MAX_IDENTIFIER_DELAY`) once :data:`IDENTIFIER_SLOW_AFTER` failures are in the hour; never a refusal,
  so a distributed guesser is slowed while the owner still signs in.
- a successful login clears its pair and the identifier-wide count; ``keyturn users unlock`` /
  ``POST /api/v2/users/unlock`` clears every lock of an identifier. Every lock and unlock is audited
  (``login.locked``, ``login.unlocked``).
- the lockout page and its ``Retry-After`` state the same wait: seconds below two minutes, else whole
  minutes with ``Retry-After`` rounded up to those minutes (RFC 9110 §10.2.3).
One message for an unknown user, a wrong password and a disabled user, with the same password-hash
work in each case (no enumeration by message, status or timing, ASVS 6.3.8).
"""

from __future__ import annotations

import asyncio
import math

from keyturn import metrics
from keyturn.core.identifiers import login_key
from keyturn.core.models import User
from keyturn.core.secrets import digest
from keyturn.services.context import Services
from keyturn.services.passwords import verify_password
from keyturn.storage import audit
from keyturn.storage import oidc as store
from keyturn.storage import users as users_repo

BAD_CREDENTIALS = "The email or phone number and password do not match."
ACCOUNT_WINDOW = 3600.0
IP_WINDOW = 900.0
IP_MAX_FAILURES = 50
BASE_LOCK = 30.0
MAX_LOCK = 900.0
IDENTIFIER_SLOW_AFTER = 20  # failures of one identifier (all addresses) in ACCOUNT_WINDOW before delays start
BASE_IDENTIFIER_DELAY = 0.25
MAX_IDENTIFIER_DELAY = 2.0


class LoginFailed(Exception):
    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def identifier_key(identifier: str, region: str | None) -> str:
    return "login:acct:" + digest(login_key(identifier.strip()[:320], region))[:40]


def _keys(identifier: str, ip: str | None, region: str | None) -> tuple[str, str, str]:
    """The (identifier, address) pair's key, the address's, the identifier's (all addresses)."""
    acct = identifier_key(identifier, region)
    address = (ip or "unknown")[:64]
    return acct + ":ip:" + address, "login:ip:" + address, acct


def lockout(seconds: float) -> LoginFailed:
    """One wait, said the same way on the page and in ``Retry-After`` (whole seconds)."""
    wait = max(1, math.ceil(seconds))
    if wait < 120:
        unit = "second" if wait == 1 else "seconds"
        text, retry_after = f"{wait} {unit}", wait
    else:
        minutes = math.ceil(wait / 60)
        text, retry_after = f"{minutes} minutes", minutes * 60
    return LoginFailed(f"Too many failed sign-in attempts. Wait {text} before trying again.",
                       retry_after=retry_after)


async def _locked_for(ctx: Services, keys: tuple[str, str, str], now: float) -> tuple[float, int]:
    """Seconds the pair or the address is locked for; failures of the identifier from everywhere."""
    async with ctx.engine.connect() as conn:
        worst = 0.0
        for key in keys[:2]:
            row = await store.get_throttle(conn, key)
            if row and row.locked_until and row.locked_until > now:
                worst = max(worst, row.locked_until - now)
        everywhere = await store.get_throttle(conn, keys[2])
    spread = everywhere.failures if everywhere and everywhere.window_start > now - ACCOUNT_WINDOW else 0
    return worst, spread


def identifier_delay(failures: int) -> float:
    """The small delay before answering for an identifier failing from many addresses (never a lock)."""
    over = failures - IDENTIFIER_SLOW_AFTER
    return 0.0 if over < 0 else min(MAX_IDENTIFIER_DELAY, BASE_IDENTIFIER_DELAY * 2 ** min(over, 10))


def _growing(failures: int, threshold: int) -> float:
    over = failures - threshold
    return 0.0 if over < 0 else min(MAX_LOCK, BASE_LOCK * 2 ** min(over, 10))


async def authenticate(ctx: Services, identifier: str, password: str, ip: str | None, now: float) -> User:
    identifier = identifier.strip()[:320]
    region = ctx.settings.default_phone_region
    keys = _keys(identifier, ip, region)
    wait, spread = await _locked_for(ctx, keys, now)
    if wait > 0:
        metrics.LOGIN_FAILURES.labels("locked").inc()
        metrics.RATE_LIMITED.labels("login").inc()
        raise lockout(wait)
    delay = identifier_delay(spread)
    if delay:
        await asyncio.sleep(delay)
    user: User | None = None
    if identifier:
        async with ctx.engine.connect() as conn:
            user = await users_repo.find(conn, identifier, region)
    # Argon2 work happens in a thread, the same for a known or unknown user.
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password[:256])
    if ok and user is not None and not user.disabled:
        async with ctx.engine.begin() as conn:
            await store.clear_throttle(conn, keys[0])
            await store.clear_throttle(conn, keys[2])
            await audit.record(conn, "login.succeeded", at=now, subject=user.id, ip=ip)
        return user
    async with ctx.engine.begin() as conn:
        failures = await store.record_failure(conn, keys[0], now, ACCOUNT_WINDOW)
        ip_failures = await store.record_failure(conn, keys[1], now, IP_WINDOW)
        await store.record_failure(conn, keys[2], now, ACCOUNT_WINDOW)
        pair_lock = _growing(failures, ctx.settings.login_max_failures)
        ip_lock = _growing(ip_failures, IP_MAX_FAILURES)
        reason = "unknown_user" if user is None else "disabled" if ok else "bad_password"
        metrics.LOGIN_FAILURES.labels(reason).inc()
        subject = user.id if user else None
        await audit.record(conn, "login.failed", at=now, subject=subject, ip=ip, failures=failures)
        for key, lock_for, scope in ((keys[0], pair_lock, "identifier+address"), (keys[1], ip_lock, "address")):
            if lock_for:
                await store.lock(conn, key, now + lock_for)
                await audit.record(conn, "login.locked", at=now, subject=subject, ip=ip, scope=scope,
                                   seconds=int(lock_for))
    lock_for = max(pair_lock, ip_lock)
    if lock_for:
        raise lockout(lock_for)
    raise LoginFailed(BAD_CREDENTIALS)


async def unlock(ctx: Services, identifier: str, actor: str, address: str | None = None) -> int:
    """Clear every lock and count of ``identifier`` (from every address), and ``address``'s own if given.
    Returns the throttle rows removed; audited as ``login.unlocked`` (even when nothing was locked)."""
    region = ctx.settings.default_phone_region
    acct = identifier_key(identifier, region)
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        user = await users_repo.find(conn, identifier.strip()[:320], region)
        removed = await store.clear_throttles_of(conn, acct)
        if address:
            removed += await store.clear_throttles_of(conn, "login:ip:" + address.strip()[:64], prefix=False)
        await audit.record(conn, "login.unlocked", at=now, actor=actor, subject=user.id if user else None,
                           ip=address, removed=removed)
    return removed
