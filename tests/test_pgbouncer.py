"""Mandate through PgBouncer in transaction pooling mode (MANDATE_DATABASE_TRANSACTION_POOLING):
consecutive transactions of one client connection reach different server connections, so
nothing may rely on a session (no prepared statements: psycopg's prepare_threshold=None; only
transaction-scoped advisory locks; the policy watcher polls). A PgBouncer started on a
loopback port carries concurrent transfers and an idempotent replay to the test database.
Skipped where pgbouncer is not installed (.ci/run installs Debian's) or without PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from api.app import create_app
from core.clock import FixedClock
from core.db import Database
from tests.conftest import (
    DEFAULT_NOW,
    PG_URL,
    LiveServer,
    _truncate_postgres,
    free_port,
    settings_for_tests,
)
from tests.factories import bearer, build_world
from tests.ledger_checks import assert_ledger_consistent

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)
pytestmark = pytest.mark.skipif(
    PGBOUNCER is None or PG_URL is None, reason="needs pgbouncer and PostgreSQL"
)


@pytest.fixture
def bouncer(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """A PgBouncer in transaction pooling mode before the test database; its URL."""
    _truncate_postgres(postgres_url)
    target = make_url(postgres_url)
    port = free_port()
    folder = tmp_path / "pgbouncer"
    folder.mkdir()
    config = folder / "pgbouncer.ini"
    config.write_text(
        f"""[databases]
{target.database} = host={target.host or "127.0.0.1"} port={target.port or 5432} user={target.username or "postgres"}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
ignore_startup_parameters = extra_float_digits,options
"""
    )
    # PgBouncer will not run as root: it drops to nobody, who must read its folder.
    as_root = os.geteuid() == 0
    if as_root:
        for path in (tmp_path, folder):
            path.chmod(0o755)
        config.chmod(0o644)
    command = [str(PGBOUNCER), *(["-u", "nobody"] if as_root else []), str(config)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = target.set(port=port, host="127.0.0.1").render_as_string(hide_password=False)
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"pgbouncer exited: {output}")
        try:
            with psycopg.connect(libpq, connect_timeout=2, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_transfers_through_pgbouncer_in_transaction_pooling(bouncer, key_path):  # type: ignore[no-untyped-def]
    settings = settings_for_tests(
        bouncer, key_path, database_transaction_pooling=True, database_pool_size=8
    )
    db = Database(settings.database_url, pool_size=8, transaction_pooling=True)
    clock = FixedClock(DEFAULT_NOW)
    app = create_app(settings, database=db, clock=clock)
    world = build_world(db, app.state.services.passwords, clock)
    headers = bearer(app, world.users["acme-payer"], clock)
    body = {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "amount": 100,
        "currency": "EUR",
    }
    statuses: list[int] = []
    with LiveServer(app) as server:

        def send(worker: int) -> None:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                for n in range(8):  # more than psycopg's default prepare threshold (5)
                    key = f"bouncer-{worker}-{n}"
                    answer = client.post(
                        "/v1/transfers", json=body, headers={**headers, "Idempotency-Key": key}
                    )
                    statuses.append(answer.status_code)

        threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            again = client.post(
                "/v1/transfers", json=body, headers={**headers, "Idempotency-Key": "bouncer-0-0"}
            )
            account = client.get(f"/v1/accounts/{body['from_account_id']}", headers=headers)
    assert statuses == [201] * 32, statuses
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    opening = account.json()["balance"] + 32 * 100
    assert account.status_code == 200 and opening > 32 * 100
    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)
    db.dispose()
