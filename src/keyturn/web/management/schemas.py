"""Request-model building blocks shared by every management-API endpoint, and the error answers each route
documents. The answer models are the wire shapes of ``keyturn.wire``, shared with the CLI.

``Text`` and its shorter kin: a JSON string (never a number or bool coerced to one) without NUL, other
control characters or lone surrogates (keyturn.core.text), at most so many characters. ``Patch[T]``: a
field of a partial update: absent means unchanged, ``null`` is refused with 400 naming the field (it never
means "clear", so an update cannot widen access by accident; docs/management-api.md). Its OpenAPI schema
is T's alone, not nullable.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

from keyturn.core.text import text_problem
from keyturn.web.responses import error_answers


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(problem)
    return value


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("must not be null (omit the field to leave it unchanged)")
    return value


def _not_nullable(schema: dict[str, Any]) -> None:
    """OpenAPI: a Patch field is T, not T | null, and has no default (absent means unchanged)."""
    alternatives = schema.pop("anyOf", None)
    if alternatives:
        schema.update(next(a for a in alternatives if a.get("type") != "null"))
    schema.pop("default", None)


# The length bound sits on the string itself, before the character check (so its message is the usual one).
Text = Annotated[StrictStr, Field(max_length=2048), BeforeValidator(_clean)]
Name = Annotated[StrictStr, Field(max_length=200), BeforeValidator(_clean)]
Word = Annotated[StrictStr, Field(max_length=100), BeforeValidator(_clean)]  # roles, key names, permissions
Id = Annotated[StrictStr, Field(max_length=64), BeforeValidator(_clean)]
UserRef = Annotated[StrictStr, Field(max_length=320), BeforeValidator(_clean)]  # id, email, phone, username

T = TypeVar("T")
Patch = Annotated[T | None, BeforeValidator(_not_null), Field(json_schema_extra=_not_nullable)]


class Strict(BaseModel):
    """Unknown fields are refused (no mass assignment of ids, owners, audit fields)."""

    model_config = ConfigDict(extra="forbid")


# The error answers every accounts, API-key and decision route documents (OpenAPI).
ACCESS_ERRORS = error_answers({
    400: "Invalid input (INVALID_REQUEST, INVALID_ROLE, AMBIGUOUS_CREDENTIALS…)",
    401: "Missing, malformed, expired, revoked or disabled credential",
    403: "Authenticated, but the named permission is missing",
    404: "No such object, or not visible to the caller",
    409: "Conflict (duplicate name, already a member…)",
})
