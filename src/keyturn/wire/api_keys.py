"""An account's API key (seed 001): the secret is in the create answer only, and absent elsewhere."""

from __future__ import annotations

from pydantic import BaseModel, Field

from keyturn.core.models import ApiKey
from keyturn.wire.common import absent, iso


class ApiKeyOut(BaseModel):
    id: str
    accountId: str
    name: str
    role: str
    enabled: bool
    hint: str = Field(description="Prefix and last characters, to recognise the key")
    createdAt: str | None
    createdBy: str | None
    updatedAt: str | None
    lastUsedAt: str | None
    rateLimit: str | None = Field(None, description="Requests allowed: N/S (at most N in any S seconds); null: none")
    imported: bool = Field(False, description="true: brought over from another service in its own format "
                           "(keyturn api-keys import, POST …/api-keys/import); the hint then shows its last characters")
    secret: str | None = Field(None, exclude_if=absent,
                               description="The key itself: only in the create answer, shown once")

    @classmethod
    def of(cls, key: ApiKey, secret: str | None = None) -> ApiKeyOut:
        return cls(id=key.id, accountId=key.account_id, name=key.name, role=key.role, enabled=key.enabled,
                   hint=key.hint, createdAt=iso(key.created_at), createdBy=key.created_by,
                   updatedAt=iso(key.updated_at), lastUsedAt=iso(key.last_used_at), secret=secret,
                   rateLimit=key.rate_limit, imported=key.imported)
