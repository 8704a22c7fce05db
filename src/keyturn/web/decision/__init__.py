"""The decision API: may this credential do that? ``POST /api/authorize`` and ``GET /auth/forward``."""
