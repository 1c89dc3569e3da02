"""Fault tests: the real server as a process, a database of each test's own, a TCP proxy that
can cut the database off. PostgreSQL only (skipped on SQLite)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, make_url, pool, text

from core import migrate
from core.clock import SystemClock
from core.db import Database
from core.iam.credentials import Passwords, TokenService
from core.settings import REPO_ROOT, Settings
from tests.conftest import free_port
from tests.factories import World, build_world

PG_URL = os.environ.get("MANDATE_TEST_DATABASE_URL")


@dataclass
class FaultDatabase:
    """A migrated PostgreSQL database with the test world in it, dropped afterwards."""

    url: str
    settings: Settings
    world: World

    def token(self, username: str) -> str:
        user = self.world.users[username]
        return TokenService(self.settings).issue(user.id, SystemClock().now())[0]  # type: ignore[arg-type]


@pytest.fixture
def fault_database(request: pytest.FixtureRequest, key_path: Path) -> Iterator[FaultDatabase]:
    if not PG_URL:
        pytest.skip("fault tests need PostgreSQL (MANDATE_TEST_DATABASE_URL)")
    # The session's PostgreSQL fixture owns the test database; a server process needs one of
    # its own, made and dropped over an AUTOCOMMIT connection to the test database.
    base = make_url(Settings(database_url=PG_URL).database_url)
    name = f"mandate_faults_{os.getpid()}_{re.sub(r'[^a-z0-9]+', '_', request.node.name.lower())}"
    name = name[:63]
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        settings = Settings(
            environment="test",
            database_url=url,
            token_key_path=key_path,
            password_time_cost=1,
            password_memory_kib=64,
        )
        db = Database(url, pool_size=2)
        try:
            world = build_world(db, Passwords(settings), SystemClock())
        finally:
            db.dispose()
        yield FaultDatabase(url=url, settings=settings, world=world)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class ServerProcess:
    """`uvicorn api.main:app` as its own process group, so that SIGKILL takes the whole server
    (supervisor and workers) down at once, as a crash of its machine would."""

    def __init__(
        self,
        database: FaultDatabase,
        log_path: Path,
        *,
        database_url: str | None = None,
        workers: int = 2,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {
            **os.environ,
            "MANDATE_ENVIRONMENT": "test",
            "MANDATE_DATABASE_URL": database_url or database.url,
            "MANDATE_TOKEN_KEY_PATH": str(database.settings.token_key_path),
        }
        command = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", str(workers), "--log-level", "warning"]
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, attempts: int = 300) -> None:
        for _ in range(attempts):
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server never became ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL to the server's process group: nothing gets to clean up."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[object]:
    started: list[ServerProcess] = []

    def start(database: FaultDatabase, database_url: str | None = None) -> ServerProcess:
        server = ServerProcess(database, tmp_path / "server.log", database_url=database_url)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


class TcpProxy:
    """Forwards a local port to the database server. cut() drops every connection and
    refuses new ones, as a database that went away does; restore() accepts again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> TcpProxy:
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        for thread in self._threads:
            thread.join(timeout=5)

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        self._accepting.set()
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def cut(self) -> None:
        self._accepting.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        for sock in sockets:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while self._accepting.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if not self._accepting.is_set():
                    _close(client)
                    _close(upstream)
                    return
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
