"""Row → domain record mapping shared by the repositories."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from keyturn.core.models import Account, ApiKey, AuthorizationRequest, Client, Interaction

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R")
Row = Mapping[Any, Any]  # a SQLAlchemy RowMapping (keyed by column name), or a dict of some of its items


def to_record(cls: type[R], r: Row) -> R:
    """A record whose fields are exactly the row's columns (User, RefreshToken, AuthorizationCode…)."""
    return cls(**r)


def to_row(record: DataclassInstance) -> dict[str, Any]:
    """The columns of a record whose fields are exactly its row's columns: the inverse of :func:`to_record`."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


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




# An interaction's row keeps what the pages need in one JSON column, ``params``, under these names (the same
# since the first version, so an interaction stored before an upgrade still loads).
def to_interaction(r: Row) -> Interaction:
    params = r["params"]
    return Interaction(digest=r["id"], client_id=r["client_id"], stage=params["stage"],
                       request=AuthorizationRequest.from_json(params["request"]), browser_digest=params["browser"],
                       csrf=str(params["csrf"]), session_id=params.get("session"), created_at=r["created_at"],
                       expires_at=r["expires_at"], used_at=r["used_at"])


def interaction_row(i: Interaction) -> dict[str, Any]:
    params = {"stage": i.stage, "request": i.request.to_json(), "browser": i.browser_digest, "csrf": i.csrf,
              "session": i.session_id}
    return {"id": i.digest, "client_id": i.client_id, "params": params, "created_at": i.created_at,
            "expires_at": i.expires_at, "used_at": i.used_at}
