"""Demo data for the OIDC provider: a public, first-party client like seed 001's browser example."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from keyturn.core import paths
from keyturn.core.models import User
from keyturn.services.context import Services
from keyturn.services.oidc import clients as oidc_clients
from keyturn.storage import clients as clients_repo

DEMO_CLIENT_NAME = "Seed 001 browser demo"
DEMO_ORIGIN = "http://localhost:8080"


async def add_demo_client(ctx: Services, user: User, data: dict[str, Any], base_url: str) -> None:
    """The demo's public client; none under ``KEYTURN_FAPI2``, which allows no public client (docs/fapi2.md)."""
    if ctx.settings.fapi2:
        data["oidc_client"] = {"skipped": "KEYTURN_FAPI2 is on: FAPI 2.0 allows no public client (docs/fapi2.md)"}
        return
    async with ctx.engine.connect() as conn:
        existing = [c for c in await clients_repo.list_by_kind(conn, "oidc") if c.name == DEMO_CLIENT_NAME]
    if existing:
        client_id = existing[0].client_id
    else:
        client_id = (await oidc_clients.create(
            ctx, name=DEMO_CLIENT_NAME, public=True, redirect_uris=[f"{DEMO_ORIGIN}/oidc-callback"],
            post_logout_redirect_uris=[f"{DEMO_ORIGIN}/"], origins=[DEMO_ORIGIN], first_party=True,
            actor="demo")).record.client_id
    query = urlencode({"response_type": "code", "client_id": client_id,
                       "redirect_uri": f"{DEMO_ORIGIN}/oidc-callback", "scope": "openid",
                       "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                       "code_challenge_method": "S256", "u": user.phone_number or ""})
    data["oidc_client"] = {
        "client_id": client_id, "redirect_uri": f"{DEMO_ORIGIN}/oidc-callback",
        "authority": base_url, "discovery": base_url + paths.OIDC_METADATA,
        "login_url": f"{base_url}{paths.AUTHORIZE}?{query}",
        "code_verifier_for_login_url": "dBjftJeZ4CVP-mJ0kzIDl2NGmVVyD0sunw2MMAcCwR8",
    }
