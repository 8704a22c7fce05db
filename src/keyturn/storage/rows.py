"""Row → domain record mapping shared by the repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping

from keyturn.core.models import Account, ApiKey, Client, Grant, User


def to_user(r: RowMapping) -> User:
    return User(**dict(r))


def to_client(r: RowMapping) -> Client:
    d: dict[str, Any] = dict(r)
    for k in ("grant_types", "redirect_uris", "post_logout_redirect_uris", "allowed_origins"):
        d[k] = tuple(d[k] or ())
    return Client(**d)


def to_account(r: RowMapping) -> Account:
    d: dict[str, Any] = dict(r)
    d["flags"] = tuple(d["flags"] or ())
    d["subscriptions"] = tuple(d["subscriptions"] or ())
    return Account(**d)


def to_api_key(r: RowMapping) -> ApiKey:
    d = dict(r)
    d.pop("digest", None)
    return ApiKey(**d)


def to_grant(r: RowMapping) -> Grant:
    d = dict(r)
    d.pop("revoked_reason", None)
    return Grant(**d)
