"""The one typed way from a request to the application's :class:`~keyturn.services.context.Services`."""

from __future__ import annotations

from starlette.requests import Request

from keyturn.services.context import Services


def services(request: Request) -> Services:
    """The services ``create_app`` was built over (``app.state`` is an untyped bag: checked here, once)."""
    found = request.app.state.ctx
    if not isinstance(found, Services):
        raise TypeError("the application was not built by create_app")
    return found
