"""Row → domain record mapping shared by the repositories."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from keyturn.core.models import Account, ApiKey, Client, Grant

R = TypeVar("R")
Row = Mapping[Any, Any]  # a SQLAlchemy RowMapping (keyed by column name), or a dict of some of its items


def to_record(cls: type[R], r: Row) -> R:
    """A record whose fields are exactly the row's columns (User, RefreshToken, AuthorizationCode…)."""
    return cls(**r)


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
