"""ASGI entry point for uvicorn workers: settings from the environment, built at start-up."""

from __future__ import annotations

from fastapi import FastAPI

from keyturn.settings import load_settings
from keyturn.web.app import create_app


def app_factory() -> FastAPI:
    return create_app(load_settings())
