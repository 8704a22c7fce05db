"""The CLI's signing-key listing (``keyturn keys list | rotate``): public facts only, never key material."""

from __future__ import annotations

from pydantic import BaseModel

from keyturn.core.models import StoredKey


class SigningKeyOut(BaseModel):
    kid: str
    alg: str
    created_at: float
    activates_at: float
    retired_at: float | None
    published: bool
    signing: bool

    @classmethod
    def of(cls, key: StoredKey, *, published: bool, signing: bool) -> SigningKeyOut:
        return cls(kid=key.kid, alg=key.alg, created_at=key.created_at, activates_at=key.activates_at,
                   retired_at=key.retired_at, published=published, signing=signing)


class KeyRotatedOut(BaseModel):
    kid: str
    alg: str
    keys: list[SigningKeyOut]
