"""The provider's URL paths, each written once.

The HTTP route table (keyturn.web.routes) serves them; discovery (RFC 8414 §2) and the
authorization flow (the interaction pages) link to them. The management API's other paths
are declared once, by their FastAPI routers, for the OpenAPI document.
"""

from __future__ import annotations

# Liveness (cheap, no database; /health is its older spelling) and readiness (database, migrations, keys)
HEALTHZ = "/healthz"
HEALTH = "/health"
READYZ = "/readyz"
METRICS = "/metrics"  # Prometheus (keyturn.web.server.metrics)

# OAuth 2.0 / OpenID Connect endpoints (RFC 6749 §3, RFC 7662, RFC 7009, OIDC Core §5.3, RP-Initiated Logout)
AUTHORIZE = "/authorize"
TOKEN = "/token"
INTROSPECT = "/introspect"
REVOKE = "/revoke"
USERINFO = "/userinfo"
LOGOUT = "/logout"
# RFC 7591 §3 dynamic client registration, and RFC 7592 §2 each registered client's configuration endpoint
REGISTER = "/register"
REGISTERED_CLIENT = "/register/{client_id}"
PAR = "/par"  # RFC 9126 pushed authorization requests (FAPI 2.0)
# Seed 000's spellings of the authorization and token endpoints
ACCESS_AUTHORIZE = "/api/v2/access/authorize"
ACCESS_TOKEN = "/api/v2/access/token"

# Metadata (RFC 8414 §3, OIDC Discovery §4) and the key set, with the aliases clients look for
AS_METADATA = "/.well-known/oauth-authorization-server"
OIDC_METADATA = "/.well-known/openid-configuration"
JWKS = "/.well-known/jwks.json"
JWKS_ALIASES = ("/jwks.json", "/jwks")

# The hosted login and consent pages of one pending authorization request
INTERACTION = "/interaction/{interaction_id}"
INTERACTION_LOGIN = INTERACTION + "/login"
INTERACTION_CONSENT = INTERACTION + "/consent"

# The management and decision API live under this prefix; the account list is also a hot path
API_PREFIX = "/api/"
ACCOUNT_MEMBERSHIPS = "/api/account-memberships"
# The decision endpoint (seed 001's services ask it), and TropiPay's spelling of it (seed 000's permission check)
DECISION = "/api/authorize"
CREDENTIAL_GRANT_ALLOW = "/api/v2/credential/grant/allow"


def interaction(interaction_id: str, path: str = INTERACTION) -> str:
    """``path`` (one of the INTERACTION paths) for one interaction."""
    return path.format(interaction_id=interaction_id)
