"""The `mandate` command, run against the test's database and keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from core.cli import app as cli
from core.settings import get_settings


@pytest.fixture
def mandate(db, settings, monkeypatch) -> Iterator:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MANDATE_DATABASE_URL", db.url)
    monkeypatch.setenv("MANDATE_TOKEN_KEY_PATH", str(settings.token_key_path))
    monkeypatch.setenv("MANDATE_AUDIT_KEY_PATH", str(settings.audit_key_path))
    get_settings.cache_clear()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, list(args))

    yield run
    get_settings.cache_clear()
