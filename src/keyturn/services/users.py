"""Users: creation (with the individual account every user gets) and lookup."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from keyturn.core.errors import ApiError
from keyturn.core.identifiers import (
    email_problem,
    normalise_email,
    normalise_username,
    phone_e164,
    username_problem,
)
from keyturn.core.models import Account, User
from keyturn.services.context import Services
from keyturn.services.passwords import check_password_policy, hash_password
from keyturn.storage import accounts as accounts_repo
from keyturn.storage import audit
from keyturn.storage import users as users_repo

EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")


def user_claims(user: User) -> dict[str, Any]:
    return {
        "sub": user.id, "email": user.email, "email_verified": user.email_verified,
        "phone_number": user.phone_number, "phone_number_verified": user.phone_number_verified,
        "given_name": user.given_name, "family_name": user.family_name,
        "preferred_username": user.preferred_username,
    }


async def create_user(ctx: Services, *, email: str | None, phone_number: str | None, password: str,
                      given_name: str | None = None, family_name: str | None = None,
                      preferred_username: str | None = None, email_verified: bool = False,
                      phone_number_verified: bool = False, actor: str = "operator") -> tuple[User, str]:
    """Create a user and their individual account, whose member they are with the policy's owner role.
    Returns (user, account id)."""
    if not email and not phone_number:
        raise ApiError(400, "INVALID_REQUEST", "a user needs an email or a phone number")
    if email is not None:
        email = normalise_email(email)  # the form users_repo.find compares
        if not EMAIL_RE.fullmatch(email):
            raise ApiError(400, "INVALID_REQUEST", "email is not a valid address")
        problem = email_problem(email)
        if problem is not None:
            raise ApiError(400, "INVALID_REQUEST", problem)
    if preferred_username is not None:
        preferred_username = normalise_username(preferred_username)  # the form users_repo.find compares
        problem = username_problem(preferred_username)
        if problem is not None:
            raise ApiError(400, "INVALID_REQUEST", problem)
    if phone_number is not None:
        phone_number = phone_e164(phone_number, ctx.settings.default_phone_region)
        if phone_number is None:
            raise ApiError(400, "INVALID_REQUEST", "phone number must be in E.164 form, like +6421234567890"
                           + ("" if ctx.settings.default_phone_region else
                              " (set KEYTURN_DEFAULT_PHONE_REGION to accept national numbers)"))
    try:
        check_password_policy(password)
    except ValueError as exc:
        raise ApiError(400, "INVALID_REQUEST", str(exc)) from None
    owner_role = ctx.policy.owner_role  # KEYTURN_POLICY_FILE may name another owner role
    now = ctx.clock()
    user = User(id=str(uuid.uuid4()), email=email, phone_number=phone_number,
                given_name=given_name, family_name=family_name, preferred_username=preferred_username,
                email_verified=email_verified, phone_number_verified=phone_number_verified,
                password_hash=hash_password(password), disabled=False, created_at=now, updated_at=now,
                password_changed_at=now)
    account = Account(id=str(uuid.uuid4()), name=user.preferred_username or user.email or user.phone_number or "",
                      type="individual", test=False, flags=(), subscriptions=(), created_at=now,
                      created_by=actor, updated_at=now, updated_by=actor)
    try:
        async with ctx.engine.begin() as conn:
            await users_repo.insert(conn, user)
            await accounts_repo.insert(conn, account)
            await accounts_repo.add_member(conn, account.id, user.id, owner_role, now)
            await accounts_repo.link_individual(conn, user.id, account.id)
            await audit.record(conn, "user.created", at=now, actor=actor, subject=user.id)
    except IntegrityError:
        raise ApiError(409, "CONFLICT", "a user with this email, phone number or username exists") from None
    return user, account.id


async def find_user(ctx: Services, ref: str) -> User | None:
    async with ctx.engine.connect() as conn:
        return await users_repo.find(conn, ref, ctx.settings.default_phone_region)
