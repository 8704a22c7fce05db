"""``GET /health``: the answer a load balancer polls (no database, no authentication)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.web.responses import json_response


async def health(request: Request) -> Response:
    return json_response({"status": "ok"}, no_store=False)
