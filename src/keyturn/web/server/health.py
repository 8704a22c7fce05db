"""Probes for load balancers and orchestrators (no authentication).

``GET /healthz`` (and its older spelling ``/health``): liveness, the process answers; no database.
``GET /readyz``: readiness (keyturn.services.readiness): 200 with every check listed, or 503 naming the
failing check, ``Retry-After`` and the checks; cached about a second, so polling it is cheap.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.services.outage import RETRY_AFTER
from keyturn.web.responses import json_response
from keyturn.web.state import services


async def health(request: Request) -> Response:
    return json_response({"status": "ok"}, no_store=False)


async def ready(request: Request) -> Response:
    result = await services(request).readiness.check()
    if result.ready:
        return json_response(result.as_dict())
    return json_response(result.as_dict(), 503, {"Retry-After": str(RETRY_AFTER)})
