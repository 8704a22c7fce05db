"""The OAuth 2.0 / OpenID Connect endpoints: token, introspection and revocation, discovery and the
JWKS, userinfo, and the authorization endpoint."""
