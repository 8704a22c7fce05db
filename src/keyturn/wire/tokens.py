"""An access token as ``keyturn tokens issue`` prints it: RFC 6749 §5.1's successful response."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class AccessTokenOut(BaseModel):
    # RFC 6749 §5.1 names and order as the token endpoint sends them; RFC 6750 §4: the token type is Bearer.
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    scope: str
