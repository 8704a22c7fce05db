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
    createdAt: str | None = Field(description="When it was created or imported")
    createdBy: str | None = Field(description="Who created or imported it: user:…, api-key:…, credential:… or "
                                  "operator (the CLI)")
    modifiedAt: str | None = Field(description="When it was last changed (enabled, disabled, its rate limit); "
                                   "its creation until then. Not changed by use (lastUsedAt)")
    modifiedBy: str | None = Field(description="Who last changed it, as createdBy; null: changed before Keyturn "
                                   "recorded who")
    updatedAt: str | None = Field(description="The same as modifiedAt (its name before modifiedAt)")
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
                   modifiedAt=iso(key.updated_at), modifiedBy=key.updated_by, updatedAt=iso(key.updated_at),
                   lastUsedAt=iso(key.last_used_at), secret=secret,
                   rateLimit=key.rate_limit, imported=key.imported)
