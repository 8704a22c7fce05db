"""logconfig.py: KEYTURN_LOG_LEVEL decides what Keyturn logs; a root logger configured elsewhere is left alone."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from keyturn.logconfig import configure_logging
from keyturn.settings import Settings


@pytest.fixture
def keyturn_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("keyturn")
    root = logging.getLogger()
    saved = (logger.level, root.level, list(root.handlers))
    yield logger
    logger.setLevel(saved[0])
    root.setLevel(saved[1])
    root.handlers[:] = saved[2]


@pytest.mark.parametrize(("level", "expected"), [("debug", logging.DEBUG), ("WARNING", logging.WARNING)])
def test_the_setting_is_keyturns_level(keyturn_logger: logging.Logger, level: str, expected: int):
    configure_logging(Settings(environment="development", log_level=level))
    assert keyturn_logger.level == expected
    assert logging.getLogger("keyturn.errors").getEffectiveLevel() == expected


def test_a_root_logger_with_handlers_keeps_them(keyturn_logger: logging.Logger):
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    before = list(root.handlers)
    configure_logging(Settings(environment="development", log_level="ERROR"))
    assert root.handlers == before
    assert keyturn_logger.level == logging.ERROR
