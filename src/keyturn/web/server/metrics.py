"""``GET /metrics`` (Prometheus text format) and :class:`RequestMetrics`, the layer that counts every request.

Who may scrape (docs/deployment.md, "Metrics"): an address in ``KEYTURN_METRICS_ALLOW`` (loopback by
default); any other address gets the 404 of a path that does not exist (R104: nothing tells a prober
the endpoint is there). With ``KEYTURN_METRICS_TOKEN`` set, an allowed address must also send
``Authorization: Bearer <token>`` (compared in constant time), else 401. ``KEYTURN_METRICS=false``:
the counting layer is left out of the front and ``/metrics`` is 404 for everyone.

Label values come from small fixed sets: the matched route's *template*
(``/api/v2/credential/{client_id}``, never the raw path; a path no route of the table matches, and the
framework's ``/openapi.json``, is ``other``), a standard method (else ``other``) and the status code. So
a scan of random URLs cannot grow the series without bound.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Scope

from keyturn import metrics
from keyturn.core.addresses import address_in, networks
from keyturn.core.bearer import bearer_token
from keyturn.core.errors import InvalidToken
from keyturn.web.routing import matched
from keyturn.web.server.address import client_ip
from keyturn.web.server.answered import Answered
from keyturn.web.state import services

OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def address_allowed(host: str | None, blocks: tuple[str, ...]) -> bool:
    """Whether the client address ``host`` is inside one of the CIDR ``blocks`` (an IPv4-mapped IPv6 address
    counts as its IPv4 address; an address that is no IP, e.g. a Unix socket's, is refused)."""
    return address_in(host, networks(blocks))


async def metrics_endpoint(request: Request) -> Response:
    settings = services(request).settings
    # the client's address (behind a trusted proxy the real client, never the proxy: web/server/address.py)
    if not settings.metrics or not address_allowed(client_ip(request), settings.metrics_allow):
        raise HTTPException(404, "Not Found")  # what an unknown path answers (R104)
    if settings.metrics_token is not None:
        header = request.headers.get("authorization")
        if header is None:
            raise InvalidToken("authentication required", missing=True)
        presented = bearer_token(header, prefix_optional=False) or ""
        if not hmac.compare_digest(presented.encode(), settings.metrics_token.encode()):
            raise InvalidToken("invalid token")
    return Response(metrics.exposition(), 200, {"cache-control": "no-store"}, media_type=metrics.CONTENT_TYPE)


class RequestMetrics(Answered):
    """ASGI layer: ``keyturn_http_requests_total`` and ``keyturn_http_request_duration_seconds`` per request.

    It sits outside the lean front and the app, so it sees every answer, a failure that escaped as a
    500 included; the route is read from the scope after the answer (keyturn.web.routing.ROUTE_KEY). The
    metric children are looked up once per label set and kept (``labels()`` costs more than ``inc()``).
    """

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[str, Any] = {}

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        route = matched(scope)
        template = route.path if route is not None else OTHER
        method = scope["method"] if scope["method"] in METHODS else OTHER
        key = (template, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = metrics.HTTP_REQUESTS.labels(template, method, str(status))
        counter.inc()
        latency = self._latencies.get(template)
        if latency is None:
            latency = self._latencies[template] = metrics.HTTP_LATENCY.labels(template)
        latency.observe(seconds)
