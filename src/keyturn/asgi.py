"""ASGI entry point for uvicorn workers: settings from the environment, built at start-up."""

from __future__ import annotations

from starlette.types import ASGIApp

from keyturn.logconfig import configure_logging
from keyturn.services.context import build_services
from keyturn.settings import load_settings, warn_development
from keyturn.web.app import create_asgi


def app_factory() -> ASGIApp:
    settings = load_settings(warn=False)
    configure_logging(settings)
    warn_development(settings)
    return create_asgi(build_services(settings))
