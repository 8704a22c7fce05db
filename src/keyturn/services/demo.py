"""Demo data for `keyturn serve --demo`: idempotent; secrets are re-issued on each run (shown once)."""

from __future__ import annotations

from typing import Any

from keyturn.core import paths
from keyturn.core.models import Principal
from keyturn.core.secrets import digest
from keyturn.services import api_keys, credentials
from keyturn.services.accounts import create_demo_merchant
from keyturn.services.context import Services
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from keyturn.services.users import create_user, find_user
from keyturn.storage import api_keys as api_keys_repo
from keyturn.storage import clients as clients_repo

DEMO_EMAIL = "demo@keyturn.test"
DEMO_PHONE = "+6421234567890"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - published demo data, development only
# Seed 001 (Centrapay's "Auth" page) publishes its test merchant API key; the demo imports it into its test
# merchant account, so the seed's curl line works verbatim against `make demo`.
SEED_001_TEST_KEY = "f32c5497297084e5354b47c40d5ccacb109ce483"  # noqa: S105 - published in seed 001
SEED_001_KEY_NAME = "seed-001-test-merchant"


async def create_demo_data(ctx: Services, base_url: str) -> dict[str, Any]:
    user = await find_user(ctx, DEMO_EMAIL)
    if user is None:
        user, _ = await create_user(ctx, email=DEMO_EMAIL, phone_number=DEMO_PHONE, password=DEMO_PASSWORD,
                                    given_name="Demo", family_name="User", preferred_username="demo",
                                    email_verified=True, phone_number_verified=True, actor="demo")
    owner = Principal(kind="user", id=user.id)
    async with ctx.engine.connect() as conn:
        existing = [c for c in await clients_repo.list_by_owner(conn, user.id, "credential") if c.name == "my.app.cu"]
    if existing:
        issued = await credentials.rotate_secret(ctx, owner, existing[0].client_id)
    else:
        issued = await credentials.create(ctx, owner, {
            "name": "my.app.cu", "domain": ".*tropipay.com.* www.my.app.cu *.localhost.*",
            "scope": "ALLOW_EXTERNAL_CHARGE BLOCKED_MONEY_OUT ALLOW_OTA_CHARGE"})
    client_id, secret = issued.record.client_id, issued.secret
    user_token, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="", kind="user",
                                      now=ctx.clock())
    data: dict[str, Any] = {
        "user": {"email": DEMO_EMAIL, "phone_number": DEMO_PHONE, "password": DEMO_PASSWORD, "id": user.id},
        "user_access_token": user_token,
        "credential": {"client_id": client_id, "client_secret": secret},
        "try": {
            "discovery": base_url + paths.AS_METADATA,
            "jwks": base_url + paths.JWKS,
            "token": f"curl -s -X POST {base_url}{paths.ACCESS_TOKEN} -H 'Content-Type: application/json' "
                     f"-d '{{\"grant_type\":\"client_credentials\",\"client_id\":\"{client_id}\","
                     f"\"client_secret\":\"{secret}\"}}'",
        },
    }
    await create_demo_merchant(ctx, user.id, data, base_url)  # access model: test merchant account + terminal API key
    await import_seed_key(ctx, data, base_url)
    from keyturn.services.oidc.demo import add_demo_client
    await add_demo_client(ctx, user, data, base_url)
    await add_registration(ctx, data, base_url)
    return data


async def add_registration(ctx: Services, data: dict[str, Any], base_url: str) -> None:
    """With registration on (``serve --demo`` turns it on: initial_token), a fresh initial access token
    (a day, ten registrations) and the RFC 7591 request that uses it (docs/registration.md)."""
    if ctx.settings.registration == "off":
        return
    from keyturn.services.oidc.registration import issue_initial_token
    issued = await issue_initial_token(ctx, expires_in=86400, uses=10, actor="demo")
    data["registration"] = {"initial_access_token": issued.secret, "mode": ctx.settings.registration}
    body = ('{"client_name":"My RP","redirect_uris":["http://127.0.0.1:3000/callback"],'
            '"grant_types":["authorization_code","refresh_token"],"scope":"openid email offline_access"}')
    data["try"]["register"] = (f"curl -s -X POST {base_url}{paths.REGISTER} -H 'Authorization: Bearer "
                               f"{issued.secret}' -H 'Content-Type: application/json' -d '{body}'")


async def import_seed_key(ctx: Services, data: dict[str, Any], base_url: str) -> None:
    """Seed 001's published test merchant key, imported (merchant-terminal) into the demo's test merchant
    account once; later runs find it there and leave it as it is."""
    account_id = data["test_merchant"]["account_id"]
    async with ctx.engine.connect() as conn:
        found = await api_keys_repo.find_api_key_by_digest(conn, digest(SEED_001_TEST_KEY))
    if found is None:
        await api_keys.import_key(ctx, None, account_id, SEED_001_KEY_NAME, "merchant-terminal", SEED_001_TEST_KEY)
    elif found[0].account_id != account_id:  # imported by hand elsewhere: not the demo's to move
        return
    data["test_merchant"]["seed_001_api_key"] = SEED_001_TEST_KEY
    data["try"]["seed_001_test_key"] = (
        f'curl -X GET "{base_url}/api/account-memberships" -H "X-Api-Key: {SEED_001_TEST_KEY}"'
    )
