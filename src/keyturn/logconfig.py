"""Logging set-up shared by the CLI and every uvicorn worker process.

- ``KEYTURN_LOG_FORMAT=text`` (the default): ``time level logger message``, and `` rid=…`` when the
  line belongs to a request; ``json``: one object per line (``time``, ``level``, ``logger``,
  ``message``, ``request_id``, ``exc_info`` when there is one).
- Every record passes :class:`KeyturnFilter`: it carries the request id of the request being served
  (keyturn.core.logcontext), and every token or secret Keyturn issues (and every JWT) in its message,
  its arguments or its traceback is masked (keyturn.core.secrets.mask_secrets).
- A line the stream cannot take (a full disk, a closed pipe) is counted in
  ``keyturn_log_lines_dropped_total{stream="stderr"}`` instead of being lost silently (or of a
  traceback about it written to the same broken stream).

uvicorn runs with ``log_config=None``, so its lines take this path too.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

from keyturn.core.logcontext import current_request_id
from keyturn.core.secrets import mask_secrets
from keyturn.metrics import LOG_LINES_DROPPED
from keyturn.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class KeyturnFilter(logging.Filter):
    """Stamps the request id on a record and masks secrets in what it will print."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        if not getattr(record, "keyturn_masked", False):
            message = record.getMessage()
            masked = mask_secrets(message)
            if record.args or masked != message:
                record.msg, record.args = masked, None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = mask_secrets(record.exc_text)
            record.keyturn_masked = True
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)
        rid = getattr(record, "request_id", None)
        return f"{line} rid={rid}" if rid else line


def iso_time(seconds: float) -> str:
    """UTC with milliseconds, as the access log writes it: ``2026-11-23T11:10:35.201Z``."""
    whole = int(seconds)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(whole))}.{int((seconds - whole) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": iso_time(record.created), "level": record.levelname, "logger": record.name,
                               "message": record.getMessage(), "request_id": getattr(record, "request_id", None)}
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_secrets(self.formatException(record.exc_info))
        if record.exc_text:
            out["exc_info"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


class KeyturnHandler(logging.StreamHandler[IO[str]]):
    """A stream handler whose failed writes are counted, not printed (they would fail the same way)."""

    def __init__(self, stream: IO[str], stream_name: str = "stderr") -> None:
        super().__init__(stream)
        self.stream_name = stream_name
        self.addFilter(KeyturnFilter())

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        LOG_LINES_DROPPED.labels(stream=self.stream_name).inc()


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> None:
    """Application logs to standard error at ``log_level`` in ``log_format``; the access log is separate
    (web/server/accesslog.py).

    Runs in the CLI and again in each worker (a spawned worker starts with no handlers). A root logger
    that something else already configured keeps its handlers; they get the filter (ids and masking).
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, KeyturnHandler)]
    if not root.handlers:
        ours = [KeyturnHandler(stream or sys.stderr)]
        root.addHandler(ours[0])
        root.setLevel(settings.log_level.upper())
    for mine in ours:
        mine.setFormatter(formatter(settings.log_format))
    for handler in root.handlers:
        if not any(isinstance(f, KeyturnFilter) for f in handler.filters):
            handler.addFilter(KeyturnFilter())
    logging.getLogger("keyturn").setLevel(settings.log_level.upper())
