"""keyturn.metrics' exposition and the CLI's multiprocess directory, in-process (the live side:
tests/interop/test_metrics_live.py)."""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path

import pytest

from keyturn import metrics


def test_exposition_reads_the_multiprocess_directory_when_one_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    assert b"keyturn_http_requests_total" in metrics.exposition()  # this process's registry
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    assert metrics.exposition() == b""  # no worker has written a file there yet


cli_main = importlib.import_module("keyturn.cli.main")  # the module (keyturn.cli re-exports a function `main`)


def test_serve_names_a_fresh_directory_only_for_several_workers(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(metrics.MULTIPROC_ENV, "/left/over/from/a/shell")
    assert cli_main._metrics_dir(False) is None
    assert metrics.MULTIPROC_ENV not in os.environ
    directory = cli_main._metrics_dir(True)
    try:
        assert directory is not None and Path(directory).is_dir() and not any(Path(directory).iterdir())
        assert os.environ[metrics.MULTIPROC_ENV] == directory
    finally:
        if directory:
            Path(directory).rmdir()
    monkeypatch.setattr(metrics, "IGNORED_MULTIPROC_DIR", "/gone")
    with caplog.at_level(logging.WARNING, logger="keyturn.cli"):
        assert cli_main._metrics_dir(False) is None
    assert "PROMETHEUS_MULTIPROC_DIR=/gone is not a directory; ignored" in caplog.text


def test_a_bad_metrics_token_is_named_but_never_echoed(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from keyturn.cli import app
    env = {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_SETTINGS_FILE": "", "KEYTURN_METRICS_TOKEN": "sh0rt",
           "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/k.db"}
    result = CliRunner().invoke(app, ["migrate"], env=env)
    assert result.exit_code == 2
    assert "KEYTURN_METRICS_TOKEN: must be at least 16 printable ASCII characters" in result.stderr
    assert "sh0rt" not in result.stderr + result.stdout
