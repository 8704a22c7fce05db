"""Logging set-up shared by the CLI and every uvicorn worker process."""

from __future__ import annotations

import logging

from keyturn.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(settings: Settings) -> None:
    """Application logs to standard error at ``log_level``; the access log is separate (web/accesslog.py).

    Runs in the CLI and again in each worker (a spawned worker starts with no handlers);
    it leaves alone a root logger that something else already configured.
    """
    logging.basicConfig(level=settings.log_level.upper(), format=FORMAT)
    logging.getLogger("keyturn").setLevel(settings.log_level.upper())
