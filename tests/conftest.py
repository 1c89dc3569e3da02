"""Shared fixtures. Every database test runs on SQLite, and on PostgreSQL too when
MANDATE_TEST_DATABASE_URL is set. The schema is built by running the migrations."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from api.app import create_app
from core import migrate
from core.cli import UVICORN_OPTIONS
from core.clock import FixedClock
from core.db import Database
from core.policy import engine as policy_engine
from core.settings import REPO_ROOT, Settings
from tests.answers import install_recorder
from tests.factories import World, build_world

PG_URL = os.environ.get("MANDATE_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
# A Wednesday, 10:00 in Berlin: inside ordinary business hours.
DEFAULT_NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked after_all_requests judge what the whole run answered: they go last."""
    items.sort(key=lambda item: item.get_closest_marker("after_all_requests") is not None)


@pytest.fixture(scope="session", autouse=True)
def _record_answers() -> Iterator[None]:
    undo = install_recorder()
    yield
    undo()


@pytest.fixture(scope="session")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys") / "token-signing-key.pem"


@pytest.fixture(scope="session", autouse=True)
def _policy() -> None:
    policy_engine.ensure_loaded(REPO_ROOT / "policies")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> str:
    assert PG_URL is not None
    url = Settings(database_url=PG_URL).database_url
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    migrate.upgrade(url)
    return url


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
        _truncate_postgres(url)
        return str(url)
    template = request.getfixturevalue("sqlite_template")
    path = tmp_path / "mandate.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def settings_for_tests(database_url: str, key_path: Path, **changes: Any) -> Settings:
    """A test app's settings: cheap password hashing, and no background threads."""
    return Settings(
        **{
            "environment": "test",
            "database_url": database_url,
            "token_key_path": key_path,
            "password_time_cost": 1,
            "password_memory_kib": 64,
            "database_pool_size": 20,
            # No policy watcher thread per test app; the tests of reloading start their own.
            "policy_watch": False,
            # Nor a checkpoint thread: tests/core/audit/test_periodic_checkpoints.py runs its own.
            "audit_checkpoint_seconds": 0,
            **changes,
        }
    )


@pytest.fixture
def settings(database_url: str, key_path: Path) -> Settings:
    return settings_for_tests(database_url, key_path)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(DEFAULT_NOW)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url, pool_size=settings.database_pool_size)
    yield database
    database.dispose()


@pytest.fixture
def app(settings: Settings, db: Database, clock: FixedClock):  # type: ignore[no-untyped-def]
    return create_app(settings, database=db, clock=clock)


@pytest.fixture
def world(app, db: Database, clock: FixedClock) -> World:  # type: ignore[no-untyped-def]
    return build_world(db, app.state.services.passwords, clock)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The app served by uvicorn in a thread, for tests that need real concurrency."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", **UVICORN_OPTIONS
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    with LiveServer(app) as server:
        yield server
