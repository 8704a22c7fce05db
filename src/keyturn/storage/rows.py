"""Row → domain record mapping shared by the repositories."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keyturn.core.models import (
    Account,
    ApiKey,
    AuthorizationCode,
    Client,
    Grant,
    Member,
    RefreshToken,
    StoredKey,
    Throttle,
    User,
)

Row = Mapping[Any, Any]  # a SQLAlchemy RowMapping (keyed by column name), or a dict of some of its items


def to_user(r: Row) -> User:
    return User(**r)


def to_client(r: Row) -> Client:
    d = dict(r)
    for k in ("grant_types", "redirect_uris", "post_logout_redirect_uris", "allowed_origins"):
        d[k] = tuple(d[k] or ())
    return Client(**d)


def to_account(r: Row) -> Account:
    d = dict(r)
    d["flags"] = tuple(d["flags"] or ())
    d["subscriptions"] = tuple(d["subscriptions"] or ())
    return Account(**d)


def to_api_key(r: Row) -> ApiKey:
    d = dict(r)
    d.pop("digest", None)
    return ApiKey(**d)


def to_grant(r: Row) -> Grant:
    d = dict(r)
    d.pop("revoked_reason", None)
    return Grant(**d)


def to_refresh_token(r: Row) -> RefreshToken:
    return RefreshToken(**r)


def to_code(r: Row) -> AuthorizationCode:
    return AuthorizationCode(**r)


def to_member(r: Row) -> Member:
    return Member(**r)


def to_throttle(r: Row) -> Throttle:
    return Throttle(**r)


def to_stored_key(r: Row) -> StoredKey:
    return StoredKey(**r)
