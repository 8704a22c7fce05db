"""Structured logs (issue 12 item 13): text or JSON lines, the request id on every line, secrets masked,
dropped lines counted (keyturn.logconfig, keyturn.core.logcontext, keyturn.core.secrets.mask_secrets)."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from typing import IO

import pytest
from prometheus_client import REGISTRY

from keyturn.core import secrets
from keyturn.core.logcontext import REQUEST_ID, current_request_id, valid_request_id
from keyturn.logconfig import JsonFormatter, KeyturnFilter, KeyturnHandler, TextFormatter, configure_logging
from keyturn.settings import Settings
from keyturn.web.server.accesslog import LineBuffer

REFRESH = secrets.new_refresh_token()
SECRET = secrets.new_client_secret()
API_KEY = secrets.new_api_key()
JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def dropped(stream: str) -> float:
    return REGISTRY.get_sample_value("keyturn_log_lines_dropped_total", {"stream": stream}) or 0.0


@pytest.fixture
def clean_root() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    keyturn = logging.getLogger("keyturn")
    saved = (list(root.handlers), root.level, keyturn.level)
    root.handlers[:] = []
    yield root
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    keyturn.setLevel(saved[2])


def configured(fmt: str) -> io.StringIO:
    logging.getLogger().handlers[:] = []  # pytest's capture handler joins during the test's call phase
    out = io.StringIO()
    configure_logging(Settings(environment="development", log_format=fmt, log_level="INFO"), stream=out)
    return out


def test_mask_secrets_masks_every_kind_keyturn_issues_and_jwts() -> None:
    text = f"a {REFRESH} b {SECRET} c {API_KEY} d {secrets.new_code()} e {JWT} f kt_test_abc g"
    masked = secrets.mask_secrets(text)
    for value in (REFRESH, SECRET, API_KEY, JWT, "kt_test_abc"):
        assert value not in masked
    assert masked.startswith("a ktrt_…#") and " eyJ…#" in masked and masked.endswith(" g")
    assert secrets.mask_secrets("nothing here") == "nothing here"
    assert secrets.mask_secrets("kt alone, ktx_, eyJ without dots") == "kt alone, ktx_, eyJ without dots"
    # the same secret masks the same way (lines can be correlated), different ones differently
    assert secrets.mask_secrets(REFRESH) == secrets.mask_secrets(REFRESH) != secrets.mask_secrets(REFRESH + "x")


@pytest.mark.parametrize(("value", "ok"), [("abc-123", True), ("a" * 128, True), ("a" * 129, False), ("", False),
                                           ("has space", False), ("line\nbreak", False), ("ü", False),
                                           ("0f8e.req:1/2+3=4@x_y", True)])
def test_valid_request_ids(value: str, ok: bool) -> None:
    assert valid_request_id(value) is ok


def test_json_lines_parse_and_carry_the_request_id(clean_root: logging.Logger) -> None:
    out = configured("json")
    log = logging.getLogger("keyturn.test")
    log.info("outside any request")
    token = REQUEST_ID.set("req-1")
    try:
        log.warning("refused %s for %s", REFRESH, "client-1")
        try:
            raise ValueError(f"bad secret {SECRET}")
        except ValueError:
            log.exception("failed")
    finally:
        REQUEST_ID.reset(token)
    lines = out.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 3
    assert records[0]["request_id"] is None and records[0]["message"] == "outside any request"
    assert {r["request_id"] for r in records[1:]} == {"req-1"}
    assert records[1]["level"] == "WARNING" and records[1]["logger"] == "keyturn.test"
    assert records[1]["message"].startswith("refused ktrt_…#") and records[1]["message"].endswith(" for client-1")
    assert "ValueError" in records[2]["exc_info"] and SECRET not in out.getvalue() and REFRESH not in out.getvalue()
    assert set(records[0]) == {"time", "level", "logger", "message", "request_id"}
    assert records[0]["time"].endswith("Z")


def test_text_lines_append_the_request_id(clean_root: logging.Logger) -> None:
    out = configured("text")
    log = logging.getLogger("keyturn.test")
    log.info("no request")
    token = REQUEST_ID.set("req-2")
    try:
        log.info("key %s", API_KEY)
    finally:
        REQUEST_ID.reset(token)
    first, second = out.getvalue().splitlines()
    assert first.endswith("INFO keyturn.test no request")
    assert second.endswith(" rid=req-2") and API_KEY not in second and "kt_live_…#" in second
    assert current_request_id() is None


def test_configuring_again_switches_the_format_and_keeps_one_handler(clean_root: logging.Logger) -> None:
    out = configured("text")
    configure_logging(Settings(environment="development", log_format="JSON"))
    assert len(clean_root.handlers) == 1 and isinstance(clean_root.handlers[0].formatter, JsonFormatter)
    logging.getLogger("keyturn.test").info("now json")
    assert json.loads(out.getvalue())["message"] == "now json"


def test_a_foreign_root_handler_gets_the_filter_once(clean_root: logging.Logger) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter())
    clean_root.handlers[:] = [handler]
    for _ in range(2):
        configure_logging(Settings(environment="development", log_level="INFO"))
    assert clean_root.handlers == [handler]
    assert sum(isinstance(f, KeyturnFilter) for f in handler.filters) == 1
    logging.getLogger("keyturn.test").info("secret %s", SECRET)
    assert SECRET not in out.getvalue() and "ktcs_…#" in out.getvalue()


def test_the_filter_masks_once_and_keeps_a_given_request_id() -> None:
    record = logging.LogRecord("keyturn.x", logging.INFO, __file__, 1, "token %s", (JWT,), None)
    record.request_id = "given"
    f = KeyturnFilter()
    assert f.filter(record) and f.filter(record)
    assert getattr(record, "request_id", None) == "given" and record.args is None and JWT not in record.msg


def _write_end_of_closed_pipe() -> IO[str]:
    read, write = os.pipe()
    os.close(read)
    return os.fdopen(write, "w", buffering=1)


def test_lines_a_closed_pipe_or_full_disk_refuses_are_counted() -> None:
    for stream in (_write_end_of_closed_pipe(), open("/dev/full", "w", buffering=1)):  # noqa: SIM115
        handler = KeyturnHandler(stream)
        handler.setFormatter(TextFormatter())
        before = dropped("stderr")
        for i in range(3):
            handler.handle(logging.LogRecord("keyturn.x", logging.ERROR, __file__, 1, "line %d", (i,), None))
        assert dropped("stderr") == before + 3
        try:
            stream.close()
        except OSError:
            pass


def test_access_lines_a_full_disk_refuses_are_counted() -> None:
    with open("/dev/full", "wb", buffering=0) as full:
        buffer = LineBuffer(full)
        before = dropped("access")
        for i in range(5):
            buffer.write(f"line {i}\n")
        buffer.flush()
        assert dropped("access") == before + 5


def test_a_json_formatter_without_the_filter_still_formats_a_traceback() -> None:
    try:
        raise RuntimeError(f"with {REFRESH}")
    except RuntimeError:
        import sys
        record = logging.LogRecord("keyturn.x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    data = json.loads(JsonFormatter().format(record))
    assert data["request_id"] is None and "RuntimeError" in data["exc_info"] and REFRESH not in data["exc_info"]


def test_sigterm_after_the_graceful_shutdown_exits_0() -> None:
    from keyturn.cli.main import _stopped
    with pytest.raises(SystemExit) as stopped:
        _stopped(15, None)
    assert stopped.value.code == 0


def test_the_development_warning_can_wait_for_logging(caplog: pytest.LogCaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from keyturn.settings import load_settings, warn_development
    monkeypatch.delenv("KEYTURN_SETTINGS_FILE", raising=False)
    settings = load_settings(warn=False, environment="development", issuer="http://127.0.0.1:9")
    assert "never use this in production" not in caplog.text
    warn_development(settings)
    assert "never use this in production" in caplog.text
