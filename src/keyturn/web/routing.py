"""What a route is, as data: methods, path, endpoint, audience, and whether the lean front serves it.

A matched route records itself in the ASGI scope under :data:`ROUTE_KEY`, in the app (the route
classes below) and in the lean front alike, so the error pipeline (keyturn.web.errors) answers in
the shape of the route's audience without looking at the URL. The table itself: keyturn.web.routes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, ClassVar

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.routing import Route as StarletteRoute
from starlette.types import Scope

from keyturn.core.text import RepeatedMember, unique_members

Endpoint = Callable[[Request], Awaitable[Response]]
ROUTE_KEY = "keyturn.route"  # the matched Route, in the ASGI scope


class Audience(Enum):
    """Who calls a route; it decides the error shape and the CORS treatment."""

    PROTOCOL = "protocol"  # OAuth clients and resource servers: RFC 6749 §5.2 / RFC 6750 §3 answers
    PAGES = "pages"  # a person's browser: HTML pages and redirects
    MANAGEMENT = "management"  # the management API: its own error shape, in the OpenAPI document
    DECISION = "decision"  # gateways and services asking whether a credential may do something
    SERVER = "server"  # load balancers and operators (health)


class Cors(IntEnum):
    """How keyturn.web.cors treats a route's path."""

    NONE = 0  # no CORS header ever (RFC 9700 §2.6 for the authorization endpoint; HTML pages)
    PREFLIGHT_ONLY = 1  # the policy answers preflights; the endpoint decides its own answers (R95)
    FULL = 2  # the policy answers preflights and decorates every answer, errors included


DEFAULT_CORS = {Audience.PROTOCOL: Cors.PREFLIGHT_ONLY, Audience.PAGES: Cors.NONE, Audience.MANAGEMENT: Cors.FULL,
                Audience.DECISION: Cors.FULL, Audience.SERVER: Cors.NONE}


@dataclass(frozen=True, slots=True)
class Route:
    """One route. ``cors`` defaults from the audience; ``oauth_errors`` (framework errors such as a 405 or
    an unexpected failure answered in RFC 6749 §5.2 JSON) defaults to protocol routes that take OAuth requests.
    ``in_router``: declared by its module's FastAPI router (for OpenAPI), so create_app does not add it again."""

    methods: tuple[str, ...]
    path: str
    endpoint: Endpoint
    audience: Audience
    hot: bool = False  # served by the lean front directly (keyturn.web.server.fastpath)
    cors: Cors | None = None
    oauth_errors: bool | None = None
    in_router: bool = False
    cors_kind: Cors = field(init=False)
    oauth_json: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cors_kind", DEFAULT_CORS[self.audience] if self.cors is None else self.cors)
        oauth = self.audience is Audience.PROTOCOL if self.oauth_errors is None else self.oauth_errors
        object.__setattr__(self, "oauth_json", oauth)


def matched(scope: Scope) -> Route | None:
    """The route that matched this request (fully, or by path only for a 405); None: no route did."""
    found = scope.get(ROUTE_KEY)
    return found if isinstance(found, Route) else None


class TableRoute(StarletteRoute):
    """A route of the table in the FastAPI app, recording itself in the scope when it matches."""

    def __init__(self, route: Route) -> None:
        super().__init__(route.path, route.endpoint, methods=list(route.methods), include_in_schema=False)
        self.route = route

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child[ROUTE_KEY] = self.route
        return match, child


class StrictJSONRequest(Request):
    """A request whose JSON body refuses repeated member names (FastAPI answers 400 through the pipeline)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = json.loads(await self.body(), object_pairs_hook=unique_members)
            except RepeatedMember as exc:  # as FastAPI reports malformed JSON: a 400 through the pipeline
                raise json.JSONDecodeError(str(exc), "", 0) from None
        return self._json


class AudienceRoute(APIRoute):
    """A FastAPI route of a router serving one audience (set by the subclass), recording itself likewise;
    its JSON bodies are parsed strictly (:class:`StrictJSONRequest`)."""

    audience: ClassVar[Audience]

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.route = Route(tuple(sorted(self.methods or ())), self.path, endpoint, self.audience, in_router=True)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child[ROUTE_KEY] = self.route
        return match, child


class ManagementRoute(AudienceRoute):
    audience = Audience.MANAGEMENT


class DecisionRoute(AudienceRoute):
    audience = Audience.DECISION
