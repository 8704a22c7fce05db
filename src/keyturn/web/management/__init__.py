"""The management API (``/api/…``): credentials, accounts and members, API keys, OIDC clients.

FastAPI routers, so the OpenAPI document describes every operation; the request and answer models
are the only wire shapes (keyturn.web.management.schemas holds the shared building blocks).
"""
