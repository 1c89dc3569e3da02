"""Every process switches: a real server (`mandate serve`, 2 uvicorn workers) decides under a
newly activated policy version in every worker within seconds, and under the old one again
after a rollback. On PostgreSQL the switch comes through LISTEN/NOTIFY; on SQLite by polling.

The measured times go to test-output/policy-reload.txt (the target is 5 s; the test allows
15 s, so that a loaded machine does not make it flaky)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.clock import SystemClock
from core.db import Database
from core.iam.credentials import Passwords, TokenService
from core.policy.engine import PolicyEngine
from core.settings import REPO_ROOT, Settings
from tests.conftest import free_port
from tests.factories import World, build_world
from tests.policy_versions_world import second_officer, tighter_bookkeeper

WORKERS = 2
BOUND_SECONDS = 15.0
TARGET_SECONDS = 5.0
REPORT = REPO_ROOT / "test-output" / "policy-reload.txt"
BUNDLED = PolicyEngine.version_of(REPO_ROOT / "policies")


class Server:
    """`mandate serve --workers 2` on a free loopback port, in a process group of its own."""

    def __init__(self, settings: Settings, extra_env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "MANDATE_DATABASE_URL": settings.database_url,
            "MANDATE_TOKEN_KEY_PATH": str(settings.token_key_path),
            "MANDATE_ENVIRONMENT": "test",
            **extra_env,
        }
        mandate = Path(sys.executable).with_name("mandate")
        self.process = subprocess.Popen(
            [str(mandate), "serve", "--port", str(self.port), "--workers", str(WORKERS)],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def workers(self) -> dict[int, str]:
        """Which worker answered with which policy version, over fresh connections, until
        every worker has answered (bounded)."""
        seen: dict[int, str] = {}
        for _ in range(200):
            health = httpx.get(f"{self.url}/healthz", timeout=5).json()
            seen[health["worker"]] = health["policy_version"]
            if len(seen) == WORKERS:
                break
        return seen

    def wait_started(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server ended: {self.process.stderr.read()!r}")  # type: ignore[union-attr]
            try:
                if len(self.workers()) == WORKERS:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the server's workers did not all answer")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


# How the workers learn of an activation: the defaults (PostgreSQL: LISTEN/NOTIFY and polling
# every 2 s; SQLite: polling), and polling alone on PostgreSQL, as behind a PgBouncer in
# transaction pooling (MANDATE_POLICY_LISTEN=false).
MODES = {"default": {}, "polling": {"MANDATE_POLICY_LISTEN": "false"}}


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest, backend: str) -> str:
    if request.param == "polling" and backend == "sqlite":
        pytest.skip("SQLite polls in the default mode already")
    return str(request.param)


@pytest.fixture
def server(settings: Settings, mode: str) -> Iterator[Server]:
    running = Server(settings, MODES[mode])
    try:
        running.wait_started()
        yield running
    finally:
        running.stop()


def _switch_time(
    server: Server, version: str, bookkeeper: dict[str, str], entries: str, expect_status: int
) -> float:
    """Seconds until every worker names `version` and the bookkeeper's statement is answered
    as that version says, each asked over a fresh connection."""
    started = time.monotonic()
    while time.monotonic() - started < BOUND_SECONDS:
        versions = server.workers()
        if set(versions.values()) == {version} and len(versions) == WORKERS:
            answers = {
                httpx.get(entries, headers=bookkeeper, timeout=5).status_code for _ in range(6)
            }
            assert answers == {expect_status}, answers
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"not every worker switched to {version} within {BOUND_SECONDS} s: {versions}")


def test_every_worker_switches_to_the_activated_version_and_back(settings, server, backend, mode):
    db = Database(settings.database_url)
    clock = SystemClock()
    try:
        world: World = build_world(db, Passwords(settings), clock)
        second_officer(world, db, Passwords(settings), clock)
    finally:
        db.dispose()
    tokens = TokenService(settings)

    def who(name: str) -> dict[str, str]:
        token, _ = tokens.issue(world.user_id(name), clock.now())
        return {"Authorization": f"Bearer {token}"}

    compliance, second, bookkeeper = who("compliance"), who("compliance-b"), who("acme-bookkeeper")
    entries = f"{server.url}/v1/accounts/{world.account_id('acme-operating')}/entries"
    assert set(server.workers().values()) == {BUNDLED}
    assert httpx.get(entries, headers=bookkeeper).status_code == 200

    api = httpx.Client(base_url=server.url, timeout=30)
    proposed = api.post("/v1/policy/versions", json=tighter_bookkeeper(), headers=compliance)
    assert proposed.status_code == 201, proposed.text
    version = proposed.json()
    assert api.post(f"/v1/policy/versions/{version['id']}/approve", headers=second).is_success
    activated = api.post(f"/v1/policy/versions/{version['id']}/activate", headers=second)
    assert activated.status_code == 200, activated.text
    forward = _switch_time(server, version["hash"], bookkeeper, entries, 404)

    # The rollback: the deploy's version (the bundled files, recorded by `mandate serve`),
    # approved afresh by one officer and activated by the other.
    deployed = next(
        v for v in api.get("/v1/policy/versions", headers=compliance).json() if v["hash"] == BUNDLED
    )
    assert deployed["status"] == "retired" and deployed["origin"] == "deploy"
    assert api.post(f"/v1/policy/versions/{deployed['id']}/approve", headers=compliance).is_success
    back = api.post(f"/v1/policy/versions/{deployed['id']}/activate", headers=second)
    assert back.status_code == 200, back.text
    rollback = _switch_time(server, BUNDLED, bookkeeper, entries, 200)
    api.close()

    REPORT.parent.mkdir(exist_ok=True)
    with REPORT.open("a", encoding="utf-8") as out:
        out.write(
            f"{backend} ({mode}): {WORKERS} workers on the activated version after {forward:.2f} s, "
            f"back after the rollback in {rollback:.2f} s (target {TARGET_SECONDS} s)\n"
        )
    assert forward < BOUND_SECONDS and rollback < BOUND_SECONDS
