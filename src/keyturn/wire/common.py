"""What every wire shape shares: the time format, the error shape, and the dump both edges send."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from keyturn.core.errors import ApiError

T = TypeVar("T")


def iso(ts: float | None) -> str | None:
    """Epoch seconds as the management API writes times (seed 000): UTC, milliseconds, ``Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def absent(value: object) -> bool:
    """``exclude_if`` of a secret field: a shape without its secret has no such key at all (not ``null``)."""
    return value is None


def plain(shape: BaseModel | Sequence[BaseModel]) -> Any:
    """A shape (or a list of them) as JSON-ready data: the HTTP answer's body and the CLI's ``--json``."""
    if isinstance(shape, BaseModel):
        return shape.model_dump(mode="json")
    return [s.model_dump(mode="json") for s in shape]


class Ok(BaseModel, Generic[T]):
    # The envelope of seed 000's answers: {"status": "OK", "data": …}. A subclass names each one (its OpenAPI
    # component), and has no docstring: that would become the component's description.
    status: Literal["OK"] = "OK"
    data: T


class ErrorOut(BaseModel):
    """The management API's one error shape."""  # (the CLI prints it too, on stderr; this text is in OpenAPI)

    status: Literal["ERROR"] = "ERROR"
    error: str = Field(description="Machine-readable code, e.g. INVALID_SCOPE, PERMISSION_DENIED")
    message: str

    @classmethod
    def of(cls, exc: ApiError) -> ErrorOut:
        return cls(error=exc.code, message=exc.message)
