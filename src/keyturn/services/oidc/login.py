"""Password login with anti-automation (ASVS 6.3.1, RFC 6819 §5.1.4.2.3): per account and per IP.

Policy (throttles table, so every worker sees the same counts):
- per account (the identifier in its normal form, known or not, so the counter cannot reveal who
  exists; ``+44 7700 900123`` and ``07700 900123`` are one counter, keyturn.core.identifiers):
  after ``login_max_failures`` failures within an hour, each further failure locks the identifier for
  30 s, doubling up to 15 minutes; a successful login clears it.
- the lockout page and its ``Retry-After`` state the same wait: seconds below two minutes, else whole
  minutes with ``Retry-After`` rounded up to those minutes (RFC 9110 §10.2.3).
- per IP: after 50 failures within 15 minutes the address is locked for 15 minutes.
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


class LoginFailed(Exception):
    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def _keys(identifier: str, ip: str | None, region: str | None) -> tuple[str, str]:
    return ("login:acct:" + digest(login_key(identifier, region))[:40],
            "login:ip:" + (ip or "unknown")[:64])


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


async def _locked_for(ctx: Services, keys: tuple[str, str], now: float) -> float:
    async with ctx.engine.connect() as conn:
        worst = 0.0
        for key in keys:
            row = await store.get_throttle(conn, key)
            if row and row.locked_until and row.locked_until > now:
                worst = max(worst, row.locked_until - now)
    return worst


async def authenticate(ctx: Services, identifier: str, password: str, ip: str | None, now: float) -> User:
    identifier = identifier.strip()[:320]
    region = ctx.settings.default_phone_region
    keys = _keys(identifier, ip, region)
    wait = await _locked_for(ctx, keys, now)
    if wait > 0:
        metrics.LOGIN_FAILURES.labels("locked").inc()
        metrics.RATE_LIMITED.labels("login").inc()
        raise lockout(wait)
    user: User | None = None
    if identifier:
        async with ctx.engine.connect() as conn:
            user = await users_repo.find(conn, identifier, region)
    # Argon2 work happens in a thread, the same for a known or unknown user.
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password[:256])
    if ok and user is not None and not user.disabled:
        async with ctx.engine.begin() as conn:
            await store.clear_throttle(conn, keys[0])
            await audit.record(conn, "login.succeeded", at=now, subject=user.id, ip=ip)
        return user
    async with ctx.engine.begin() as conn:
        failures = await store.record_failure(conn, keys[0], now, ACCOUNT_WINDOW)
        over = failures - ctx.settings.login_max_failures
        lock_for = 0.0
        if over >= 0:
            lock_for = min(MAX_LOCK, BASE_LOCK * 2 ** min(over, 10))
            await store.lock(conn, keys[0], now + lock_for)
        ip_failures = await store.record_failure(conn, keys[1], now, IP_WINDOW)
        if ip_failures >= IP_MAX_FAILURES:
            lock_for = max(lock_for, MAX_LOCK)
            await store.lock(conn, keys[1], now + MAX_LOCK)
        reason = "unknown_user" if user is None else "disabled" if ok else "bad_password"
        metrics.LOGIN_FAILURES.labels(reason).inc()
        await audit.record(conn, "login.failed", at=now, subject=user.id if user else None, ip=ip,
                           failures=failures)
    if lock_for:
        raise lockout(lock_for)
    raise LoginFailed(BAD_CREDENTIALS)
