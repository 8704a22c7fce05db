"""The OpenID Connect provider's use cases: requests, sessions, claims, the authorization flow, logout."""
